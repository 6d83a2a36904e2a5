"""Fixtures of the tile tests: a private tile cache folder, and helpers to place features."""

import math

import pytest
from django.contrib.gis.geos import Point

from layers.tiles.ahead import forget_layers
from layers.tiles.cache import tile_cache
from layers.tiles.grid import tiles_touching
from layers.tiles.sql import TileSQL

# Places in and around Huế (lon, lat).
DAI_NOI = (107.5775, 16.4698)
CHO_DONG_BA = (107.5876, 16.4722)
LANG_CO = (108.0705, 16.2265)


@pytest.fixture(autouse=True)
def no_layer_seen_before():
    """Start each test with no layer shape remembered from another (layers/tiles/ahead.py)."""
    forget_layers()


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


def web_mercator(lon_lat):
    return Point(*lon_lat, srid=4326).transform(3857, clone=True)


def expected_tiles(places, min_zoom, max_zoom):
    """The tiles a seed must build: those whose buffered area holds one of the places."""
    tiles = set()
    for z in range(min_zoom, max_zoom + 1):
        margin_m = TileSQL().margin_m(z)
        for place in places:
            p = web_mercator(place)
            tiles.update(tiles_touching(z, (p.x, p.y, p.x, p.y), margin_m))
    return tiles


def cached_tiles(layer):
    cache = tile_cache()
    found = set()
    for z in cache.cached_zooms("public", layer.slug):
        found.update(
            cache.cached_in("public", layer.slug, tiles_touching(z, (-2e7, -2e7, 2e7, 2e7)))
        )
    return found


@pytest.fixture
def sites(category, tile_cache_dir):
    from layers import services
    from layers.models import TileChange
    from tests.factories import FeatureFactory, LayerFactory

    layer = LayerFactory(slug="sites", category=category, geometry_type="point", prebuild_zoom=10)
    FeatureFactory(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Đại Nội"})
    FeatureFactory(layer=layer, geom=point(LANG_CO), attributes={"ten": "Lăng Cô"})
    # What committing these writes would have done with the boxes the trigger recorded.
    TileChange.objects.filter(layer_id=layer.pk).delete()
    return services.layer_refresh_stats(layer=layer)
