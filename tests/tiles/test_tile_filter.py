"""A CQL2 `filter` (and `properties=`) on /tiles/: only matching features, under the visibility
rule, never read from nor written to the tile cache; nginx sends no cached file for such a URL."""

import gzip
from pathlib import Path

import mapbox_vector_tile
import pytest
from django.conf import settings

from layers.tiles.cache import TileKey, tile_cache
from layers.tiles.grid import TileCoord
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import DAI_NOI, point, tile_and_pixel
from tests.tiles.test_nginx import (  # noqa: F401 (fixtures)
    NGINX,
    fetch,
    marker_tile,
    nginx,
    nginx_tile_cache,
)
from tests.tiles.test_views import closed_by_the_server

# In the same z14 tile as DAI_NOI, 100 m away.
NEAR_DAI_NOI = (DAI_NOI[0] - 0.001, DAI_NOI[1] - 0.001)
SCHEMA = [
    {"name": "ten", "type": "text"},
    {"name": "tang", "type": "integer"},
    {"name": "loai", "type": "text"},
]


def place_layer(category, slug="sites", visibility="public"):
    layer = LayerFactory(
        slug=slug,
        category=category,
        visibility=visibility,
        attribute_schema=SCHEMA,
        tile_fields=["ten", "tang"],
    )
    FeatureFactory(
        layer=layer,
        geom=point(DAI_NOI),
        attributes={"ten": "Huế Đại Nội", "tang": 2, "loai": "di-tich"},
    )
    FeatureFactory(
        layer=layer,
        geom=point(NEAR_DAI_NOI),
        attributes={"ten": "Chợ Đông Ba", "tang": 1, "loai": "cho"},
    )
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    return layer, TileCoord(14, x, y)


def features(response, slug="sites") -> list[dict]:
    assert response.status_code == 200, response.content
    data = response.content
    if response.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return mapbox_vector_tile.decode(data)[slug]["features"]


@pytest.fixture
def sites(category, tile_cache_dir):
    return place_layer(category)


def test_a_filtered_tile_holds_only_matching_features(client, sites):
    _, coord = sites
    url = f"/tiles/sites/{coord.z}/{coord.x}/{coord.y}.pbf"
    assert len(features(client.get(url))) == 2
    [hue] = features(client.get(url, {"filter": "ten LIKE 'hue%'"}))
    assert hue["properties"] == {"ten": "Huế Đại Nội", "tang": 2}
    [cho] = features(
        client.get(
            url,
            {
                "filter": '{"op": "<", "args": [{"property": "tang"}, 2]}',
                "filter-lang": "cql2-json",
            },
        )
    )
    assert cho["properties"]["ten"] == "Chợ Đông Ba"
    assert client.get(url, {"filter": "loai = 'x'' OR true --'"}).status_code == 204


def test_properties_pick_the_tile_fields(client, sites):
    _, coord = sites
    url = f"/tiles/sites/{coord.z}/{coord.x}/{coord.y}.pbf"
    found = features(client.get(url, {"properties": "loai", "filter": "tang = 1"}))
    assert [f["properties"] for f in found] == [{"loai": "cho"}]


def test_bad_filters_are_400s(client, sites):
    _, coord = sites
    url = f"/tiles/sites/{coord.z}/{coord.x}/{coord.y}.pbf"
    unknown = client.get(url, {"filter": "nope = 1"})
    assert unknown.status_code == 400
    assert "unknown property 'nope'" in unknown.content.decode()
    assert client.get(url, {"filter": "ten ="}).status_code == 400
    assert client.get(url, {"properties": "nope"}).status_code == 400


def test_a_hidden_layer_stays_hidden_with_a_filter(client, category, tile_cache_dir):
    _, coord = place_layer(category, slug="plans", visibility="internal")
    url = f"/tiles/plans/{coord.z}/{coord.x}/{coord.y}.pbf"
    assert client.get(url, {"filter": "tang > 0"}).status_code == 404


def test_filtered_tiles_never_touch_the_cache(client, sites):
    _, coord = sites
    url = f"/tiles/sites/{coord.z}/{coord.x}/{coord.y}.pbf"
    response = client.get(url, {"filter": "tang = 1"})
    assert len(features(response)) == 1
    closed_by_the_server(response)  # a plain tile is cached once sent; a filtered one never
    assert tile_cache().get(TileKey("public", "sites", coord)) is None
    # A cached plain tile is not what a filtered URL gets, and the plain URL still gets it all.
    plain = client.get(url)
    assert len(features(plain)) == 2
    closed_by_the_server(plain)
    assert tile_cache().get(TileKey("public", "sites", coord)) is not None
    tile_cache().put(TileKey("public", "sites", coord), marker_tile("sites"))
    assert len(features(client.get(url, {"filter": "tang = 1"}))) == 1
    assert features(client.get(url))[0]["properties"] == {"from": "disk"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(NGINX is None, reason="no nginx binary")
def test_nginx_sends_no_cached_file_for_a_url_with_a_query(nginx, category):  # noqa: F811
    layer, coord = place_layer(category)
    path = f"/tiles/sites/{coord.z}/{coord.x}/{coord.y}.pbf"
    tile_cache().put(TileKey("public", "sites", coord), marker_tile("sites"))
    tile_cache().publish("public", "sites", layer.version)
    assert Path(
        settings.TILE_CACHE_DIR, f"public/sites/{coord.z}/{coord.x}/{coord.y}.pbf.gz"
    ).exists()
    assert fetch(nginx, path).body == marker_tile("sites")  # the plain URL: from disk
    assert fetch(nginx, f"{path}?v={layer.version}").body == marker_tile("sites")
    for query in ("filter=tang%3D1", f"v={layer.version}&filter=tang%3D1", "properties=ten"):
        reply = fetch(nginx, f"{path}?{query}")
        assert reply.status == 200
        assert reply.body != marker_tile("sites")
        decoded = mapbox_vector_tile.decode(gzip.decompress(reply.body))["sites"]["features"]
        assert all("from" not in f["properties"] for f in decoded)
