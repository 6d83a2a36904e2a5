"""The tile SQL as PostGIS runs it: the feature limit, features that do not show, the index used."""

import json

import mapbox_vector_tile
import pytest
from django.contrib.gis.geos import Polygon
from django.db import connection

from layers.tiles.grid import TileCoord
from layers.tiles.render import render_tile, tile_spec
from layers.tiles.sql import TileSQL
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import DAI_NOI, LANG_CO, tile_and_pixel, web_mercator

pytestmark = pytest.mark.django_db


def square(center, side_m: float, *, height_m: float | None = None) -> Polygon:
    """Return a `side_m` by `height_m` (default: square) rectangle around a place, EPSG:4326."""
    height_m = side_m if height_m is None else height_m
    x, y = center
    box = Polygon.from_bbox((x - side_m / 2, y - height_m / 2, x + side_m / 2, y + height_m / 2))
    box.srid = 3857
    return box.transform(4326, clone=True)


def tile_center(coord: TileCoord) -> tuple[float, float]:
    """Return the EPSG:3857 centre of a tile, from PostGIS."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(c), ST_Y(c) FROM ST_Centroid(ST_TileEnvelope(%s, %s, %s)) AS c",
            [coord.z, coord.x, coord.y],
        )
        return cursor.fetchone()


def feature_ids(data: bytes, name: str) -> list[int]:
    return [feature["id"] for feature in mapbox_vector_tile.decode(data)[name]["features"]]


@pytest.fixture
def buildings(category, tile_cache_dir):
    """Five buildings of 20 to 60 m side in one z16 tile, listed from the largest."""
    layer = LayerFactory(slug="buildings", category=category, geometry_type="polygon")
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 16)
    center = tile_center(TileCoord(16, x, y))
    sides_m = (60, 50, 40, 30, 20)
    made = [
        FeatureFactory(layer=layer, geom=square((center[0] + (i - 2) * 70, center[1]), side_m))
        for i, side_m in enumerate(reversed(sides_m))
    ]
    return layer, [feature.pk for feature in reversed(made)], TileCoord(16, x, y)


class AtMost(TileSQL):
    def __init__(self, max_features: int) -> None:
        self.max_features = max_features


def test_past_the_limit_a_tile_keeps_the_largest_features(buildings):
    layer, largest_first, coord = buildings
    tile = render_tile(tile_spec(layer), coord, AtMost(3))
    assert sorted(feature_ids(tile.data, "buildings")) == sorted(largest_first[:3])


def test_a_tile_at_or_under_the_limit_holds_every_feature(buildings):
    layer, largest_first, coord = buildings
    for limit in (5, 10_000):
        tile = render_tile(tile_spec(layer), coord, AtMost(limit))
        assert sorted(feature_ids(tile.data, "buildings")) == sorted(largest_first)


def test_a_feature_that_does_not_show_is_left_out_of_the_tile(buildings):
    """A sliver long enough for the size test collapses on the tile's grid: ST_AsMVT skips it."""
    layer, largest_first, coord = buildings
    x, y = tile_center(coord)
    FeatureFactory(layer=layer, geom=square((x, y - 100), 50, height_m=0.001))
    tile = render_tile(tile_spec(layer), coord)
    assert sorted(feature_ids(tile.data, "buildings")) == sorted(largest_first)


def test_a_tile_of_slivers_only_is_empty(category, tile_cache_dir):
    layer = LayerFactory(slug="slivers", category=category, geometry_type="polygon")
    center = web_mercator(LANG_CO)
    FeatureFactory(layer=layer, geom=square((center.x, center.y), 50, height_m=0.001))
    x, y, _, _ = tile_and_pixel(*LANG_CO, 16)
    assert render_tile(tile_spec(layer), TileCoord(16, x, y)).data == b""


def _scans(plan: dict):
    if "Relation Name" in plan:
        yield plan
    for child in plan.get("Plans", ()):
        yield from _scans(child)


def test_the_tile_query_reads_only_the_layers_partition_through_its_spatial_index(
    buildings, category
):
    """Bound as the tile view binds it (server-side; psycopg sends a small int as int2)."""
    layer, _, coord = buildings
    other = LayerFactory(slug="other", category=category, geometry_type="polygon")
    FeatureFactory(layer=other, geom=square(tile_center(coord), 30))
    spec, tile_sql = tile_spec(layer), TileSQL()
    with connection.cursor() as cursor:
        cursor.execute("SELECT layers_feature_partition_name(%s)", [layer.pk])
        [partition] = cursor.fetchone()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows: make the index the choice
        cursor.execute(
            "EXPLAIN (FORMAT JSON) " + tile_sql.query(spec, coord), tile_sql.params(spec, coord)
        )
        [[plan]] = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    scans = [
        node for node in _scans(plan["Plan"]) if node["Relation Name"].startswith("layers_feature")
    ]
    assert {scan["Relation Name"] for scan in scans} == {partition}
    assert any("geom_3857" in scan.get("Index Cond", "") for scan in _index_scans(plan["Plan"]))


def _index_scans(plan: dict):
    if plan.get("Index Name"):
        yield plan
    for child in plan.get("Plans", ()):
        yield from _index_scans(child)


def test_a_tile_over_the_byte_budget_drops_its_smallest_features(buildings, settings):
    """The cap in bytes (TILE_MAX_BYTES) holds whatever the feature count: the largest stay."""
    layer, largest_first, coord = buildings
    full = render_tile(tile_spec(layer), coord)
    assert sorted(feature_ids(full.data, "buildings")) == sorted(largest_first)
    # A budget that holds about three of the five buildings.
    settings.TILE_MAX_BYTES = len(full.data) * 3 // 5 + 4
    tile = render_tile(tile_spec(layer), coord)
    assert len(tile.data) <= settings.TILE_MAX_BYTES
    kept = feature_ids(tile.data, "buildings")
    assert 1 <= len(kept) < 5
    assert sorted(kept) == sorted(largest_first[: len(kept)])
    assert tile.version == full.version
