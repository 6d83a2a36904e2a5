"""GET categories/, layers/, layers/{slug}/; staff PATCH of a layer's metadata and style."""

import pytest

from layers.models import Feature
from tests.factories import CategoryFactory, LayerFactory

pytestmark = pytest.mark.django_db


def test_categories_count_only_visible_layers(api, hue_places, layers_by_visibility, signed_in):
    empty = CategoryFactory(slug="trong")
    LayerFactory(category=empty, visibility="internal")
    anonymous = {c["slug"]: c for c in api().get("/api/v1/categories/").json()}
    assert "trong" not in anonymous
    assert anonymous[hue_places.category.slug]["layer_count"] == 2  # hue + public-layer
    assert anonymous[hue_places.category.slug]["name_vi"] == hue_places.category.name_vi
    seen = {c["slug"]: c for c in api(signed_in).get("/api/v1/categories/").json()}
    assert seen["trong"]["layer_count"] == 1
    assert seen[hue_places.category.slug]["layer_count"] == 3


def test_layer_list_filters_by_category_and_title(api, hue_places, river_and_citadel):
    other = LayerFactory(title_vi="Bệnh viện", title_en="Hospitals", category=CategoryFactory())
    slugs = [layer["slug"] for layer in api().get("/api/v1/layers/").json()]
    assert set(slugs) == {hue_places.slug, river_and_citadel.slug, other.slug}
    by_category = api().get("/api/v1/layers/", {"category": other.category.slug}).json()
    assert [layer["slug"] for layer in by_category] == [other.slug]
    for words in ("dia diem", "ĐỊA ĐIỂM huế", "places"):
        found = api().get("/api/v1/layers/", {"q": words}).json()
        assert [layer["slug"] for layer in found] == [hue_places.slug], words
    assert [x["slug"] for x in api().get("/api/v1/layers/", {"q": "benh vien"}).json()] == [
        other.slug
    ]


def test_layer_detail_has_what_a_client_needs(api, hue_places):
    hue_places.style = {"paint": {"circle-color": "#c0392b"}}
    hue_places.save()
    data = api().get(f"/api/v1/layers/{hue_places.slug}/").json()
    assert data["title_vi"] == "Địa điểm Huế"
    assert data["attribute_schema"][0] == {
        "name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"
    }  # fmt: skip
    assert data["name_field"] == "ten"
    assert data["style"] == {"paint": {"circle-color": "#c0392b"}}
    assert data["feature_count"] == 8
    assert data["version"] == hue_places.version
    assert data["attribution"] == "© Thành phố Huế"
    minx, miny, maxx, maxy = data["bbox"]
    assert (minx, miny, maxx, maxy) == pytest.approx((107.5454, 16.4339, 107.5952, 16.4727))
    links = data["links"]
    assert links["tilejson"] == f"http://testserver/tiles/{hue_places.slug}.json"
    assert links["features"] == f"http://testserver/api/v1/layers/{hue_places.slug}/features/"
    assert links["exports"]["shp.zip"].endswith(f"/layers/{hue_places.slug}/export.shp.zip")
    assert links["ogc_collection"] == f"http://testserver/ogc/collections/{hue_places.slug}"
    assert api().get("/api/v1/layers/khong-co/").status_code == 404


def test_staff_change_metadata_and_style_and_the_version_goes_up(api, hue_places, staff):
    before = hue_places.version
    response = api(staff).patch(
        f"/api/v1/layers/{hue_places.slug}/",
        {"title_en": "Landmarks of Huế", "style": {"paint": {"circle-radius": 6}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["title_en"] == "Landmarks of Huế"
    hue_places.refresh_from_db()
    assert hue_places.style == {"paint": {"circle-radius": 6}}
    assert hue_places.version == before + 1


def test_a_new_naming_field_renames_the_features(api, hue_places, staff):
    response = api(staff).patch(
        f"/api/v1/layers/{hue_places.slug}/", {"name_field": "loai"}, format="json"
    )
    assert response.status_code == 200
    assert Feature.objects.filter(layer=hue_places, name="bệnh viện").count() == 2
    assert Feature.objects.filter(layer=hue_places, search_text="benh vien").count() == 2


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"name_field": "khong_co"}, "name_field"),
        ({"style": [1, 2]}, "style"),
        ({"min_zoom": 30}, "min_zoom"),
        ({"min_zoom": 20, "max_zoom": 10}, ""),
        ({"visibility": "everyone"}, "visibility"),
        ({"category": "khong-co"}, "category"),
        ({"attribute_schema": [{"type": "text"}]}, "attribute_schema"),
    ],
)
def test_invalid_layer_changes_are_refused(api, hue_places, staff, body, parameter):
    response = api(staff).patch(f"/api/v1/layers/{hue_places.slug}/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json().get("parameter", "") == parameter
    hue_places.refresh_from_db()
    assert hue_places.title_en == "Places of Huế"


def test_only_staff_change_layers(api, hue_places, signed_in, member):
    for user in (None, signed_in, member):
        response = api(user).patch(
            f"/api/v1/layers/{hue_places.slug}/", {"title_en": "x"}, format="json"
        )
        assert response.status_code == (401 if user is None else 403)
        assert response.json()["code"] == (
            "not-authenticated" if user is None else "permission-denied"
        )
