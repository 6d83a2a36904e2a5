#!/usr/bin/env bash
# Features benchmark (bench/features.py): installs pygeoapi from PyPI into its own venv,
# bench/.venv-pygeoapi (never into the project's .venv), then runs it against the database in .env.
# Load goes to 127.0.0.1 only; each contender makes 200 requests of 1,000 features by default.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv-pygeoapi/bin/pygeoapi ]; then
    python3 -m venv bench/.venv-pygeoapi
    bench/.venv-pygeoapi/bin/pip install -q pygeoapi==0.21.0 SQLAlchemy==2.1.9 \
        GeoAlchemy2==0.20.0 psycopg2-binary==2.9.13 pygeofilter==0.4.0 gunicorn==27.0.1
fi
exec .venv/bin/python bench/features.py "$@"
