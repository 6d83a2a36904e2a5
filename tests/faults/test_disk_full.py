"""The tile cache's disk fills up (a 256 KiB tmpfs filled to the last byte).

Seen before: tiles were still served, but /healthz said `tile_cache ok` at 100 % full (it only
wrote an empty file), and the log got 358 full tracebacks for 400 requests.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from tests.factories import FeatureFactory, LayerFactory
from tests.faults.test_redis_down import tile_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_disk(tmp_path) -> Path:
    """Mount a 256 KiB tmpfs for the test (unmounted afterwards, even on failure)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> None:
    """Write a file until the file system refuses another byte."""
    descriptor = os.open(folder / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(descriptor, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(descriptor)


def test_full_tile_cache_serves_tiles_logs_once_and_fails_health(
    client, staff, settings, tiny_disk, caplog
):
    settings.TILE_CACHE_DIR = tiny_disk / "tiles"
    settings.TILE_CACHE_MIN_FREE_BYTES = 64 * 1024
    settings.TILE_CACHE_MIN_FREE_PERCENT = 0
    layer = LayerFactory(slug="cong-vien", min_zoom=0, max_zoom=20)
    FeatureFactory(layer=layer)
    client.force_login(staff)
    assert client.get("/healthz").json()["status"] == "ok"  # room enough before

    fill(tiny_disk)
    caplog.set_level(logging.WARNING)
    # The feature's tile at every zoom, three times over: none can be cached, so each request
    # renders its tile again and would write it.
    coords = [(z, *tile_of(107.5905, 16.4637, z)) for z in range(21)] * 3
    statuses = [client.get(f"/tiles/cong-vien/{z}/{x}/{y}.pbf").status_code for z, x, y in coords]
    assert statuses == [200] * len(coords)
    assert not list((tiny_disk / "tiles").rglob("*.pbf.gz"))

    full_lines = [r for r in caplog.records if "Tile cache full" in r.getMessage()]
    assert len(full_lines) == 1
    assert not [r for r in caplog.records if r.exc_info]  # no traceback at all

    health = client.get("/healthz")
    assert health.status_code == 503
    body = health.json()
    assert body["failing"] == ["tile_cache"]
    assert body["checks"]["tile_cache"]["free_bytes"] < 64 * 1024
