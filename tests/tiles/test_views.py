"""Tiles over HTTP: content, positions, composites, status codes, headers and visibility."""

import gzip

import mapbox_vector_tile
import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.gis.geos import LineString
from django.core.signals import request_finished
from django.db import close_old_connections, connections

from layers.tiles.cache import FolderTileCache, TileKey, tile_cache
from layers.tiles.grid import TileCoord
from layers.tiles.views import tile
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import CHO_DONG_BA, DAI_NOI, point, tile_and_pixel

pytestmark = pytest.mark.django_db


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})


@pytest.fixture
def landmarks(category, tile_cache_dir):
    layer = LayerFactory(
        slug="landmarks",
        category=category,
        geometry_type="point",
        attribute_schema=[
            {"name": "ten", "type": "text"},
            {"name": "nam", "type": "integer"},
            {"name": "ghi_chu", "type": "text"},
        ],
        tile_fields=["ten", "nam"],
    )
    dai_noi = FeatureFactory(
        layer=layer,
        geom=point(DAI_NOI),
        attributes={"ten": "Đại Nội", "nam": 1805, "ghi_chu": "not in tiles"},
    )
    return layer, dai_noi


def test_a_known_feature_lands_at_its_pixel_with_only_its_tile_attributes(client, landmarks):
    _, dai_noi = landmarks
    x, y, px, py = tile_and_pixel(*DAI_NOI, 16)
    response = client.get(f"/tiles/landmarks/16/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    tile = decode(response.content)
    assert list(tile) == ["landmarks"]
    [feature] = tile["landmarks"]["features"]
    assert feature["id"] == dai_noi.pk
    assert feature["properties"] == {"ten": "Đại Nội", "nam": 1805}
    assert feature["geometry"]["type"] == "Point"
    gx, gy = feature["geometry"]["coordinates"]
    assert abs(gx - px) <= 1 and abs(gy - py) <= 1
    assert tile["landmarks"]["extent"] == 4096


def test_lines_and_polygons_drop_what_is_smaller_than_a_pixel(client, category, tile_cache_dir):
    roads = LayerFactory(slug="roads", category=category, geometry_type="line")
    long_road = FeatureFactory(
        layer=roads, geom=LineString(DAI_NOI, CHO_DONG_BA, srid=4326), attributes={"ten": "Lê Lợi"}
    )
    tiny = (DAI_NOI[0] + 0.001, DAI_NOI[1])
    FeatureFactory(
        layer=roads,
        geom=LineString(tiny, (tiny[0] + 0.00001, tiny[1]), srid=4326),
        attributes={"ten": "1 m"},
    )
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 12)
    tile = decode(client.get(f"/tiles/roads/12/{x}/{y}.pbf").content)
    assert [f["id"] for f in tile["roads"]["features"]] == [long_road.pk]


def test_a_composite_tile_holds_each_visible_layer(client, landmarks, category):
    roads = LayerFactory(slug="roads", category=category, geometry_type="line")
    FeatureFactory(layer=roads, geom=LineString(DAI_NOI, CHO_DONG_BA, srid=4326))
    hidden = LayerFactory(slug="hidden", category=category, visibility="internal")
    FeatureFactory(layer=hidden, geom=point(DAI_NOI))
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    response = client.get(f"/tiles/landmarks,roads,hidden/14/{x}/{y}.pbf")
    assert response.status_code == 200
    assert sorted(decode(response.content)) == ["landmarks", "roads"]
    assert client.get(f"/tiles/hidden/14/{x}/{y}.pbf").status_code == 404


def test_status_codes(client, landmarks):
    layer, _ = landmarks
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 10)
    assert client.get(f"/tiles/landmarks/10/{x + 3}/{y}.pbf").status_code == 204
    assert client.get("/tiles/landmarks/3/8/0.pbf").status_code == 400  # x outside the grid
    assert client.get("/tiles/landmarks/25/0/0.pbf").status_code == 400
    layer.min_zoom, layer.max_zoom = 5, 16
    layer.save()
    response = client.get("/tiles/landmarks/4/12/7.pbf")
    assert response.status_code == 400
    assert "outside" in response.json()["detail"]
    assert client.get("/tiles/nowhere/10/0/0.pbf").status_code == 404
    assert client.get("/tiles/nowhere.json").status_code == 404


def test_etag_gives_304_and_gzip_is_sent_when_accepted(client, landmarks):
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 15)
    url = f"/tiles/landmarks/15/{x}/{y}.pbf"
    plain = client.get(url)
    zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip, br")
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    assert "Accept-Encoding" in zipped["Vary"]
    again = client.get(url, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=zipped["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_public_tiles_are_public_and_cors_others_private(client, landmarks, signed_in):
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 15)
    public = client.get(f"/tiles/landmarks/15/{x}/{y}.pbf")
    assert public["Cache-Control"].startswith("public, max-age=")
    assert public["Access-Control-Allow-Origin"] == "*"
    assert public["X-Content-Type-Options"] == "nosniff"

    layer, _ = landmarks
    layer.visibility = "internal"
    layer.save()
    anonymous_tile = client.get(f"/tiles/landmarks/15/{x}/{y}.pbf")
    assert anonymous_tile.status_code == 404
    assert client.get("/tiles/landmarks.json").status_code == 404
    client.force_login(signed_in)
    private = client.get(f"/tiles/landmarks/15/{x}/{y}.pbf")
    assert private.status_code == 200
    assert decode(private.content)["landmarks"]["features"]
    assert private["Cache-Control"].startswith("private")
    assert "Access-Control-Allow-Origin" not in private
    assert client.get("/tiles/landmarks.json").status_code == 200


@pytest.mark.parametrize(
    ("who", "visibility", "status"),
    [
        ("anonymous", "restricted", 404),
        ("signed_in", "restricted", 404),
        ("member", "restricted", 200),
        ("staff", "restricted", 200),
        ("anonymous", "public", 200),
    ],
)
def test_restricted_layers_only_for_their_groups(
    client, request, layers_by_visibility, tile_cache_dir, who, visibility, status
):
    layer = layers_by_visibility[visibility]
    FeatureFactory(layer=layer, geom=point(DAI_NOI))
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    assert client.get(f"/tiles/{layer.slug}/14/{x}/{y}.pbf").status_code == status
    assert client.get(f"/tiles/{layer.slug}.json").status_code == status


def test_tilejson(client, landmarks, category):
    layer, _ = landmarks
    layer.attribution = "© Sở Văn hoá Huế"
    layer.save()
    FeatureFactory(layer=layer, geom=point(CHO_DONG_BA))
    from layers.services import layer_refresh_stats

    layer = layer_refresh_stats(layer=layer)
    document = client.get("/tiles/landmarks.json").json()
    assert document["tilejson"] == "3.0.0"
    assert document["tiles"] == [
        f"http://testserver/tiles/landmarks/{{z}}/{{x}}/{{y}}.pbf?v={layer.version}"
    ]
    assert document["name"] == layer.title
    assert document["attribution"] == "© Sở Văn hoá Huế"
    assert document["minzoom"] == 0 and document["maxzoom"] == 22
    west, south, east, north = document["bounds"]
    assert west == pytest.approx(DAI_NOI[0]) and east == pytest.approx(CHO_DONG_BA[0])
    assert south == pytest.approx(DAI_NOI[1]) and north == pytest.approx(CHO_DONG_BA[1])
    assert west < document["center"][0] < east
    assert document["vector_layers"] == [
        {
            "id": "landmarks",
            "description": layer.title,
            "minzoom": 0,
            "maxzoom": 22,
            "fields": {"ten": "String", "nam": "Number"},
        }
    ]
    roads = LayerFactory(slug="roads", category=category)
    composite = client.get("/tiles/landmarks,roads.json").json()
    assert [v["id"] for v in composite["vector_layers"]] == ["landmarks", "roads"]
    assert "/tiles/landmarks,roads/{z}/{x}/{y}.pbf?v=" in composite["tiles"][0]
    assert roads.slug in composite["tiles"][0]


def test_gdal_mvt_driver_opens_a_served_tile(client, landmarks, tmp_path):
    import subprocess

    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    body = client.get(f"/tiles/landmarks/14/{x}/{y}.pbf").content
    path = tmp_path / "14" / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    output = subprocess.run(
        ["ogrinfo", "-ro", "-al", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "Layer name: landmarks" in output
    assert "Feature Count: 1" in output
    assert "ten (String) = Đại Nội" in output
    assert "POINT (107.57" in output or "POINT (11975" in output


def closed_by_the_server(response) -> None:
    """Close a response as the WSGI server does once it is sent (the test keeps its connection)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def test_an_uncached_tile_costs_two_queries_and_is_cached_after_the_response(
    rf, landmarks, django_assert_num_queries
):

    layer, _ = landmarks
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 16)
    request = rf.get(f"/tiles/landmarks/16/{x}/{y}.pbf", HTTP_ACCEPT_ENCODING="gzip")
    request.user = AnonymousUser()
    key = TileKey.of(layer, TileCoord(16, x, y))

    with django_assert_num_queries(2):  # the visible layers, the tile
        response = tile(request, "landmarks", 16, x, y)
    assert response.status_code == 200
    assert tile_cache().get(key) is None
    # Sent: now the cache write (version check under the layer's lock: 2 + transaction).
    with django_assert_num_queries(4):
        closed_by_the_server(response)
    assert tile_cache().get(key) == response.content

    with django_assert_num_queries(1):
        again = tile(request, "landmarks", 16, x, y)
    with django_assert_num_queries(0):
        closed_by_the_server(again)
    assert again.content == response.content


def test_a_cached_tile_costs_one_query_through_the_whole_stack(
    client, landmarks, signed_in, django_assert_num_queries
):
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 16)
    url = f"/tiles/landmarks/16/{x}/{y}.pbf"
    client.get(url)  # now cached
    with django_assert_num_queries(1):  # no session, no user for an anonymous request
        assert client.get(url).status_code == 200
    client.force_login(signed_in)
    with django_assert_num_queries(3):  # the session, the user, the visible layers
        assert client.get(url).status_code == 200


class UnwritableTileCache(FolderTileCache):
    """A tile cache whose storage refuses every write (a full disk, a read-only mount)."""

    def put(self, key: TileKey, data: bytes) -> None:
        raise OSError(28, "No space left on device")


def test_a_tile_that_cannot_be_cached_is_still_served(client, landmarks, settings, caplog):
    settings.TILE_CACHE_BACKEND = f"{__name__}.UnwritableTileCache"
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 16)
    response = client.get(f"/tiles/landmarks/16/{x}/{y}.pbf")
    assert response.status_code == 200
    assert decode(response.content)["landmarks"]["features"]
    # A full disk is one warning line (writes pause), not a traceback per request.
    assert "Tile cache full" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_reused_connection_that_died_is_replaced_without_an_error(client, landmarks):
    """The first query of a tile request stands in for Django's `SELECT 1` health check."""
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 16)
    assert client.get(f"/tiles/landmarks/16/{x}/{y}.pbf").status_code == 200
    connection = connections["default"]
    backend_pid = connection.connection.info.backend_pid
    with connections["default"].get_new_connection(connection.get_connection_params()) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    connection.health_check_done = False  # as at the start of any request on a kept connection
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 15)
    response = client.get(f"/tiles/landmarks/15/{x}/{y}.pbf")
    assert response.status_code == 200
    assert decode(response.content)["landmarks"]["features"]
    assert connection.connection.info.backend_pid != backend_pid
