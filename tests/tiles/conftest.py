"""Fixtures of the tile tests: a private tile cache folder, and helpers to place features."""

import math
import os
import tempfile
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point

# The real Celery worker (tests/conftest.py) starts later in a subprocess and reads its settings
# from the environment: give it a tile cache of its own, never the developer's var/tiles.
WORKER_TILE_CACHE = Path(tempfile.mkdtemp(prefix="test-tiles-worker-"))
os.environ["TILE_CACHE_DIR"] = str(WORKER_TILE_CACHE)

# Places in and around Huế (lon, lat).
DAI_NOI = (107.5775, 16.4698)
CHO_DONG_BA = (107.5876, 16.4722)
LANG_CO = (108.0705, 16.2265)


@pytest.fixture
def tile_cache_dir(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    return settings.TILE_CACHE_DIR


def point(lon_lat: tuple[float, float]) -> Point:
    return Point(*lon_lat, srid=4326)


def tile_and_pixel(lon: float, lat: float, z: int, extent: int = 4096) -> tuple[int, int, int, int]:
    """Return (x, y, px, py): the tile holding a place and its position there, y down."""
    n = 2**z
    fx = (lon + 180) / 360 * n
    lat_r = math.radians(lat)
    fy = (1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n
    x, y = int(fx), int(fy)
    return x, y, round((fx - x) * extent), round((fy - y) * extent)


@pytest.fixture(autouse=True)
def _tasks_in_process():
    """Run Celery tasks in-process (tests that ask for `celery_worker_process` switch it off)."""
    from mapserver.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
