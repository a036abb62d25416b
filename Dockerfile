# pidone as an image holding only /init, built from this repository with Debian's Rust: no
# rustup, and no registry but Debian's and crates.io. Build it once, then copy it into yours:
#
#   docker build -t pidone .                        (this architecture)
#   docker build --platform linux/arm64 -t pidone .  (another one: the build runs on that
#                                                     platform, emulated by binfmt/qemu on an
#                                                     x86_64 host, many times slower)
#
#   FROM debian:bookworm-slim
#   COPY --from=pidone /init /init
#
# The binary is the musl release (static; static-pie on x86_64), as `cargo build --release
# --target $(uname -m)-unknown-linux-musl` gives with rustup. Debian packages no musl build of
# Rust's standard library, so images/build-init compiles it from Debian's Rust sources
# (rust-web-src) together with pidone; see its header for each step and why.
FROM debian:trixie-slim AS build
# rustc-web: Debian 13's newer Rust (1.96) for programs that need more than its rustc 1.85;
# pidone's edition 2024 code uses let chains (1.88).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        rustc-web cargo-web rust-web-src musl-tools libunwind-19-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore lets in only the sources, and vendor/ when images/build prepared one.
COPY . .
# The commit `pidone version` names (there is no .git in the build context).
ARG PIDONE_COMMIT=unknown
RUN PIDONE_COMMIT="$PIDONE_COMMIT" images/build-init /init

FROM scratch
COPY --from=build /init /init
ENTRYPOINT ["/init"]
