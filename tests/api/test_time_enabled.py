# ruff: noqa: F811  (the fixtures imported from tests.api.conftest are used as arguments)
"""Time-enabled layers: `datetime=` on the REST features, OGC items, tiles and exports; the
temporal extent in the layer detail, the OGC collection and TileJSON; the validation of the
time fields.

Two small layers of Huế: boundaries valid over intervals of dates (open ends, a whole-day end,
a date-time start, a feature with no time, one whose date is not a date), and events at instants
(a date-time with an offset, one without, a date). The expected sets are written out by hand
from the dates: a date is its whole day in the city's time (UTC+7), an instant has no length,
open ends are open.
"""

from __future__ import annotations

import gzip

import mapbox_vector_tile
import pytest
from django.contrib.gis.geos import Point, Polygon
from django.core.exceptions import ValidationError
from django.utils import translation

from layers.services import FeatureRecord, layer_replace_features
from layers.tiles.cache import TileKey, tile_cache
from layers.tiles.grid import TileCoord
from tests.api.conftest import _private_tile_cache, api, hue_places  # noqa: F401  (fixtures)
from tests.factories import LayerFactory
from tests.tiles.conftest import tile_and_pixel

pytestmark = pytest.mark.django_db

BOUNDARY_SCHEMA = [
    {"name": "ten", "type": "text"},
    {"name": "valid_from", "type": "date"},
    {"name": "valid_to", "type": "date"},
]
EVENT_SCHEMA = [{"name": "ten", "type": "text"}, {"name": "ngay", "type": "datetime"}]
# name: (valid_from, valid_to); None leaves the attribute out.
BOUNDARIES = {
    "huyen-cu": ("2008-08-01", "2025-06-30"),  # a district, until the reform
    "phuong-moi": ("2025-07-01", None),  # a ward since the reform, still valid
    "tam-thoi": ("2025-03-01", "2025-03-31"),  # a month
    "hong": ("không rõ", "2025-12-31"),  # a start that is not a date: never matches
    "khong-thoi-gian": (None, None),  # no time: matches every datetime (OGC)
    "tu-toi-30-6": ("2025-06-30T22:00:00+07:00", ""),  # an empty end is open
}
EVENTS = {
    "hop-utc": "2025-06-15T10:00:00Z",
    "le-ngay": "2025-07-01",  # the whole day
    "sang-1-7": "2025-07-01T09:00:00",  # city time: 02:00 UTC
    "khong-ngay": None,
    "sai": "soon",
}
# Huế's centre, around which the boundaries are drawn as small squares (all in one z12 tile).
HUE = (107.585, 16.463)


def square(index: int) -> Polygon:
    lon, lat = HUE[0] + (index % 3) * 0.004, HUE[1] + (index // 3) * 0.004
    return Polygon.from_bbox((lon, lat, lon + 0.003, lat + 0.003))


@pytest.fixture
def boundaries(category):
    layer = LayerFactory(
        slug="ranh-gioi-thoi-gian",
        category=category,
        visibility="public",
        geometry_type="polygon",
        name_field="ten",
        attribute_schema=BOUNDARY_SCHEMA,
        time_start_field="valid_from",
        time_end_field="valid_to",
        tile_fields=["ten"],
    )
    records = []
    for index, (name, (start, end)) in enumerate(BOUNDARIES.items()):
        attributes = {"ten": name}
        if start is not None:
            attributes["valid_from"] = start
        if end is not None:
            attributes["valid_to"] = end
        records.append(FeatureRecord(geom=square(index), attributes=attributes))
    layer_replace_features(layer=layer, records=records)
    layer.refresh_from_db()
    return layer


@pytest.fixture
def events(category):
    layer = LayerFactory(
        slug="su-kien",
        category=category,
        visibility="public",
        geometry_type="point",
        name_field="ten",
        attribute_schema=EVENT_SCHEMA,
        time_start_field="ngay",
        tile_fields=["ten"],
    )
    records = []
    for index, (name, moment) in enumerate(EVENTS.items()):
        attributes = {"ten": name} | ({"ngay": moment} if moment is not None else {})
        point = Point(HUE[0] + index * 0.002, HUE[1], srid=4326)
        records.append(FeatureRecord(geom=point, attributes=attributes))
    layer_replace_features(layer=layer, records=records)
    layer.refresh_from_db()
    return layer


def rest_names(client, layer, datetime: str | None) -> set[str]:
    params = {"limit": 100} | ({"datetime": datetime} if datetime is not None else {})
    response = client.get(f"/api/v1/layers/{layer.slug}/features/", params)
    assert response.status_code == 200, response.content
    body = response.json()
    names = {feature["properties"]["ten"] for feature in body["features"]}
    assert body["numberMatched"] == len(names)
    return names


def ogc_names(client, layer, datetime: str) -> set[str]:
    response = client.get(f"/ogc/collections/{layer.slug}/items", {"datetime": datetime})
    assert response.status_code == 200, response.content
    body = response.json()
    names = {feature["properties"]["ten"] for feature in body["features"]}
    assert body["numberMatched"] == len(names)
    return names


BOUNDARY_CASES = [
    # The last day of the districts: a date is the whole day.
    ("2025-06-30", {"huyen-cu", "khong-thoi-gian", "tu-toi-30-6"}),
    ("2025-07-01", {"phuong-moi", "khong-thoi-gian", "tu-toi-30-6"}),
    # 23:59:59 on 30 June in Huế, then midnight of 1 July: the reform's instant.
    ("2025-06-30T16:59:59Z", {"huyen-cu", "khong-thoi-gian", "tu-toi-30-6"}),
    ("2025-06-30T17:00:00Z", {"phuong-moi", "khong-thoi-gian", "tu-toi-30-6"}),
    ("2025-07-01T00:00:00+07:00", {"phuong-moi", "khong-thoi-gian", "tu-toi-30-6"}),
    ("2025-06-30T21:59:59", {"huyen-cu", "khong-thoi-gian"}),  # no offset: the city's time
    ("2025-03-15", {"huyen-cu", "tam-thoi", "khong-thoi-gian"}),
    ("2025-04-01/2025-06-01", {"huyen-cu", "khong-thoi-gian"}),
    ("../2025-03-01", {"huyen-cu", "tam-thoi", "khong-thoi-gian"}),
    ("/2008-07-31", {"khong-thoi-gian"}),  # an empty end is open too, as OGC allows
    ("2026-01-01/..", {"phuong-moi", "khong-thoi-gian", "tu-toi-30-6"}),
    ("2025-03-31T16:59:59.999999Z/2025-06-30T15:00:00Z", {
        "huyen-cu", "tam-thoi", "khong-thoi-gian", "tu-toi-30-6"}),
]  # fmt: skip
EVENT_CASES = [
    ("2025-07-01", {"le-ngay", "sang-1-7", "khong-ngay"}),
    ("2025-07-01T02:00:00Z", {"le-ngay", "sang-1-7", "khong-ngay"}),  # an instant meets it
    ("2025-07-01T02:00:01Z", {"le-ngay", "khong-ngay"}),
    ("2025-06-01/2025-06-30", {"hop-utc", "khong-ngay"}),
    ("../2025-06-15T10:00:00Z", {"hop-utc", "khong-ngay"}),  # closed at its end
    ("2025-06-15T10:00:00.000001Z/..", {"le-ngay", "sang-1-7", "khong-ngay"}),
    ("2025-07-02/..", {"khong-ngay"}),
]


@pytest.mark.parametrize(("datetime", "expected"), BOUNDARY_CASES)
def test_rest_features_of_a_validity_interval(api, boundaries, datetime, expected):
    assert rest_names(api(), boundaries, datetime) == expected


@pytest.mark.parametrize(("datetime", "expected"), EVENT_CASES)
def test_rest_features_of_a_time_field(api, events, datetime, expected):
    assert rest_names(api(), events, datetime) == expected


def test_without_datetime_every_feature(api, boundaries, events):
    assert rest_names(api(), boundaries, None) == set(BOUNDARIES)
    assert rest_names(api(), events, None) == set(EVENTS)


@pytest.mark.parametrize(("datetime", "expected"), BOUNDARY_CASES[:6] + EVENT_CASES[:3])
def test_ogc_items_as_the_rest_api(api, boundaries, events, datetime, expected):
    layer = events if expected & set(EVENTS) else boundaries
    assert ogc_names(api(), layer, datetime) == expected


def test_a_layer_without_time_ignores_datetime(api, hue_places):
    """OGC /req/core/fc-time-response C: features with no temporal geometry match any datetime."""
    everything = rest_names(api(), hue_places, None)
    assert len(everything) == 8
    assert rest_names(api(), hue_places, "1900-01-01") == everything
    assert ogc_names(api(), hue_places, "1900-01-01/1900-01-02") == everything


@pytest.mark.parametrize(
    "value",
    ["2025-13-01", "yesterday", "2025-07-01/2025-06-01", "../..", "2025-01-01/2025-02-01/2025-03",
     "20250701", "2025-07-01T25:00:00Z", "1/.."],
)  # fmt: skip
def test_a_bad_datetime_is_a_400_in_the_error_vocabulary(api, boundaries, hue_places, value):
    for layer in (boundaries, hue_places):  # checked even where it would be ignored
        rest = api().get(f"/api/v1/layers/{layer.slug}/features/", {"datetime": value})
        assert rest.status_code == 400, rest.content
        assert rest.json()["code"] == "invalid-parameter"
        assert rest.json()["parameter"] == "datetime"
        assert (
            "2025-07-01" in rest.json()["detail"]
            or "ends before" in rest.json()["detail"]
            or ("at least one end" in rest.json()["detail"])
        )
        ogc = api().get(f"/ogc/collections/{layer.slug}/items", {"datetime": value})
        assert ogc.status_code == 400, ogc.content
        assert ogc.json()["code"] == "InvalidParameterValue"
        tile = api().get(f"/tiles/{layer.slug}/12/3271/1866.pbf", {"datetime": value})
        assert tile.status_code == 400
        assert tile.json()["code"] == "invalid-parameter"


# --- temporal extents ------------------------------------------------------------------------


def test_layer_detail_and_collection_give_the_temporal_extent(api, boundaries, events, hue_places):
    # The earliest start is 2008-08-01; one feature is still valid: the end is open.
    expected = {
        "interval": [["2008-08-01T00:00:00+07:00", None]],
        "start_field": "valid_from",
        "end_field": "valid_to",
    }
    detail = api().get(f"/api/v1/layers/{boundaries.slug}/").json()
    assert detail["temporal"] == expected
    collection = api().get(f"/ogc/collections/{boundaries.slug}").json()
    assert collection["extent"]["temporal"] == {
        "interval": [["2008-08-01T00:00:00+07:00", None]],
        "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
    }
    # Instants: from the first to the end of the last day (a date is its whole day).
    events_detail = api().get(f"/api/v1/layers/{events.slug}/").json()
    assert events_detail["temporal"] == {
        "interval": [["2025-06-15T17:00:00+07:00", "2025-07-01T23:59:59.999999+07:00"]],
        "start_field": "ngay",
        "end_field": None,
    }
    assert api().get(f"/api/v1/layers/{hue_places.slug}/").json()["temporal"] is None
    assert "temporal" not in api().get(f"/ogc/collections/{hue_places.slug}").json()["extent"]


def test_the_extent_follows_the_data(api, events):
    before = api().get(f"/api/v1/layers/{events.slug}/").json()["temporal"]["interval"]
    layer_replace_features(
        layer=events,
        records=[
            FeatureRecord(
                geom=Point(*HUE, srid=4326), attributes={"ten": "x", "ngay": "2030-01-02"}
            )
        ],
    )
    after = api().get(f"/api/v1/layers/{events.slug}/").json()["temporal"]["interval"]
    assert before != after
    assert after == [["2030-01-02T00:00:00+07:00", "2030-01-02T23:59:59.999999+07:00"]]


def test_tilejson_advertises_the_temporal_extent(api, boundaries, hue_places):
    one = api().get(f"/tiles/{boundaries.slug}.json").json()
    assert one["temporal"] == {
        "interval": [["2008-08-01T00:00:00+07:00", None]],
        "start_field": "valid_from",
        "end_field": "valid_to",
        "parameter": "datetime",
    }
    both = api().get(f"/tiles/{boundaries.slug},{hue_places.slug}.json").json()
    assert both["temporal"]["interval"] == [["2008-08-01T00:00:00+07:00", None]]
    assert "start_field" not in both["temporal"]
    by_id = {layer["id"]: layer for layer in both["vector_layers"]}
    assert by_id[boundaries.slug]["temporal"]["start_field"] == "valid_from"
    assert "temporal" not in by_id[hue_places.slug]
    assert "temporal" not in api().get(f"/tiles/{hue_places.slug}.json").json()


# --- tiles ---------------------------------------------------------------------------------------

Z = 12


def tile_names(client, slugs: str, datetime: str | None = None) -> dict[str, set[str]]:
    x, y, _px, _py = tile_and_pixel(*HUE, Z)
    params = {"datetime": datetime} if datetime is not None else {}
    response = client.get(f"/tiles/{slugs}/{Z}/{x}/{y}.pbf", params, HTTP_ACCEPT_ENCODING="gzip")
    if response.status_code == 204:
        return {}
    assert response.status_code == 200, response.content
    decoded = mapbox_vector_tile.decode(gzip.decompress(response.content))
    return {
        name: {feature["properties"]["ten"] for feature in layer["features"]}
        for name, layer in decoded.items()
    }


@pytest.mark.parametrize(("datetime", "expected"), BOUNDARY_CASES[:4] + BOUNDARY_CASES[7:9])
def test_tiles_draw_the_features_of_the_time_asked(api, boundaries, datetime, expected):
    assert tile_names(api(), boundaries.slug, datetime) == {boundaries.slug: expected}


def test_time_field_tiles(api, events):
    assert tile_names(api(), events.slug, "2025-07-01T02:00:01Z") == {
        events.slug: {"le-ngay", "khong-ngay"}
    }


def test_datetime_tiles_are_never_cached(api, boundaries, hue_places):
    x, y, _px, _py = tile_and_pixel(*HUE, Z)
    coord = TileCoord(Z, x, y)
    assert tile_names(api(), boundaries.slug, "2025-07-01")
    cache = tile_cache()
    assert cache.get(TileKey.of(boundaries, coord)) is None
    # The plain tile holds every feature, their time aside.
    assert tile_names(api(), boundaries.slug) == {boundaries.slug: set(BOUNDARIES)}


def test_a_datetime_every_feature_meets_is_the_cached_tile(api, category):
    """Today on the current boundaries: the plain tile, from the tile cache, is the answer."""
    layer = LayerFactory(
        slug="phuong-hien-tai", category=category, visibility="public", geometry_type="polygon",
        attribute_schema=BOUNDARY_SCHEMA, time_start_field="valid_from",
        time_end_field="valid_to", tile_fields=["ten"],
    )  # fmt: skip
    records = [
        FeatureRecord(
            geom=square(index), attributes={"ten": f"p{index}", "valid_from": "2025-07-01"}
        )
        for index in range(3)
    ]
    layer_replace_features(layer=layer, records=records)
    layer.refresh_from_db()
    x, y, _px, _py = tile_and_pixel(*HUE, Z)
    key = TileKey.of(layer, TileCoord(Z, x, y))
    assert tile_names(api(), layer.slug, "2025-06-30") == {}  # before: nothing, rendered
    assert tile_cache().get(key) is None
    assert tile_names(api(), layer.slug, "2026-01-01") == {layer.slug: {"p0", "p1", "p2"}}
    assert tile_cache().get(key) is not None  # the plain tile, cached once sent
    # A change of data is a new version: asked again, and now one feature does not meet it.
    layer_replace_features(
        layer=layer,
        records=[*records, FeatureRecord(geom=square(4), attributes={"ten": "p4",
                 "valid_from": "2027-01-01"})],
    )  # fmt: skip
    assert tile_names(api(), layer.slug, "2026-01-01") == {layer.slug: {"p0", "p1", "p2"}}


def test_several_layers_filter_only_the_time_enabled_ones(api, boundaries, hue_places):
    plain = tile_names(api(), hue_places.slug)
    names = tile_names(api(), f"{boundaries.slug},{hue_places.slug}", "2025-07-01")
    assert names[boundaries.slug] == {"phuong-moi", "khong-thoi-gian", "tu-toi-30-6"}
    assert names[hue_places.slug] == plain[hue_places.slug]
    # A layer without time: `datetime` alone gives the plain tile, byte for byte.
    x, y, _px, _py = tile_and_pixel(*HUE, Z)
    url = f"/tiles/{hue_places.slug}/{Z}/{x}/{y}.pbf"
    with_time = api().get(url, {"datetime": "2025-07-01"}, HTTP_ACCEPT_ENCODING="gzip")
    without = api().get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert with_time.content == without.content


def test_ogc_api_tiles_take_datetime(api, boundaries):
    x, y, _px, _py = tile_and_pixel(*HUE, Z)
    url = f"/ogc/collections/{boundaries.slug}/tiles/WebMercatorQuad/{Z}/{y}/{x}"
    response = api().get(url, {"datetime": "2025-06-30"}, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200, response.content
    decoded = mapbox_vector_tile.decode(gzip.decompress(response.content))
    names = {feature["properties"]["ten"] for feature in decoded[boundaries.slug]["features"]}
    assert names == {"huyen-cu", "khong-thoi-gian", "tu-toi-30-6"}


# --- exports -------------------------------------------------------------------------------------


def test_exports_keep_datetime(api, boundaries):
    response = api().get(f"/api/v1/layers/{boundaries.slug}/export.csv", {"datetime": "2025-07-01"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "phuong-moi" in text and "huyen-cu" not in text and "tam-thoi" not in text
    bad = api().post(
        f"/api/v1/layers/{boundaries.slug}/exports/",
        {"format": "geojson", "datetime": "2025-07-01/2025-01-01"},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["parameter"] == "datetime"


# --- validation ----------------------------------------------------------------------------------


@translation.override("en")  # the site speaks Vietnamese by default
def test_time_fields_are_validated(category):
    layer = LayerFactory.build(slug="kiem-tra", category=category, attribute_schema=BOUNDARY_SCHEMA)
    layer.time_start_field = "valid_from"
    layer.time_end_field = "valid_to"
    layer.full_clean()  # fine
    layer.time_start_field = "ngay_lap"
    with pytest.raises(ValidationError) as error:
        layer.full_clean()
    assert "'ngay_lap' is not an attribute" in str(error.value.message_dict["time_start_field"])
    assert "valid_from" in str(error.value.message_dict["time_start_field"])
    layer.time_start_field = "ten"
    with pytest.raises(ValidationError) as error:
        layer.full_clean()
    assert "must be of type date or datetime" in str(error.value.message_dict["time_start_field"])
    layer.time_start_field = ""
    with pytest.raises(ValidationError) as error:
        layer.full_clean()
    assert "needs its start field" in str(error.value.message_dict["time_start_field"])
    layer.time_start_field = layer.time_end_field = "valid_to"
    with pytest.raises(ValidationError) as error:
        layer.full_clean()
    assert "another attribute" in str(error.value.message_dict["time_end_field"])


def test_staff_set_the_time_fields_through_the_api(api, staff, hue_places):
    bad = api(staff).patch(
        f"/api/v1/layers/{hue_places.slug}/",
        {"time_start_field": "ten"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert bad.status_code == 400, bad.content
    assert "date or datetime" in bad.content.decode()
    # In the site's language otherwise.
    bad = api(staff).patch(
        f"/api/v1/layers/{hue_places.slug}/", {"time_start_field": "ten"}, format="json"
    )
    assert "ngày hoặc ngày giờ" in bad.json()["detail"], bad.json()


def test_admin_shows_the_time_fields(client, admin_user, boundaries):
    client.force_login(admin_user)
    page = client.get(f"/admin/layers/layer/{boundaries.pk}/change/").content.decode()
    assert 'name="time_start_field"' in page and 'value="valid_from"' in page
    assert 'name="time_end_field"' in page and 'value="valid_to"' in page


# --- the web map's style and configuration -------------------------------------------------------


def test_a_time_enabled_layer_keeps_a_source_of_its_own(settings, boundaries, hue_places):
    """The base map's composite tiles stay free of `datetime` (and cached): a time-enabled base
    layer is drawn from a source of its own, which the map's time slider gives `datetime=`."""
    from frontend.catalogue import map_config
    from layers.styles import map_style

    settings.WEBMAP_BASE_LAYERS = [hue_places.slug, boundaries.slug]
    style = map_style([hue_places, boundaries], origin="http://testserver")
    assert style["metadata"]["mapserver:composite"] == [hue_places.slug]
    assert style["metadata"]["mapserver:base"] == [hue_places.slug, boundaries.slug]
    assert f"/tiles/{boundaries.slug}/" in style["sources"][f"S:{boundaries.slug}"]["tiles"][0]
    assert f"/tiles/{hue_places.slug}/" in style["sources"]["base"]["tiles"][0]
    entries = {entry["slug"]: entry for entry in map_config(user=None)["layers"]}
    assert entries[boundaries.slug]["temporal"]["interval"] == [["2008-08-01T00:00:00+07:00", None]]
    assert entries[hue_places.slug]["temporal"] is None


def test_identify_finds_the_features_of_the_time(api, boundaries, hue_places):
    centre = square(0).centroid  # huyen-cu, valid to 2025-06-30
    url = "/api/v1/identify/"
    params = {"lon": centre.x, "lat": centre.y, "zoom": 18,
              "layers": f"{boundaries.slug},{hue_places.slug}"}  # fmt: skip

    def names(datetime=None):
        extra = {"datetime": datetime} if datetime else {}
        response = api().get(url, params | extra)
        assert response.status_code == 200, response.content
        return [feature["properties"].get("ten") for feature in response.json()["features"]]

    assert names() == ["huyen-cu"]
    assert names("2025-06-30") == ["huyen-cu"]
    assert names("2025-07-01") == []
    bad = api().get(url, params | {"datetime": "2025-07-01/2025-01-01"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "datetime"
    # A layer without time is not filtered: Đại Nội is found at any datetime.
    dai_noi = {"lon": 107.5786, "lat": 16.4698, "zoom": 18, "layers": hue_places.slug}
    found = api().get(url, dai_noi | {"datetime": "1900-01-01"}).json()["features"]
    assert [feature["properties"]["ten"] for feature in found] == ["Đại Nội"]
