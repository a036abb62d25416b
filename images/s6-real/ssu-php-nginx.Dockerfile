# serversideup/php's fpm-nginx variation (non-root www-data by default), rebuilt FROM Debian
# bookworm with Debian's php8.2-fpm and nginx instead of the official php image and nginx.org's
# package; its src/{common,s6,utilities-webservers,variations/fpm-nginx/etc,php-fpm.d} trees are
# copied unchanged (with the 0755 modes their COPY --chmod=755 gives); pidone replaces s6-overlay at
# /init. Build context (made by images/s6-real/run): docker-php/, php-fpm-healthcheck/, pidone, files/.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      php8.2-fpm php8.2-cli nginx libfcgi-bin gettext-base procps zip curl ca-certificates execline bash \
 && rm -rf /var/lib/apt/lists/* \
 # the official php image's layout the trees expect, on Debian's php8.2-fpm (our glue): the
 # php-fpm binary, its config including /usr/local/etc/php-fpm.d, and its ini scan directory
 && ln -s /usr/sbin/php-fpm8.2 /usr/local/sbin/php-fpm \
 && mkdir -p /usr/local/etc/php-fpm.d /usr/local/etc/php/conf.d \
 && printf '[global]\ninclude=/usr/local/etc/php-fpm.d/*.conf\n' >/usr/local/etc/php-fpm.conf \
 && ln -sf /usr/local/etc/php-fpm.conf /etc/php/8.2/fpm/php-fpm.conf \
 && rm -f /etc/php/8.2/fpm/pool.d/*.conf /etc/nginx/sites-enabled/default
# their Dockerfile's ENV, unchanged; then the official php image's PHP_INI_DIR and the ini scan dir it compiles in
ENV APP_BASE_DIR=/var/www/html \
    COMPOSER_ALLOW_SUPERUSER=1 \
    COMPOSER_HOME=/composer \
    COMPOSER_MAX_PARALLEL_HTTP=24 \
    DISABLE_DEFAULT_CONFIG=false \
    LOG_OUTPUT_LEVEL=warn \
    HEALTHCHECK_PATH="/healthcheck" \
    NGINX_ACCESS_LOG="/dev/stdout" \
    NGINX_ERROR_LOG="/dev/stderr" \
    NGINX_FASTCGI_BUFFERS="8 8k" \
    NGINX_FASTCGI_BUFFER_SIZE="8k" \
    NGINX_HTTP_PORT="8080" \
    NGINX_HTTPS_PORT="8443" \
    NGINX_LISTEN_IP_PROTOCOL="all" \
    NGINX_SERVER_TOKENS=off \
    NGINX_WEBROOT=/var/www/html/public \
    NGINX_CLIENT_MAX_BODY_SIZE="100M" \
    PHP_DATE_TIMEZONE="UTC" \
    PHP_DISPLAY_ERRORS=Off \
    PHP_DISPLAY_STARTUP_ERRORS=Off \
    PHP_ERROR_LOG="/dev/stderr" \
    PHP_ERROR_REPORTING="22527" \
    PHP_FPM_PM_CONTROL=ondemand \
    PHP_FPM_PM_MAX_CHILDREN="20" \
    PHP_FPM_PM_MAX_REQUESTS="0" \
    PHP_FPM_PM_MAX_SPARE_SERVERS="3" \
    PHP_FPM_PM_MIN_SPARE_SERVERS="1" \
    PHP_FPM_PM_START_SERVERS="2" \
    PHP_FPM_PM_STATUS_PATH="/status" \
    PHP_FPM_POOL_NAME="www" \
    PHP_FPM_PROCESS_CONTROL_TIMEOUT="10s" \
    PHP_MAX_EXECUTION_TIME="99" \
    PHP_MAX_INPUT_TIME="-1" \
    PHP_MAX_INPUT_VARS="1000" \
    PHP_MEMORY_LIMIT="256M" \
    PHP_OPCACHE_ENABLE="0" \
    PHP_OPCACHE_ENABLE_FILE_OVERRIDE="0" \
    PHP_OPCACHE_FORCE_RESTART_TIMEOUT="180" \
    PHP_OPCACHE_INTERNED_STRINGS_BUFFER="8" \
    PHP_OPCACHE_JIT="off" \
    PHP_OPCACHE_JIT_BUFFER_SIZE="0" \
    PHP_OPCACHE_MAX_ACCELERATED_FILES="10000" \
    PHP_OPCACHE_MEMORY_CONSUMPTION="128" \
    PHP_OPCACHE_REVALIDATE_FREQ="2" \
    PHP_OPCACHE_SAVE_COMMENTS="1" \
    PHP_OPCACHE_VALIDATE_TIMESTAMPS="1" \
    PHP_OPEN_BASEDIR="" \
    PHP_POST_MAX_SIZE="100M" \
    PHP_REALPATH_CACHE_TTL="120" \
    PHP_SESSION_COOKIE_SECURE=false \
    PHP_UPLOAD_MAX_FILE_SIZE="100M" \
    PHP_ZEND_DETECT_UNICODE="" \
    PHP_ZEND_MULTIBYTE="Off" \
    S6_BEHAVIOUR_IF_STAGE2_FAILS=2 \
    S6_CMD_WAIT_FOR_SERVICES_MAXTIME=0 \
    S6_KEEP_ENV=1 \
    S6_VERBOSITY=1 \
    SHOW_WELCOME_MESSAGE=true \
    SSL_MODE=off \
    SSL_CERTIFICATE_FILE=/etc/ssl/private/self-signed-web.crt \
    SSL_PRIVATE_KEY_FILE=/etc/ssl/private/self-signed-web.key
ENV PHP_INI_DIR=/usr/local/etc/php PHP_INI_SCAN_DIR=:/usr/local/etc/php/conf.d
COPY docker-php/src/ /tmp/ssu-src/
COPY php-fpm-healthcheck/php-fpm-healthcheck /usr/local/bin/php-fpm-healthcheck
# COPY --chmod=755 src/common/ src/s6/ src/utilities-webservers/ / (Docker 20.10's builder has no --chmod)
RUN set -e; for d in common s6 utilities-webservers; do \
        (cd /tmp/ssu-src/$d && find . -exec chmod 755 {} + && cp -a . /); done \
 && chmod 755 /usr/local/bin/php-fpm-healthcheck \
 # the steps of their Dockerfile after the package install
 && chown -R www-data:www-data /var/www && chmod -R 755 /var/www \
 && mkdir -p "${COMPOSER_HOME}" && chown -R www-data:www-data "${COMPOSER_HOME}" \
 && mkdir -p /var/cache/nginx/ && chown -R www-data:www-data /var/cache/nginx/ \
 # Debian's nginx keeps its temp dirs in /var/lib/nginx where nginx.org's uses /var/cache/nginx (our glue)
 && chown -R www-data:www-data /var/lib/nginx \
 && rm -rf /usr/local/etc/php-fpm.d/*.conf /etc/nginx/conf.d/*.conf /etc/nginx/http.d/ /etc/nginx/nginx.conf \
 && (cd /tmp/ssu-src/variations/fpm-nginx/etc && find . -exec chmod 755 {} + && cp -a . /etc/) \
 && (cd /tmp/ssu-src/php-fpm.d && find . -exec chmod 755 {} + && cp -a . /) \
 && rm -rf /tmp/ssu-src \
 && docker-php-serversideup-set-file-permissions --owner www-data:www-data --service nginx \
 && chown -R www-data:www-data /run
# a page for the client check: PHP through php-fpm (our file)
COPY files/info.php /var/www/html/public/info.php
COPY pidone /init
RUN ["/init", "s6-shims", "/command"]
USER www-data
EXPOSE 8080 8443
ENTRYPOINT ["docker-php-serversideup-entrypoint"]
STOPSIGNAL SIGQUIT
WORKDIR /var/www/html
CMD ["/init"]
