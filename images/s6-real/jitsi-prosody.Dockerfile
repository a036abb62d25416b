# docker-jitsi-meet's prosody image, rebuilt FROM Debian bookworm with Debian's packages; its
# base/rootfs/usr and prosody/rootfs trees are copied unchanged; pidone replaces s6-overlay at /init.
# Build context (made by images/s6-real/run): docker-jitsi-meet/, jitsi-tpl/, pidone, files/.

# jitsi/tpl from source (its last sprig version), Debian's Go in GOPATH mode: no module proxy here
FROM debian:bookworm-slim AS tpl
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go golang-github-masterminds-sprig-dev
COPY jitsi-tpl/ /go/src/github.com/jitsi/tpl/
RUN cd /go/src/github.com/jitsi/tpl \
 && GO111MODULE=off GOPATH=/go:/usr/share/gocode CGO_ENABLED=0 go build -o /tpl .

FROM debian:bookworm-slim
# What jitsi's Dockerfiles install, from Debian (prosody 0.12 instead of prosody.im's 13; the
# jitsi-meet-prosody plugins are not in Debian: files/mod_http_health.lua stands in for the one
# module the image's register-setup needs). openssl: prosodyctl cert generate.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      prosody lua5.4 lua-sec lua-luaossl lua-unbound lua-inspect lua-cjson sasl2-bin \
      curl ca-certificates openssl procps execline bash \
 && rm -rf /var/lib/apt/lists/* /etc/prosody \
 && useradd --create-home --uid 1000 --user-group s6 \
 && usermod -a -G prosody,sasl s6 \
 && chown s6:s6 /var/lib/prosody \
 && mkdir -p /prosody-plugins /prosody-plugins-contrib /prosody-plugins-custom /config \
 && chmod 1777 /run
COPY files/mod_http_health.lua /prosody-plugins/
COPY docker-jitsi-meet/base/rootfs/usr/ /usr/
COPY docker-jitsi-meet/prosody/rootfs/ /
COPY --from=tpl /tpl /usr/bin/tpl
COPY pidone /init
RUN ["/init", "s6-shims", "/command"]
ENV S6_BEHAVIOUR_IF_STAGE2_FAILS=2 S6_READ_ONLY_ROOT=1
EXPOSE 5222 5280
VOLUME ["/config", "/prosody-plugins-custom"]
USER s6
ENTRYPOINT ["/init"]
