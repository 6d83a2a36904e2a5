"""GET /api/v1/layers/{slug}/features/: GeoJSON pages, filters, text, sorting, paging and errors."""

import json

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers.features.query import mercator_box
from layers.models import Feature
from layers.services import FeatureRecord, layer_append_features, layer_refresh_stats
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/layers/dia-diem-hue/features/"
HUE_SCHEMA_TEN = [{"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"}]


def body(response) -> dict:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return json.loads(content)


def names(collection: dict) -> list[str]:
    return [feature["properties"]["ten"] for feature in collection["features"]]


def test_a_page_is_a_geojson_feature_collection(api, hue_places):
    response = api().get(URL, {"limit": 3})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    collection = body(response)
    assert collection["type"] == "FeatureCollection"
    assert collection["numberMatched"] == 8
    assert collection["numberReturned"] == 3
    first = collection["features"][0]
    assert first["type"] == "Feature"
    assert first["geometry"] == {"type": "Point", "coordinates": [107.5786, 16.4698]}
    assert first["properties"] == {
        "ten": "Đại Nội", "loai": "di tích", "so_tang": 1, "dien_tich": 520000.0, "mo_cua": True,
    }  # fmt: skip
    assert Feature.objects.get(pk=first["id"]).name == "Đại Nội"
    rels = {link["rel"]: link["href"] for link in collection["links"]}
    assert "offset=3" in rels["next"] and "limit=3" in rels["next"]
    assert collection["next"] == rels["next"]
    assert collection["prev"] is None and "prev" not in rels


def test_next_and_prev_links_keep_the_other_parameters(api, hue_places):
    collection = body(api().get(URL, {"limit": 2, "offset": 2, "loai": "bệnh viện"}))
    assert collection["numberMatched"] == 2
    assert collection["numberReturned"] == 0
    assert collection["next"] is None
    assert "offset=0" in collection["prev"]
    assert "loai=b%E1%BB%87nh+vi%E1%BB%87n" in collection["prev"]


def test_bbox_keeps_the_features_inside(api, hue_places):
    # Around the Citadel and the Dong Ba market, north of the river.
    collection = body(api().get(URL, {"bbox": "107.57,16.465,107.595,16.48"}))
    assert sorted(names(collection)) == ["Chợ Đông Ba", "Cầu Trường Tiền", "Đại Nội"]


def test_bbox_edges_and_the_poles_are_kept(api, category):
    # The box is first cut in 3857 (the GiST index on geom_3857), then tested exactly in 4326: a
    # point on the box's edge, and points past Web Mercator's ±85.05° up to the poles, still match.
    layer = LayerFactory(
        slug="edges", category=category, visibility="public", attribute_schema=HUE_SCHEMA_TEN
    )
    places = {"edge": (107.57, 16.465), "north": (10.0, 89.0), "pole": (0.0, 90.0),
              "south": (-10.0, -89.5), "outside": (107.5, 16.4)}  # fmt: skip
    layer_append_features(
        layer=layer,
        records=[
            FeatureRecord(geom=Point(lon, lat, srid=4326), attributes={"ten": name})
            for name, (lon, lat) in places.items()
        ],
    )
    url = "/api/v1/layers/edges/features/"
    assert names(body(api().get(url, {"bbox": "107.57,16.465,107.595,16.48"}))) == ["edge"]
    assert sorted(names(body(api().get(url, {"bbox": "-180,-90,180,90"})))) == sorted(places)
    assert names(body(api().get(url, {"bbox": "0,86,20,90"}))) == ["north", "pole"]
    assert names(body(api().get(url, {"bbox": "-20,-90,0,-85.06"}))) == ["south"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"loai": "bệnh viện"}, {"Bệnh viện Trung ương Huế", "Bệnh viện Đại học Y Dược Huế"}),
        ({"so_tang__gt": "6"}, {"Bệnh viện Trung ương Huế", "Bệnh viện Đại học Y Dược Huế",
                                "Chùa Thiên Mụ"}),
        ({"so_tang__lt": "2"}, {"Đại Nội", "Lăng Tự Đức"}),
        ({"so_tang__gte": "7", "so_tang__lte": "7"},
         {"Bệnh viện Đại học Y Dược Huế", "Chùa Thiên Mụ"}),
        ({"dien_tich__gt": "120000"}, {"Đại Nội", "Bệnh viện Trung ương Huế"}),
        ({"so_tang": "9"}, {"Bệnh viện Trung ương Huế"}),
        ({"loai__in": "chùa,cầu"}, {"Chùa Thiên Mụ", "Cầu Trường Tiền"}),
        ({"so_tang__in": "1,2"}, {"Đại Nội", "Chợ Đông Ba", "Lăng Tự Đức", "Trường Quốc Học"}),
        ({"ten__contains": "thien mu"}, {"Chùa Thiên Mụ"}),
        ({"ten__contains": "ĐÔNG"}, {"Chợ Đông Ba"}),
        ({"mo_cua": "false"}, {"Chợ Đông Ba"}),
        ({"q": "benh vien"}, {"Bệnh viện Trung ương Huế", "Bệnh viện Đại học Y Dược Huế"}),
        ({"q": "HUE dai"}, {"Bệnh viện Đại học Y Dược Huế"}),
        ({"q": "100%_"}, set()),
    ],
)  # fmt: skip
def test_attribute_filters_and_text(api, hue_places, params, expected):
    collection = body(api().get(URL, params))
    assert set(names(collection)) == expected
    assert collection["numberMatched"] == len(expected)


def test_a_number_stored_as_text_still_compares_as_a_number(api, hue_places):
    layer_append_features(
        layer=hue_places,
        records=[
            FeatureRecord(Point(107.59, 16.46, srid=4326), {"ten": "Nhà cao", "so_tang": "12"}),
            FeatureRecord(Point(107.59, 16.46, srid=4326), {"ten": "Nhà lạ", "so_tang": "n/a"}),
        ],
    )
    collection = body(api().get(URL, {"so_tang__gt": "10"}))
    assert names(collection) == ["Nhà cao"]


def test_properties_and_sortby(api, hue_places):
    collection = body(api().get(URL, {"properties": "ten,so_tang", "sortby": "-so_tang,ten"}))
    assert [f["properties"] for f in collection["features"][:3]] == [
        {"ten": "Bệnh viện Trung ương Huế", "so_tang": 9},
        {"ten": "Bệnh viện Đại học Y Dược Huế", "so_tang": 7},
        {"ten": "Chùa Thiên Mụ", "so_tang": 7},
    ]
    # A feature without the value sorts last, whichever the direction.
    assert collection["features"][-1]["properties"] == {"ten": "Cầu Trường Tiền", "so_tang": None}
    ascending = body(api().get(URL, {"sortby": "+dien_tich", "properties": ""}))
    assert ascending["features"][0]["properties"] == {}
    first = Feature.objects.get(pk=ascending["features"][0]["id"])
    assert first.name == "Cầu Trường Tiền"


def test_paging_returns_each_feature_exactly_once(api, category):
    layer = LayerFactory(slug="nha", category=category, attribute_schema=[
        {"name": "ten", "type": "text"}, {"name": "nhom", "type": "integer"}])  # fmt: skip
    records = [
        FeatureRecord(Point(107.5 + i * 1e-4, 16.4, srid=4326), {"ten": f"Nhà {i}", "nhom": i % 3})
        for i in range(203)
    ]
    layer_append_features(layer=layer, records=records)
    expected = set(Feature.objects.filter(layer=layer).values_list("pk", flat=True))
    for params in ({"limit": 10}, {"limit": 7, "sortby": "-nhom"}, {"limit": 50, "sortby": "ten"}):
        seen = []
        url = f"/api/v1/layers/{layer.slug}/features/"
        client = api()
        page = body(client.get(url, params))
        while True:
            seen += [feature["id"] for feature in page["features"]]
            assert page["numberMatched"] == 203
            if not page["next"]:
                break
            page = body(client.get(page["next"]))
        assert len(seen) == len(expected)
        assert set(seen) == expected


def test_a_large_page_is_streamed_whole(api, category):
    layer = LayerFactory(slug="nhieu", category=category)
    layer_append_features(
        layer=layer,
        records=(
            FeatureRecord(Point(107.5, 16.4 + i * 1e-5, srid=4326), {"ten": f"Điểm {i}"})
            for i in range(1234)
        ),
    )
    response = api().get(f"/api/v1/layers/{layer.slug}/features/", {"limit": 1200, "offset": 10})
    assert response.streaming
    collection = body(response)
    assert collection["numberReturned"] == 1200
    assert collection["numberMatched"] == 1234
    assert [f["properties"]["ten"] for f in collection["features"][:2]] == ["Điểm 10", "Điểm 11"]
    assert "offset=1210" in collection["next"]


def test_one_feature(api, hue_places, river_and_citadel):
    feature = Feature.objects.get(layer=hue_places, name="Chùa Thiên Mụ")
    response = api().get(f"{URL}{feature.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    data = body(response)
    assert data["id"] == feature.pk
    assert data["properties"]["ten"] == "Chùa Thiên Mụ"
    other = Feature.objects.filter(layer=river_and_citadel).first()
    missing = api().get(f"{URL}{other.pk}/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not-found"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "107.6,16.5,107.5,16.4"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "500000,1800000,510000,1810000"}, "bbox"),
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"chieu_cao": "3"}, "chieu_cao"),
        ({"so_tang__between": "3"}, "so_tang__between"),
        ({"so_tang__gt": "nhiều"}, "so_tang__gt"),
        ({"so_tang__gt": "NaN"}, "so_tang__gt"),
        ({"mo_cua": "có"}, "mo_cua"),
        ({"mo_cua__gt": "true"}, "mo_cua__gt"),
        ({"sortby": "chieu_cao"}, "sortby"),
        ({"properties": "ten,chieu_cao"}, "properties"),
        ({"ten__contains": ""}, "ten__contains"),
    ],
)
def test_errors_name_the_offending_parameter(api, hue_places, params, parameter):
    response = api().get(URL, params)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid-parameter"
    assert error["parameter"] == parameter
    assert error["detail"]


def test_a_parameter_given_twice_is_an_error(api, hue_places):
    response = api().get(f"{URL}?loai=chùa&loai=cầu")
    assert response.status_code == 400
    assert response.json()["parameter"] == "loai"


def test_counts_follow_the_data_even_without_a_filter(api, hue_places):
    Feature.objects.filter(layer=hue_places, name="Chợ Đông Ba").delete()
    layer_refresh_stats(layer=hue_places)
    assert body(api().get(URL))["numberMatched"] == 7


def test_a_short_page_is_the_last_even_if_the_count_is_stale(api, hue_places):
    # The whole layer's count comes from the layer (kept by the services); were it ever wrong,
    # a client following next links must still stop.
    type(hue_places).objects.filter(pk=hue_places.pk).update(feature_count=100)
    page = body(api().get(URL, {"limit": 5, "offset": 5}))
    assert page["numberReturned"] == 3
    assert page["next"] is None


@pytest.mark.parametrize(
    ("lon", "lat"), [(107.5786, 16.4698), (-180.0, -85.05), (180.0, 85.05), (0.0, 0.0)]
)
def test_the_3857_box_matches_postgis(lon, lat):
    # The bbox is transformed in Python; it must agree with the ST_Transform behind geom_3857.
    min_x, min_y, max_x, max_y = mercator_box((lon, lat, lon, lat))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), "
            "3857) AS g",
            [lon, lat],
        )
        x, y = cursor.fetchone()
    assert min_x < x < max_x and min_y < y < max_y
    assert max_x - min_x < 0.01 and max_y - min_y < 0.01


def test_a_filtered_count_is_made_once_per_version_of_the_data(api, hue_places, staff):
    """numberMatched of a filtered page is counted once per version of the layer's data: the
    next pages reuse it, and an edit (a new version) is counted again, never shown stale."""

    url = f"/api/v1/layers/{hue_places.slug}/features/"
    query = {"filter": "ten LIKE '%'", "limit": 2}

    def matched_and_counts(offset: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            body = api().get(url, {**query, "offset": offset}).json()
        counts = sum(q["sql"].startswith("SELECT count(*)") for q in queries.captured_queries)
        return body["numberMatched"], counts

    total = Feature.objects.filter(layer=hue_places).count()
    assert matched_and_counts(0) == (total, 1)
    assert matched_and_counts(2) == (total, 0)  # the second page: from the cache
    response = api(staff).post(
        url,
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [107.58, 16.46]},
         "properties": {"ten": "Mới"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert matched_and_counts(0) == (total + 1, 1)
