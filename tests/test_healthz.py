"""GET /healthz in both states: everything answering, and a dependency on a closed port.

Anonymous callers get the status and the failing checks' names only; staff get the details.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    """Return a local TCP port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_ok_when_database_broker_and_cache_answer(client, tmp_path, settings):
    settings.TILE_CACHE_DIR = tmp_path
    settings.TILE_CACHE_MIN_FREE_BYTES = 0
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failing": []}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_details_for_staff(client, staff, tmp_path, settings):
    settings.TILE_CACHE_DIR = tmp_path
    settings.TILE_CACHE_MIN_FREE_BYTES = 0
    client.force_login(staff)
    body = client.get("/healthz").json()
    checks = body["checks"]
    assert body["status"] == "ok"
    assert checks["database"] == {"ok": True, "outbox": 0}
    assert set(checks["broker"]["queues"]) == {"imports", "tiles", "exports", "sensors", "default"}
    assert checks["tile_cache"]["ok"] is True
    assert checks["tile_cache"]["free_bytes"] > 0


def test_healthz_details_for_a_monitor_with_the_token(client, tmp_path, settings):
    settings.TILE_CACHE_DIR = tmp_path
    settings.HEALTH_DETAIL_TOKEN = "s3cret-monitor-token"
    assert "checks" not in client.get("/healthz", HTTP_AUTHORIZATION="Bearer wrong").json()
    body = client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret-monitor-token").json()
    assert body["checks"]["database"]["ok"] is True


def test_healthz_tile_cache_fails_below_the_free_space_minimum(client, staff, tmp_path, settings):
    settings.TILE_CACHE_DIR = tmp_path
    settings.TILE_CACHE_MIN_FREE_BYTES = 2**62  # more than any disk has
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["tile_cache"]}


def test_healthz_503_names_the_broker_when_it_does_not_answer(client, staff, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path
    settings.TILE_CACHE_MIN_FREE_BYTES = 0
    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["broker"]}
    assert str(port) not in response.content.decode()  # no address for anonymous callers
    client.force_login(staff)
    body = client.get("/healthz").json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert str(port) in body["checks"]["broker"]["error"]


def test_healthz_503_names_the_database_when_it_does_not_answer(tmp_path):
    """Run the request in a fresh process whose DATABASE_URL points at a closed port."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "d = Client().get('/healthz', HTTP_AUTHORIZATION='Bearer monitor');"
        "print(json.dumps({'status': r.status_code, 'body': r.json(), 'details': d.json()}))"
    )
    port = closed_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mapserver.settings",
        "DATABASE_URL": f"postgis://mapserver:mapserver@127.0.0.1:{port}/mapserver",
        "TILE_CACHE_DIR": str(tmp_path),
        "TILE_CACHE_MIN_FREE_BYTES": "0",
        "HEALTH_DETAIL_TOKEN": "monitor",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    # Anonymous callers learn which check fails, never the database's address or error text.
    assert answer["body"] == {"status": "unavailable", "failing": ["database"]}
    details = answer["details"]
    assert details["failing"] == ["database"]
    assert "OperationalError" in details["checks"]["database"]["error"]
    assert str(port) in details["checks"]["database"]["error"]
    assert details["checks"]["broker"]["ok"] is True
