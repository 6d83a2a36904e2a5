"""GET search/ (accent-insensitive, ranked, across layers) and identify/ (features at a point)."""

import pytest
from django.contrib.gis.geos import Point

from layers.models import Feature
from layers.services import FeatureRecord, layer_append_features
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db


def search(api, **params):
    response = api().get("/api/v1/search/", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize(
    ("q", "first"),
    [
        ("dai noi", "Đại Nội"),
        ("DAI NOI", "Đại Nội"),
        ("Đại Nội", "Đại Nội"),
        ("đại nội", "Đại Nội"),
        ("thien mu", "Chùa Thiên Mụ"),
        ("truong tien", "Cầu Trường Tiền"),
        ("kinh thanh", "Kinh thành Huế"),
        ("song huong", "Sông Hương"),
    ],
)
def test_search_ignores_accents_and_case(api, hue_places, river_and_citadel, q, first):
    results = search(api, q=q)
    assert results[0]["name"] == first


def test_benh_vien_finds_the_hospitals(api, hue_places):
    results = search(api, q="benh vien")
    assert {hit["name"] for hit in results} == {
        "Bệnh viện Trung ương Huế",
        "Bệnh viện Đại học Y Dược Huế",
    }
    hit = results[0]
    assert hit["layer"] == hue_places.slug
    assert hit["layer_title"] == "Địa điểm Huế"
    feature = Feature.objects.get(pk=hit["id"])
    assert hit["centroid"] == pytest.approx([feature.geom.x, feature.geom.y])
    assert hit["bbox"] == pytest.approx([feature.geom.x, feature.geom.y] * 2)


def test_hits_are_ranked_exact_then_prefix_then_similar(api, hue_places, category):
    layer = LayerFactory(slug="cho", category=category)
    layer_append_features(
        layer=layer,
        records=[
            FeatureRecord(Point(107.58, 16.47, srid=4326), {"ten": name})
            for name in ("Khu chợ Đông Ba cũ", "Chợ Đông Ba Mới", "chợ đông ba")
        ],
    )
    names = [hit["name"] for hit in search(api, q="cho dong ba")]
    assert set(names[:2]) == {"Chợ Đông Ba", "chợ đông ba"}  # both exact
    assert names[2:] == ["Chợ Đông Ba Mới", "Khu chợ Đông Ba cũ"]
    assert len(search(api, q="cho dong ba", limit=2)) == 2
    only = search(api, q="cho dong ba", layers="cho")
    assert {hit["layer"] for hit in only} == {"cho"}


def test_search_errors(api, hue_places):
    for params, parameter in (
        ({}, "q"),
        ({"q": "  "}, "q"),
        ({"q": "hue", "limit": "0"}, "limit"),
        ({"q": "hue", "limit": "1000"}, "limit"),
    ):
        response = api().get("/api/v1/search/", params)
        assert response.status_code == 400
        assert response.json()["parameter"] == parameter
    missing = api().get("/api/v1/search/", {"q": "hue", "layers": "khong-co"})
    assert missing.status_code == 404
    assert missing.json()["parameter"] == "layers"


def identify(api, **params):
    response = api().get("/api/v1/identify/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_identify_finds_what_is_under_the_click(api, hue_places, river_and_citadel):
    # Exactly on Đại Nội, inside the Citadel polygon.
    found = identify(api, lon=107.5786, lat=16.4698, zoom=16)
    names = [feature["properties"]["ten"] for feature in found["features"]]
    assert set(names) == {"Đại Nội", "Kinh thành Huế"}
    dai_noi = next(f for f in found["features"] if f["properties"]["ten"] == "Đại Nội")
    assert dai_noi["layer"] == hue_places.slug
    assert dai_noi["distance_m"] == 0
    assert dai_noi["geometry"] is None
    # Layers come in the order asked (the map's drawing order, top first).
    ordered = identify(api, lon=107.5786, lat=16.4698, zoom=16,
                       layers=f"{river_and_citadel.slug},{hue_places.slug}")  # fmt: skip
    assert [f["layer"] for f in ordered["features"]] == [river_and_citadel.slug, hue_places.slug]
    with_geometry = identify(api, lon=107.5786, lat=16.4698, zoom=16, layers=hue_places.slug,
                             geometry="true")  # fmt: skip
    assert with_geometry["features"][0]["geometry"]["coordinates"] == [107.5786, 16.4698]


def test_identify_tolerance_is_a_few_pixels_at_the_zoom(api, hue_places):
    # About 20 m east of Chùa Thiên Mụ. At zoom 14 a (MapLibre) pixel is ~4.6 m there: 5 px
    # reach it. At zoom 18 a pixel is ~0.29 m: out of reach; at zoom 16, 20 px (~23 m) reach it.
    click = {"lon": 107.5454 + 0.00019, "lat": 16.4535, "layers": hue_places.slug}
    near = identify(api, zoom=14, **click)
    assert [f["properties"]["ten"] for f in near["features"]] == ["Chùa Thiên Mụ"]
    assert 15 < near["features"][0]["distance_m"] < 25
    assert identify(api, zoom=18, **click)["features"] == []
    assert identify(api, zoom=16, tolerance=20, **click)["features"] != []


def test_identify_errors(api, hue_places):
    for params, parameter in (
        ({"lat": 16.4}, "lon"),
        ({"lon": 107.5}, "lat"),
        ({"lon": 200, "lat": 16.4}, "lon"),
        ({"lon": "x", "lat": 16.4}, "lon"),
        ({"lon": 107.5, "lat": 16.4, "zoom": 30}, "zoom"),
        ({"lon": 107.5, "lat": 16.4, "tolerance": -1}, "tolerance"),
        ({"lon": 107.5, "lat": 16.4, "geometry": "yes"}, "geometry"),
        ({"lon": 107.5, "lat": 16.4, "limit": 0}, "limit"),
    ):
        response = api().get("/api/v1/identify/", params)
        assert response.status_code == 400, params
        assert response.json()["parameter"] == parameter
