"""`as_of`: a layer's features, tiles and exports as they were at an instant.

The history is written by PostgreSQL with `now()`, the start of the transaction, so these tests
run each write in its own transaction (`transaction=True`) and take their instants between the
writes, a few milliseconds apart.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import mapbox_vector_tile
import pyogrio
import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from layers import services
from layers.models import ChangeChannel, Feature
from layers.tiles.cache import TileKey, tile_cache
from layers.tiles.grid import TileCoord
from tests.factories import LayerFactory, UserFactory
from tests.importers.conftest import run as run_import
from tests.tiles.conftest import DAI_NOI, tile_and_pixel

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "lich-su"
THIEN_MU = (107.5454, 16.4535)
TRUONG_TIEN = (107.5897, 16.4683)
QUOC_HOC = (107.5860, 16.4605)
TAY_LOC = (107.5700, 16.4740)  # in the Citadel, west of Đại Nội
KINH_THANH = (107.5720, 16.4680)  # in the Citadel too
# A tile at this zoom holds both Đại Nội and Tây Lộc (checked below), so a feature moved from
# one to the other stays in it, at another pixel.
TILE_ZOOM = 13
PAUSE_S = 0.02


def _geojson_file(places: list[tuple[str, tuple[float, float]]]) -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(lon_lat)},
            "properties": {"ten": name},
        }
        for name, lon_lat in places
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _instant() -> datetime.datetime:
    """Return now, a pause after the last write and before the next one."""
    time.sleep(PAUSE_S)
    moment = timezone.now()
    time.sleep(PAUSE_S)
    return moment


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Uploads and export files go to this test's own folders."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_WORK_DIR = None


@pytest.fixture
def story(category, settings):
    """A public point layer with a history: created, edited, deleted, restored, replaced by an
    import, appended to. Returns the layer, the instants between the steps and the features."""
    settings.HISTORY_ARCHIVE_IMPORTS = True
    editor = UserFactory(username="as_of_editor", is_staff=True)
    by = services.WriteContext(user=editor, channel=ChangeChannel.API)
    at = {}
    layer = LayerFactory(
        slug=SLUG,
        category=category,
        geometry_type="point",
        name_field="ten",
        attribute_schema=[{"name": "ten", "type": "text"}],
    )
    at["before"] = _instant()
    a = services.feature_create(
        layer=layer, geom=Point(*DAI_NOI, srid=4326), attributes={"ten": "A1"}, by=by
    )
    at["a_created"] = _instant()
    b = services.feature_create(
        layer=layer, geom=Point(*THIEN_MU, srid=4326), attributes={"ten": "B"}, by=by
    )
    at["b_created"] = _instant()
    services.feature_update(
        feature=a, geom=Point(*TAY_LOC, srid=4326), attributes={"ten": "A2"}, by=by
    )
    at["a_moved"] = _instant()
    services.feature_delete(feature=Feature.objects.get(pk=b.pk), by=by)
    at["b_deleted"] = _instant()
    services.feature_restore(layer=layer, feature_id=b.pk, version=1, by=by)
    at["b_restored"] = _instant()
    replaced = run_import(
        _geojson_file([("C", TRUONG_TIEN), ("D", QUOC_HOC)]),
        layer=layer,
        name="thay.geojson",
        mode="replace",
    )
    assert replaced.status == "succeeded", replaced.messages
    at["replaced"] = _instant()
    appended = run_import(
        _geojson_file([("E", KINH_THANH)]), layer=layer, name="them.geojson", mode="append"
    )
    assert appended.status == "succeeded", appended.messages
    at["appended"] = _instant()
    layer.refresh_from_db()
    return layer, at, {"a": a.pk, "b": b.pk}


def _features(client, at: datetime.datetime | str, **params) -> dict:
    instant = at if isinstance(at, str) else _iso(at)
    response = client.get(f"/api/v1/layers/{SLUG}/features/", {"as_of": instant, **params})
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def _names(collection: dict) -> list[str]:
    return sorted(feature["properties"]["ten"] for feature in collection["features"])


def test_the_features_list_shows_the_layer_as_it_was(client, story):
    _, at, ids = story
    expected = {
        "before": [],
        "a_created": ["A1"],
        "b_created": ["A1", "B"],
        "a_moved": ["A2", "B"],
        "b_deleted": ["A2"],
        "b_restored": ["A2", "B"],
        "replaced": ["C", "D"],
        "appended": ["C", "D", "E"],
    }
    for moment, names in expected.items():
        collection = _features(client, at[moment])
        assert _names(collection) == names, moment
        assert collection["numberMatched"] == len(names), moment

    # Each feature as it was: its id, version and geometry.
    versions = {
        "b_created": {ids["a"]: (1, list(DAI_NOI)), ids["b"]: (1, list(THIEN_MU))},
        "a_moved": {ids["a"]: (2, list(TAY_LOC)), ids["b"]: (1, list(THIEN_MU))},
        "b_restored": {ids["a"]: (2, list(TAY_LOC)), ids["b"]: (2, list(THIEN_MU))},
    }
    for moment, features in versions.items():
        seen = {
            feature["id"]: (feature["version"], feature["geometry"]["coordinates"])
            for feature in _features(client, at[moment])["features"]
        }
        assert seen == features, moment


def test_a_future_instant_is_the_layer_as_it_is(client, story):
    future = timezone.now() + datetime.timedelta(days=30)
    now = json.loads(client.get(f"/api/v1/layers/{SLUG}/features/").content)
    then = _features(client, future)
    assert then["features"] == now["features"]
    assert _names(then) == ["C", "D", "E"]


def test_an_instant_with_an_offset_or_a_date_is_read_as_that_instant(client, story):
    _, at, _ = story
    local = at["a_moved"].astimezone(datetime.timezone(datetime.timedelta(hours=7)))
    assert _names(_features(client, local.isoformat())) == ["A2", "B"]
    # A date is its midnight in the city's time zone: long before this layer existed.
    assert _names(_features(client, "2020-01-01")) == []


def test_paging_counting_and_bbox_follow_the_instant(client, story):
    _, at, ids = story
    first = _features(client, at["b_created"], limit=1)
    assert first["numberMatched"] == 2 and first["numberReturned"] == 1
    assert [feature["id"] for feature in first["features"]] == [ids["a"]]
    next_query = parse_qs(urlsplit(first["next"]).query)
    assert next_query["as_of"] == [_iso(at["b_created"])]
    second = client.get(first["next"])
    assert [feature["id"] for feature in json.loads(second.content)["features"]] == [ids["b"]]

    # A box around Đại Nội: A was there before it moved to Chợ Đông Ba.
    around_dai_noi = ",".join(
        str(v)
        for v in (DAI_NOI[0] - 0.001, DAI_NOI[1] - 0.001, DAI_NOI[0] + 0.001, DAI_NOI[1] + 0.001)
    )
    assert _names(_features(client, at["b_created"], bbox=around_dai_noi)) == ["A1"]
    assert _features(client, at["a_moved"], bbox=around_dai_noi)["numberMatched"] == 0

    # Filters, text and sort work on the old rows as on the current ones.
    assert _names(_features(client, at["b_created"], ten="B")) == ["B"]
    assert _names(_features(client, at["b_created"], q="a1")) == ["A1"]
    ordered = _features(client, at["a_moved"], sortby="-ten")
    assert [feature["properties"]["ten"] for feature in ordered["features"]] == ["B", "A2"]


def test_ogc_items_honour_as_of_too(client, story):
    _, at, _ = story
    response = client.get(
        f"/ogc/collections/{SLUG}/items", {"as_of": _iso(at["a_moved"]), "f": "json"}
    )
    assert response.status_code == 200, response.content
    assert _names(json.loads(response.content)) == ["A2", "B"]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "2026-03-01T25:00"])
def test_a_bad_instant_is_refused_naming_as_of(client, story, value):
    response = client.get(f"/api/v1/layers/{SLUG}/features/", {"as_of": value})
    assert response.status_code == 400
    body = json.loads(response.content)
    assert body["parameter"] == "as_of"
    assert "as_of" in body["detail"] and "2026-03-01" in body["detail"]

    coord = tile_and_pixel(*DAI_NOI, TILE_ZOOM)
    tile = client.get(f"/tiles/{SLUG}/{TILE_ZOOM}/{coord[0]}/{coord[1]}.pbf", {"as_of": value})
    assert tile.status_code == 400
    assert json.loads(tile.content)["parameter"] == "as_of"

    export = client.get(f"/api/v1/layers/{SLUG}/export.geojson", {"as_of": value})
    assert export.status_code == 400
    assert json.loads(export.content)["parameter"] == "as_of"

    job = client.post(
        f"/api/v1/layers/{SLUG}/exports/",
        {"format": "geojson", "as_of": value},
        content_type="application/json",
    )
    assert job.status_code == 400
    assert json.loads(job.content)["parameter"] == "as_of"


def test_a_layer_one_may_not_see_is_not_found_at_any_instant(client, story):
    layer, at, _ = story
    layer.visibility = "internal"
    layer.save(update_fields=["visibility"])
    response = client.get(f"/api/v1/layers/{SLUG}/features/", {"as_of": _iso(at["a_moved"])})
    assert response.status_code == 404
    x, y, _, _ = tile_and_pixel(*DAI_NOI, TILE_ZOOM)
    tile = client.get(f"/tiles/{SLUG}/{TILE_ZOOM}/{x}/{y}.pbf", {"as_of": _iso(at["a_moved"])})
    assert tile.status_code == 404


def _decode(body: bytes) -> dict[int, tuple[str, list[int]]]:
    """Return the tile's features of the layer: id -> (name, pixel), y down."""
    decoded = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    return {
        feature["id"]: (feature["properties"]["ten"], feature["geometry"]["coordinates"])
        for feature in decoded[SLUG]["features"]
    }


def _near(pixel: list[int], expected: tuple[int, int]) -> bool:
    return abs(pixel[0] - expected[0]) <= 1 and abs(pixel[1] - expected[1]) <= 1


def test_a_tile_at_an_instant_shows_the_old_geometry_and_is_never_cached(client, story):
    layer, at, ids = story
    x, y, dai_noi_px, dai_noi_py = tile_and_pixel(*DAI_NOI, TILE_ZOOM)
    x2, y2, tay_loc_px, tay_loc_py = tile_and_pixel(*TAY_LOC, TILE_ZOOM)
    assert (x, y) == (x2, y2)
    url = f"/tiles/{SLUG}/{TILE_ZOOM}/{x}/{y}.pbf"
    cache = tile_cache()
    key = TileKey.of(layer, TileCoord(TILE_ZOOM, x, y))

    # The tile as it is now, cached once the response has been sent.
    now = client.get(url)
    assert now.status_code == 200
    now.close()
    assert cache.get(key) is not None
    cached_files = sorted(str(p) for p in Path(cache.root).rglob("*") if p.is_file())
    assert [name for name, _ in _decode(now.content).values()] == ["E"]  # A was replaced

    before_move = client.get(url, {"as_of": _iso(at["b_created"])})
    assert before_move.status_code == 200
    assert before_move["Cache-Control"].startswith("public")
    before_move.close()
    name, pixel = _decode(before_move.content)[ids["a"]]
    assert name == "A1" and _near(pixel, (dai_noi_px, dai_noi_py))

    after_move = client.get(url, {"as_of": _iso(at["a_moved"])})
    after_move.close()
    name, pixel = _decode(after_move.content)[ids["a"]]
    assert name == "A2" and _near(pixel, (tay_loc_px, tay_loc_py))

    # Before the layer had features: no tile.
    empty = client.get(url, {"as_of": _iso(at["before"])})
    assert empty.status_code == 204

    # Nothing of the past went into the cache, and the cached tile is still today's.
    assert sorted(str(p) for p in Path(cache.root).rglob("*") if p.is_file()) == cached_files
    assert client.get(url).content == now.content


def test_a_tile_at_an_instant_is_not_read_from_the_cache(client, story):
    layer, at, ids = story
    x, y, _, _ = tile_and_pixel(*DAI_NOI, TILE_ZOOM)
    key = TileKey.of(layer, TileCoord(TILE_ZOOM, x, y))
    # Whatever the cache holds for the tile, a look back renders it from the history.
    tile_cache().put(key, b"")
    response = client.get(
        f"/tiles/{SLUG}/{TILE_ZOOM}/{x}/{y}.pbf", {"as_of": _iso(at["b_created"])}
    )
    assert response.status_code == 200
    assert set(_decode(response.content)) == {ids["a"]}


def test_a_tile_at_an_instant_keeps_to_the_byte_budget(client, story, settings, caplog):
    _, at, ids = story
    x, y, _, _ = tile_and_pixel(*DAI_NOI, TILE_ZOOM)
    url = f"/tiles/{SLUG}/{TILE_ZOOM}/{x}/{y}.pbf"
    whole = client.get(url, {"as_of": _iso(at["b_created"])}, HTTP_ACCEPT_ENCODING="identity")
    assert len(_decode(whole.content)) == 1  # B, at Thiên Mụ, is in another tile
    # A budget one feature does not fit: the tile keeps as few features as it can (one).
    settings.TILE_MAX_BYTES = len(whole.content) - 1
    with caplog.at_level("INFO", logger="layers.tiles.render"):
        cut = client.get(url, {"as_of": _iso(at["b_created"])})
    assert set(_decode(cut.content)) == {ids["a"]}
    assert "largest features to stay under" in caplog.text


def test_the_tile_statement_reads_the_history_only_with_as_of(story):
    from layers.tiles.render import tile_spec
    from layers.tiles.sql import TileSQL

    layer, at, _ = story
    spec = tile_spec(layer)
    coord = TileCoord(TILE_ZOOM, *tile_and_pixel(*DAI_NOI, TILE_ZOOM)[:2])
    plain = TileSQL().query(spec, coord)
    assert "layers_featureversion" not in plain
    assert "as_of" not in TileSQL().params(spec, coord)
    from dataclasses import replace

    past = replace(spec, as_of=at["b_created"])
    assert "layers_featureversion" in TileSQL().query(past, coord)
    assert TileSQL().params(past, coord)["as_of"] == at["b_created"]


def _export_names(content: bytes, tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / name
    path.write_bytes(content)
    meta, _fids, _geometry, fields = pyogrio.raw.read(str(path))
    names = meta["fields"].tolist()
    return sorted(fields[names.index("ten")].tolist())


def test_an_export_at_an_instant_holds_the_old_features(client, story, tmp_path):
    _, at, _ = story
    response = client.get(f"/api/v1/layers/{SLUG}/export.geojson", {"as_of": _iso(at["b_created"])})
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert _export_names(content, tmp_path, "then.geojson") == ["A1", "B"]

    csv = client.get(f"/api/v1/layers/{SLUG}/export.csv", {"as_of": _iso(at["a_moved"])})
    text = b"".join(csv.streaming_content).decode("utf-8-sig")
    assert sorted(line.split(",")[1] for line in text.splitlines()[1:]) == ["A2", "B"]

    # Past the inline size, the same export becomes a job that keeps the instant.
    gpkg = client.get(f"/api/v1/layers/{SLUG}/export.gpkg", {"as_of": _iso(at["b_deleted"])})
    assert gpkg.status_code == 303
    job = client.get(gpkg["Location"])
    assert job.status_code == 200
    assert _export_names(job.getvalue(), tmp_path, "then.gpkg") == ["A2"]


def test_an_export_job_keeps_the_instant_in_utc(client, story, tmp_path):
    _, at, _ = story
    local = at["a_moved"].astimezone(datetime.timezone(datetime.timedelta(hours=7)))
    response = client.post(
        f"/api/v1/layers/{SLUG}/exports/",
        {"format": "geojson", "as_of": local.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    job = json.loads(response.content)
    assert job["params"]["as_of"] == at["a_moved"].astimezone(datetime.UTC).isoformat()
    where = urlsplit(job["url"])
    download = client.get(f"{where.path}download/?{where.query}")
    assert download.status_code == 200, download.content
    assert _export_names(download.getvalue(), tmp_path, "job.geojson") == ["A2", "B"]


def test_the_plain_features_query_reads_only_the_table(story):
    """Without `as_of` nothing changes: the statement never names the history."""
    from layers.features import geojson
    from layers.features.query import FeatureQuery

    layer, at, _ = story
    statement, _params = geojson.page_sql(FeatureQuery(layer_id=layer.pk), limit=10, offset=0)
    assert "layers_featureversion" not in statement.as_string(connection.connection)
    statement, _params = geojson.page_sql(
        FeatureQuery(layer_id=layer.pk, as_of=at["a_moved"]), limit=10, offset=0
    )
    assert "layers_featureversion" in statement.as_string(connection.connection)
