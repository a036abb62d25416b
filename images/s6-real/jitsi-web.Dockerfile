# docker-jitsi-meet's web image, rebuilt FROM Debian bookworm with Debian's packages; its
# base/rootfs/usr and web/rootfs trees are copied unchanged; pidone replaces s6-overlay at /init.
# Build context (made by images/s6-real/run): docker-jitsi-meet/, jitsi-tpl/, pidone, files/.
FROM debian:bookworm-slim AS tpl
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go golang-github-masterminds-sprig-dev
COPY jitsi-tpl/ /go/src/github.com/jitsi/tpl/
RUN cd /go/src/github.com/jitsi/tpl \
 && GO111MODULE=off GOPATH=/go:/usr/share/gocode CGO_ENABLED=0 go build -o /tpl .

FROM debian:bookworm-slim
# jitsi-meet-web is not in Debian: files/jitsi-meet stands in for its /usr/share/jitsi-meet
# (an index page and the interface_config.js the image moves to /defaults).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nginx jq socat openssl curl ca-certificates procps execline bash \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 --user-group s6 \
 && chmod 1777 /run
COPY files/jitsi-meet/ /usr/share/jitsi-meet/
COPY docker-jitsi-meet/base/rootfs/usr/ /usr/
COPY docker-jitsi-meet/web/rootfs/ /
COPY --from=tpl /tpl /usr/bin/tpl
# the steps of jitsi's web Dockerfile after its package install
RUN mv /usr/share/jitsi-meet/interface_config.js /defaults \
 && ln -s /run/web/.well-known /usr/share/jitsi-meet/.well-known \
 && rm -f /etc/nginx/conf.d/default.conf \
 && rm -rf /var/lib/nginx \
 && ln -s /run/web/tmp /var/lib/nginx \
 && mkdir -p /storage /config \
 && chown s6:s6 /storage
COPY pidone /init
RUN ["/init", "s6-shims", "/command"]
ENV S6_BEHAVIOUR_IF_STAGE2_FAILS=2 S6_READ_ONLY_ROOT=1
EXPOSE 8000 8443
VOLUME ["/config"]
USER s6
ENTRYPOINT ["/init"]
