#!/usr/bin/env bash
# Run the web server (gunicorn) and a Celery worker together in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

BIND=${BIND:-127.0.0.1:8000}
WEB_WORKERS=${WEB_WORKERS:-3}

.venv/bin/celery -A mapserver worker --loglevel=INFO --concurrency="${CELERY_CONCURRENCY:-2}" &
worker=$!
.venv/bin/gunicorn mapserver.wsgi --bind "$BIND" --workers "$WEB_WORKERS" --access-logfile - &
web=$!
trap 'kill $worker $web 2>/dev/null; wait' INT TERM EXIT
printf '\n  Map:    http://%s/\n  Admin:  http://%s/admin/\n  Health: http://%s/healthz\n\n' "$BIND" "$BIND" "$BIND"
# Stop both when either one stops.
wait -n "$worker" "$web"
