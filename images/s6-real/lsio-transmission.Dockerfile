# linuxserver.io's transmission on their Debian base, rebuilt FROM Debian bookworm: the
# baseimage-debian (bookworm branch) root/, docker-mods' mod-scripts (docker-mods, package-install,
# lsiown, with-contenv, at the paths their Dockerfile ADDs them) and docker-transmission's root/,
# all unchanged; Debian's transmission instead of Alpine's; pidone replaces s6-overlay at /init.
# Build context (made by images/s6-real/run): docker-baseimage-debian/, docker-mods/,
# docker-transmission/, pidone.
FROM debian:bookworm-slim
# the baseimage's ENV (minus VIRTUAL_ENV/PATH of its python venv, which this image has no use for)
ENV HOME="/root" LANGUAGE="en_US.UTF-8" LANG="en_US.UTF-8" TERM="xterm" \
    S6_CMD_WAIT_FOR_SERVICES_MAXTIME="0" S6_VERBOSITY=1 S6_STAGE2_HOOK=/docker-mods
# the baseimage's packages (catatonit, gnupg and apt-utils left out: nothing in the trees uses
# them), procps for pidof/pwdx, and the app's (transmission-cli has transmission-remote)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      locales cron curl jq netcat-traditional tzdata procps bash execline \
      transmission-daemon transmission-cli findutils \
 && rm -rf /var/lib/apt/lists/* \
 && sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' /etc/locale.gen && locale-gen \
 && useradd -u 911 -U -d /config -s /bin/false abc \
 && usermod -G users abc \
 && mkdir -p /app /config /defaults /lsiopy
COPY docker-mods/docker-mods.v3 /docker-mods
COPY docker-mods/package-install.v1 /etc/s6-overlay/s6-rc.d/init-mods-package-install/run
COPY docker-mods/lsiown.v1 /usr/bin/lsiown
COPY docker-mods/with-contenv.v1 /usr/bin/with-contenv
# the modes their ADD --chmod gives (Docker 20.10's builder has no COPY --chmod)
RUN chmod 744 /docker-mods /etc/s6-overlay/s6-rc.d/init-mods-package-install/run /usr/bin/lsiown \
 && chmod 755 /usr/bin/with-contenv
COPY docker-baseimage-debian/root/ /
COPY docker-transmission/root/ /
COPY pidone /init
RUN ["/init", "s6-shims", "/command"]
EXPOSE 9091 51413/tcp 51413/udp
VOLUME /config
ENTRYPOINT ["/init"]
