#!/usr/bin/env bash
# Prepare this machine for the server, idempotently: system packages (PostGIS for the installed
# PostgreSQL, GDAL, Redis, gettext, Node.js), a local PostgreSQL and Redis unless DATABASE_URL /
# REDIS_URL point elsewhere, the Python venv, the npm packages, the database schema and static files.
# `--production` builds a server's copy instead (docs/operations.md, "Installing on a Debian
# server"): no test tools, and neither a .env, a local database nor the schema and static files
# (the settings file is linked as .env first; mapserver-manage runs migrate and collectstatic).
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTION=""
if [ "${1:-}" = "--production" ]; then PRODUCTION=1; fi
trap 'printf "\033[1;31mSet-up failed\033[0m at scripts/setup.sh line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mError:\033[0m %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

# A value from the environment, else from .env, else empty.
setting() {
    local name=$1
    if [ -n "${!name:-}" ]; then printf '%s' "${!name}"; return; fi
    if [ -f .env ]; then sed -n "s/^${name}=//p" .env | tail -n 1; fi
}

APT_UPDATED=""
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them by hand."
    say "Installing ${missing[*]}"
    if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
    # Packages such as nginx start a system service on install (nginx on port 80, which fails the
    # install if that port is taken). The project starts what it needs itself, so deny those starts.
    local deny_starts=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
        deny_starts=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || { [ -n "$deny_starts" ] && as_root rm -f /usr/sbin/policy-rc.d; die "could not install ${missing[*]}."; }
    if [ -n "$deny_starts" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
}

DATABASE_URL_GIVEN=$(setting DATABASE_URL)
REDIS_URL_GIVEN=$(setting REDIS_URL)

# --- System packages ------------------------------------------------------------------------
apt_install gdal-bin
apt_install libgeos-c1v5 libproj25 gettext ca-certificates
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
# The web map's label font (its glyphs are built below) and the browser of the browser tests.
apt_install fonts-noto-core
[ -n "$PRODUCTION" ] || apt_install chromium
# tests/maps read the QR codes of saved maps back with zbarimg (an independent decoder).
[ -n "$PRODUCTION" ] || apt_install zbar-tools
# tests/web read the printed PDFs back with poppler (pdfinfo, pdftotext, pdfimages, pdftoppm).
[ -n "$PRODUCTION" ] || apt_install poppler-utils
# tests/sources read a department's WFS 2.0 from MapServer's mapserv (run as a CGI program).
[ -n "$PRODUCTION" ] || apt_install mapserver-bin
# tests/test_deploy.py checks the units with systemd-analyze and makes a certificate with openssl.
command -v systemd-analyze >/dev/null || apt_install systemd
command -v openssl >/dev/null || apt_install openssl
# nginx, the front server of deploy/nginx.conf.template: the tests run it in front of Django.
apt_install nginx-light
# PgBouncer: tests/scale runs its own instance (own ini, own port) in front of a private cluster.
# Its package enables the system service for the next boot (apt_install only stops it starting
# now): disabled when we install it, so nothing of ours listens on 6432 with Debian's ini.
if [ -z "$PRODUCTION" ] && ! dpkg-query -W -f='${Status}' pgbouncer 2>/dev/null | grep -q "ok installed"; then
    apt_install pgbouncer
    if command -v systemctl >/dev/null; then as_root systemctl disable --quiet pgbouncer 2>/dev/null || true; fi
fi

# pg_dump and pg_restore for `manage.py backup`/`restore` (also when the database is elsewhere;
# a server newer than Debian's needs its own postgresql-client-<major>, docs/operations.md).
command -v pg_dump >/dev/null && command -v pg_restore >/dev/null || apt_install postgresql-client

# --- PostgreSQL + PostGIS -------------------------------------------------------------------
if [ -z "$DATABASE_URL_GIVEN" ]; then
    pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1; }
    [ -n "$(pg_version)" ] || apt_install postgresql
    PG_VERSION=$(pg_version)
    apt_install "postgresql-${PG_VERSION}-postgis-3" postgresql-contrib
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        say "Starting PostgreSQL ${PG_VERSION}"
        pg_lsclusters -h 2>/dev/null | grep -q "^${PG_VERSION} main" \
            || as_root pg_createcluster "$PG_VERSION" main
        as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start 2>/dev/null \
            || as_root pg_ctlcluster "$PG_VERSION" main start
        for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
        pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start on 127.0.0.1:5432."
    fi
    # A local development role; superuser because migrations and test databases create extensions.
    if [ "$(as_postgres psql -tAc "SELECT 1 FROM pg_roles WHERE rolname='mapserver'")" != "1" ]; then
        say "Creating the database role 'mapserver'"
        as_postgres psql -q -c "CREATE ROLE mapserver LOGIN SUPERUSER PASSWORD 'mapserver'"
    fi
    if [ "$(as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname='mapserver'")" != "1" ]; then
        say "Creating the database 'mapserver'"
        as_postgres psql -q -c "CREATE DATABASE mapserver OWNER mapserver"
    fi
else
    say "Using the database at DATABASE_URL"
fi

# --- Redis ------------------------------------------------------------------------------------
if [ -z "$REDIS_URL_GIVEN" ]; then
    command -v redis-server >/dev/null || apt_install redis-server
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        say "Starting Redis on 127.0.0.1:6379"
        mkdir -p var/redis
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
        for _ in $(seq 20); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
    fi
else
    say "Using the Redis at REDIS_URL"
fi

# --- Mosquitto (the MQTT broker of the sensor readings; docs/sensors.md) --------------------------
# Not in production: there SENSORS_MQTT_URL names the city's broker. Here a local one on
# 127.0.0.1:1883 (anonymous, loopback only), started like Redis when nothing answers there; an
# already running broker (the system's service) is used as it is.
# The tests start brokers of their own from the same package, so it is installed either way.
if [ -z "$PRODUCTION" ]; then
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto
fi
if [ -z "$PRODUCTION" ] && [ -z "$(setting SENSORS_MQTT_URL)" ]; then
    if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
        say "Starting Mosquitto on 127.0.0.1:1883"
        mkdir -p var/mosquitto
        printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest file %s\n' \
            "$PWD/var/mosquitto/mosquitto.log" > var/mosquitto/mosquitto.conf
        PATH="$PATH:/usr/sbin" mosquitto -d -c var/mosquitto/mosquitto.conf
        for _ in $(seq 20); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.5; done
    fi
fi

# --- Python ---------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    say "Creating .venv"
    python3 -m venv .venv
fi
REQUIREMENTS=requirements-dev.txt
if [ -n "$PRODUCTION" ]; then REQUIREMENTS=requirements.txt; fi
REQUIREMENTS_SHA=$( (echo "$REQUIREMENTS"; cat requirements.txt requirements-dev.txt) | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$REQUIREMENTS_SHA" ]; then
    say "Installing Python requirements ($REQUIREMENTS)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r "$REQUIREMENTS"
    echo "$REQUIREMENTS_SHA" > .venv/.requirements.sha
fi

# --- Browser libraries (npm) -------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "Installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p var/vendor/ol
cp -u node_modules/ol/dist/ol.js node_modules/ol/ol.css var/vendor/ol/
# MapLibre's module loads its worker from beside itself (maplibre-gl-worker.mjs).
mkdir -p var/vendor/maplibre-gl
cp -u node_modules/maplibre-gl/dist/maplibre-gl.mjs node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs \
    node_modules/maplibre-gl/dist/maplibre-gl.css node_modules/maplibre-gl/LICENSE.txt var/vendor/maplibre-gl/
# The map's editing tools (terra-draw and its MapLibre adapter): ES modules the map imports only when
# someone opens the Edit tool.
mkdir -p var/vendor/terra-draw
cp -u node_modules/terra-draw/dist/terra-draw.modern.js \
    node_modules/terra-draw-maplibre-gl-adapter/dist/terra-draw-maplibre-gl-adapter.modern.js var/vendor/terra-draw/
# proj4 (VN-2000 coordinates on the map): its one-file build, fetched only when someone shows VN-2000.
mkdir -p var/vendor/proj4
cp -u node_modules/proj4/dist/proj4.js node_modules/proj4/LICENSE.md var/vendor/proj4/
# jsPDF (Print to PDF): its one-file build, fetched only when someone opens the print panel, and the
# Noto Sans fonts (the label font, Vietnamese included) that the PDF embeds for its text.
mkdir -p var/vendor/jspdf var/vendor/fonts
cp -u node_modules/jspdf/dist/jspdf.umd.min.js node_modules/jspdf/LICENSE var/vendor/jspdf/
cp -u /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf /usr/share/fonts/truetype/noto/NotoSans-Bold.ttf var/vendor/fonts/
# uPlot (a sensor station's chart in its popup): its ES module and stylesheet, fetched only when a
# station's popup opens.
mkdir -p var/vendor/uplot
cp -u node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE var/vendor/uplot/

# --- Label glyphs for the web map (Vietnamese included), from the Noto Sans font -----------------
.venv/bin/python scripts/build_glyphs.py var/glyphs

# --- Settings, schema, translations, static files ------------------------------------------------
if [ -n "$PRODUCTION" ] && [ ! -f .env ]; then
    die "no settings: link the settings file first, e.g. ln -s /etc/mapserver/mapserver.env $PWD/.env"
fi
if [ ! -f .env ]; then
    say "Writing .env with a new SECRET_KEY"
    printf 'SECRET_KEY=%s\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
fi
.venv/bin/python manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0
if [ -z "$PRODUCTION" ]; then
    .venv/bin/python manage.py migrate --noinput -v 0
    .venv/bin/python manage.py collectstatic --noinput -v 0
fi
say "Set-up done"
