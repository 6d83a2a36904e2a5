#!/usr/bin/env bash
# Page benchmark of the web map (bench/page.py): Debian's chromium, the project's own static files,
# the demo layers in the database of .env. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py loaddemo >/dev/null
exec .venv/bin/python bench/page.py "$@"
