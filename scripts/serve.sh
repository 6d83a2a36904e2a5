#!/usr/bin/env bash
# Run the whole server in the foreground until Ctrl-C: gunicorn (deploy/gunicorn.conf.py), one
# Celery worker per kind of work, and celery beat (the job sweeper, outbox flush and clean-ups).
# Sized for a small machine (2 cores): see docs/operations.md to change the counts.
set -euo pipefail
cd "$(dirname "$0")/.."

export BIND=${BIND:-127.0.0.1:8000}
export WEB_WORKERS=${WEB_WORKERS:-2}
export WEB_THREADS=${WEB_THREADS:-8}
prefix=${CELERY_QUEUE_PREFIX:-}
run_dir=var/run
mkdir -p "$run_dir"
metrics_dir=${PROMETHEUS_MULTIPROC_DIR:-$PWD/$run_dir/metrics}
# For gunicorn only: the workers' figures are read from PostgreSQL and Redis at each scrape.
unset PROMETHEUS_MULTIPROC_DIR

pids=()
worker() {  # worker <kind> <concurrency> <queues…>
    local kind=$1 concurrency=$2
    shift 2
    local queues=()
    for queue in "$@"; do queues+=("${prefix}${queue}"); done
    .venv/bin/celery -A mapserver worker --loglevel=INFO --hostname="${kind}@%h" \
        --concurrency="$concurrency" --queues="$(IFS=,; echo "${queues[*]}")" &
    pids+=($!)
}

# Imports one at a time (each may hold a big file in memory); seeds beside them, so a long seed
# never delays an import; exports and housekeeping together.
worker imports "${CELERY_IMPORTS_CONCURRENCY:-1}" imports
worker tiles "${CELERY_TILES_CONCURRENCY:-2}" tiles
worker other "${CELERY_OTHER_CONCURRENCY:-1}" exports default
# Evaluation of new sensor readings (thresholds, alerts, anomalies) and partition upkeep.
worker sensors "${CELERY_SENSORS_CONCURRENCY:-1}" sensors
# The MQTT subscriber of sensor layers, when a broker is set (SENSORS_MQTT_URL in the environment
# or .env), or else when the local one scripts/setup.sh starts answers on 127.0.0.1:1883.
mqtt_url=${SENSORS_MQTT_URL:-$( [ -f .env ] && sed -n 's/^SENSORS_MQTT_URL=//p' .env | tail -n 1 )}
if [ -z "$mqtt_url" ] && (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    mqtt_url=mqtt://127.0.0.1:1883
fi
if [ -n "$mqtt_url" ]; then
    export SENSORS_MQTT_URL=$mqtt_url
    .venv/bin/python manage.py sensors_subscribe &
    pids+=($!)
    # The demo stations' live readings (sensors/publisher.py; idle while the demo is not loaded);
    # SENSORS_DEMO_PUBLISH=0 leaves it out.
    if [ "${SENSORS_DEMO_PUBLISH:-1}" != 0 ]; then
        .venv/bin/python manage.py sensors_demo_publish &
        pids+=($!)
    fi
fi
# The schedule lives in the database (django-celery-beat: settings.CELERY_BEAT_SCHEDULE and the
# layer sources' schedules set in the admin).
.venv/bin/celery -A mapserver beat --loglevel=INFO \
    --scheduler django_celery_beat.schedulers:DatabaseScheduler &
pids+=($!)
# The web processes add up their metrics in files of a folder of their own, emptied at each start
# so no series of a past run lingers (docs/operations.md, "Metrics").
mkdir -p "$metrics_dir" && rm -f "$metrics_dir"/*.db
PROMETHEUS_MULTIPROC_DIR=$metrics_dir .venv/bin/gunicorn mapserver.wsgi -c deploy/gunicorn.conf.py &
pids+=($!)

stop() {
    trap - INT TERM EXIT
    kill "${pids[@]}" 2>/dev/null || true
    wait || true
}
trap stop INT TERM EXIT
printf '\n  Map:    http://%s/\n  Admin:  http://%s/admin/\n  Health: http://%s/healthz\n\n' "$BIND" "$BIND" "$BIND"
# Stop everything when any one of them stops.
wait -n "${pids[@]}"
