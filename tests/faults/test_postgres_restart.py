"""PostgreSQL stopped under a running gunicorn, then started again.

Seen before: every route, cached public tiles included, answered a 500 HTML page during the
outage, and /healthz showed the database's host and error text to anonymous callers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from tests.faults.conftest import ROOT, OutputLog, free_port, kill_pid, wait_until

SEED = """
import django
django.setup()
from layers import services
from tests.factories import FeatureFactory, LayerFactory
layer = LayerFactory(slug="di-tich", min_zoom=0, max_zoom=16)
FeatureFactory(layer=layer)
services.layer_refresh_stats(layer=layer)
"""
# The tile of z14 that holds the feature (107.5905, 16.4637), and one far from it.
CACHED_TILE = "/tiles/di-tich/14/13088/7432.pbf"
UNCACHED_TILE = "/tiles/di-tich/14/0/0.pbf"


def get(url: str) -> tuple[int, dict, bytes]:
    """GET a URL; return status, headers and body (errors included)."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def web_on_private_postgres(private_postgres, tmp_path):
    """Run gunicorn (deploy/gunicorn.conf.py: 2 processes x 2 threads) on the private cluster."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": private_postgres.url("faults"),
        "TILE_CACHE_DIR": str(tmp_path / "tiles"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "TILE_CACHE_MIN_FREE_BYTES": "0",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # the seed's tile jobs run here, on nobody's queue
        "CACHE_KEY_PREFIX": f"faults-{uuid.uuid4().hex}",
        "DEBUG": "false",
        "SECRET_KEY": "faults-test-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "2",
        "WEB_THREADS": "2",
        "WEB_ACCESS_LOG": "",
    }
    subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mapserver.wsgi", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log = OutputLog(process.stdout)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is None and get_or_none(base + "/healthz"),
            timeout_s=60,
            what=f"gunicorn to answer:\n{log.text()[-2000:]}",
        )
        yield base
    finally:
        kill_pid(process)
        if not private_postgres.running:
            private_postgres.start()


def get_or_none(url: str):
    try:
        return get(url)
    except OSError:
        return None


def test_database_outage_answers_503_serves_cached_public_tiles_and_recovers(
    private_postgres, web_on_private_postgres
):
    base = web_on_private_postgres
    status, _headers, cached_body = get(base + CACHED_TILE)
    assert status == 200  # rendered, and cached once sent
    assert get(base + "/healthz")[0] == 200

    private_postgres.stop()

    for path in ("/api/v1/layers/", "/api/v1/layers/di-tich/features/", "/ogc/collections",
                 UNCACHED_TILE, "/tiles/di-tich.json"):  # fmt: skip
        status, headers, body = get(base + path)
        assert status == 503, (path, body[:300])
        assert headers["Content-Type"].startswith("application/json"), path
        assert int(headers["Retry-After"]) > 0
        # The one error vocabulary: the OGC API's code under /ogc/, the REST code elsewhere.
        code = "ServiceUnavailable" if path.startswith("/ogc/") else "unavailable"
        assert json.loads(body)["code"] == code, path

    status, headers, body = get(base + "/investors/")
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert "Retry-After" in headers

    # The public tile cached before the outage is still served, without the database.
    status, headers, body = get(base + CACHED_TILE)
    assert status == 200
    assert body == cached_body
    assert headers["Cache-Control"].startswith("public")

    status, _headers, body = get(base + "/healthz")
    assert status == 503
    assert body == b'{"status": "unavailable", "failing": ["database"]}'
    assert str(private_postgres.port).encode() not in body

    private_postgres.start()
    # Every thread's connection died with the server: each is checked before reuse, so not one
    # request fails after the database is back (2 processes x 2 threads, 8 requests).
    statuses = [get(base + "/api/v1/layers/")[0] for _ in range(8)]
    assert statuses == [200] * 8
    assert get(base + "/healthz")[0] == 200
