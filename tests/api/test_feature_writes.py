"""Staff writes of features (create, replace, change, delete) and their checks."""

import pytest
from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.contrib.gis.geos import Point

from layers.models import Feature

pytestmark = pytest.mark.django_db

URL = "/api/v1/layers/dia-diem-hue/features/"


def point_feature(lon, lat, **properties):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def test_staff_add_a_feature_and_the_layer_changes(api, hue_places, staff):
    before = hue_places.version
    response = api(staff).post(
        URL, point_feature(107.5817, 16.4676, ten="Phu Văn Lâu", so_tang=2), format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["properties"] == {"ten": "Phu Văn Lâu", "so_tang": 2}
    assert response["Location"] == f"http://testserver{URL}{created['id']}/"
    feature = Feature.objects.get(pk=created["id"])
    assert feature.name == "Phu Văn Lâu"
    assert feature.search_text == "phu van lau"
    hue_places.refresh_from_db()
    assert hue_places.version == before + 1
    assert hue_places.feature_count == 9
    # The new feature is found by search straight away.
    hits = api().get("/api/v1/search/", {"q": "phu van lau"}).json()["results"]
    assert [hit["id"] for hit in hits] == [created["id"]]


@pytest.mark.parametrize("how", ["parameter", "member"])
def test_a_geometry_in_vn2000_is_reprojected(api, hue_places, staff, how):
    # Đại Nội in VN-2000 / TM-3 107°00' (EPSG:9214), the zone of Thừa Thiên Huế.
    lon, lat = 107.5786, 16.4698
    point = Point(lon, lat, srid=4326)
    point.transform(CoordTransform(SpatialReference(4326), SpatialReference(9214)))
    assert 500_000 < point.x < 700_000 and 1_800_000 < point.y < 1_900_000
    feature = point_feature(point.x, point.y, ten="Ngọ Môn")
    url = URL
    if how == "parameter":
        url += "?crs=http://www.opengis.net/def/crs/EPSG/0/9214"
    else:
        feature["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::9214"}}
    response = api(staff).post(url, feature, format="json")
    assert response.status_code == 201, response.content
    stored = Feature.objects.get(pk=response.json()["id"]).geom
    assert stored.srid == 4326
    assert (stored.x, stored.y) == pytest.approx((lon, lat), abs=1e-7)


@pytest.mark.parametrize(
    ("feature", "parameter"),
    [
        ({"type": "Feature", "properties": {}}, "geometry"),
        ({"type": "Thing", "geometry": {"type": "Point", "coordinates": [107, 16]}}, "type"),
        (point_feature(107.5, 16.4) | {"geometry": {"type": "Point"}}, "geometry"),
        (point_feature(107.5, 16.4) | {"geometry": "POINT(107 16)"}, "geometry"),
        (point_feature(600000, 1800000), "geometry"),  # metres without a CRS
        (
            point_feature(107.5, 16.4)
            | {"geometry": {"type": "LineString", "coordinates": [[107.5, 16.4], [107.6, 16.5]]}},
            "geometry",
        ),  # a line on a point layer
        (point_feature(107.5, 16.4, chieu_cao=3), "properties.chieu_cao"),
        (point_feature(107.5, 16.4, so_tang="ba"), "properties.so_tang"),
        (point_feature(107.5, 16.4, so_tang=2.5), "properties.so_tang"),
        (point_feature(107.5, 16.4, mo_cua="có"), "properties.mo_cua"),
        (point_feature(107.5, 16.4, ten=["a"]), "properties.ten"),
        (point_feature(107.5, 16.4) | {"properties": [1]}, "properties"),
        (point_feature(107.5, 16.4) | {"crs": {"type": "name"}}, "crs"),
        (
            point_feature(107.5, 16.4)
            | {"crs": {"type": "name", "properties": {"name": "EPSG:999999"}}},
            "crs",
        ),
    ],
)
def test_invalid_features_are_refused(api, hue_places, staff, feature, parameter):
    response = api(staff).post(URL, feature, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["parameter"] == parameter
    assert Feature.objects.filter(layer=hue_places).count() == 8


def test_an_invalid_polygon_is_refused_with_the_reason(api, river_and_citadel, staff):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[107.5, 16.4], [107.6, 16.5], [107.6, 16.4], [107.5, 16.5], [107.5, 16.4]]
        ],
    }
    response = api(staff).post(
        f"/api/v1/layers/{river_and_citadel.slug}/features/",
        {"type": "Feature", "geometry": bowtie, "properties": {"ten": "Nơ"}},
        format="json",
    )
    assert response.status_code == 400
    assert "Self-intersection" in response.json()["detail"]


def test_replace_change_and_delete_a_feature(api, hue_places, staff):
    feature = Feature.objects.get(layer=hue_places, name="Chợ Đông Ba")
    url = f"{URL}{feature.pk}/"
    client = api(staff)
    version = hue_places.version

    changed = client.patch(url, {"properties": {"so_tang": 3}}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["properties"]["so_tang"] == 3
    assert changed.json()["properties"]["ten"] == "Chợ Đông Ba"  # the others are kept

    replaced = client.put(url, point_feature(107.589, 16.473, ten="Chợ Đông Ba mới"), format="json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["properties"] == {"ten": "Chợ Đông Ba mới"}
    assert replaced.json()["geometry"]["coordinates"] == [107.589, 16.473]
    feature.refresh_from_db()
    assert feature.search_text == "cho dong ba moi"

    moved = client.patch(url, {"geometry": {"type": "Point", "coordinates": [107.6, 16.47]}},
                         format="json")  # fmt: skip
    assert moved.json()["geometry"]["coordinates"] == [107.6, 16.47]

    assert client.delete(url).status_code == 204
    assert not Feature.objects.filter(pk=feature.pk).exists()
    assert client.get(url).status_code == 404
    hue_places.refresh_from_db()
    assert hue_places.version == version + 4
    assert hue_places.feature_count == 7


def test_only_staff_write_features(api, hue_places, signed_in, member):
    feature = Feature.objects.filter(layer=hue_places).first()
    # Anonymous: 401 with the token scheme to use; signed in without the right: 403.
    for user, refused in ((None, 401), (signed_in, 403), (member, 403)):
        client = api(user)
        response = client.post(URL, point_feature(107.5, 16.4), format="json")
        assert response.status_code == refused
        if refused == 401:
            assert response["WWW-Authenticate"] == "Token"
            assert response.json()["code"] == "not-authenticated"
        assert client.delete(f"{URL}{feature.pk}/").status_code == refused
        assert client.put(f"{URL}{feature.pk}/", point_feature(107.5, 16.4), format="json")\
            .status_code == refused  # fmt: skip
    assert Feature.objects.filter(layer=hue_places).count() == 8


def test_a_layer_one_may_not_see_is_not_found_for_writes_either(
    api, layers_by_visibility, signed_in
):
    response = api(signed_in).post(
        "/api/v1/layers/restricted-layer/features/", point_feature(107.5, 16.4), format="json"
    )
    assert response.status_code == 404
