#!/usr/bin/env bash
# Import benchmark (bench/import.py) against the database in .env: our import beside ogr2ogr
# (gdal-bin, installed by scripts/setup.sh) loading the same files, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/import.py "$@"
