"""GET /healthz in both states: everything answering, and a dependency on a closed port."""

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
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "database": {"ok": True},
        "broker": {"ok": True},
        "tile_cache": {"ok": True},
    }
    assert "no-cache" in response["Cache-Control"]


def test_healthz_503_names_the_broker_when_it_does_not_answer(client, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path
    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"]["ok"] is False
    assert str(port) in body["checks"]["broker"]["error"]


def test_healthz_503_names_the_database_when_it_does_not_answer(tmp_path):
    """Run the request in a fresh process whose DATABASE_URL points at a closed port."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mapserver.settings",
        "DATABASE_URL": f"postgis://mapserver:mapserver@127.0.0.1:{closed_port()}/mapserver",
        "TILE_CACHE_DIR": str(tmp_path),
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
    assert answer["body"]["failing"] == ["database"]
    assert "OperationalError" in answer["body"]["checks"]["database"]["error"]
    assert answer["body"]["checks"]["broker"] == {"ok": True}
