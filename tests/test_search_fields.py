"""Search by other attributes than the name: a layer names them in `metadata["search_fields"]`.

The 2025 wards of the demo use it to be found by the units they were formed from
(`tests/test_demo.py`); here a layer of its own shows the rule: only the named fields, only of
layers that name them, only of layers the requester may see, ranked after name matches.
"""

import pytest
from django.contrib.gis.geos import Polygon
from django.core.exceptions import ValidationError
from django.utils import translation
from rest_framework.test import APIClient

from layers.features.search import layer_searched_fields, search_features
from layers.models import Layer
from layers.services import FeatureRecord, layer_append_features
from tests.factories import CategoryFactory, LayerFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"name": "ten", "type": "text"},
    {"name": "before_merger", "type": "list"},
    {"name": "ghi_chu", "type": "text"},
]


def _square(x: float) -> Polygon:
    return Polygon.from_bbox((x, 16.40, x + 0.01, 16.41))


def _wards(slug: str, *, metadata: dict, visibility: str = "public") -> Layer:
    layer = LayerFactory(
        slug=slug,
        geometry_type="polygon",
        attribute_schema=SCHEMA,
        metadata=metadata,
        visibility=visibility,
    )
    layer_append_features(
        layer=layer,
        records=[
            FeatureRecord(
                _square(107.55),
                {
                    "ten": "Phường Phú Xuân",
                    "before_merger": ["Phường Đông Ba", "Phường Tây Lộc"],
                    "ghi_chu": "Gần chợ Đông Ba",
                },
            ),
            FeatureRecord(_square(107.57), {"ten": "Phường Đông Ba mới"}),
            FeatureRecord(_square(107.59), {"ten": "Phường Vỹ Dạ", "ghi_chu": "Tây Lộc"}),
        ],
    )
    return layer


def _names(layers: list[Layer], text: str) -> list[str]:
    hits = search_features(
        layer_ids=[layer.pk for layer in layers],
        text=text,
        limit=20,
        searched_fields=layer_searched_fields(layers),
    )
    return [hit.name for hit in hits]


def test_a_former_name_finds_the_feature_after_those_named_so():
    layer = _wards("phuong-moi", metadata={"search_fields": ["before_merger"]})
    # The name match first, then the feature whose former units hold the words.
    assert _names([layer], "dong ba") == ["Phường Đông Ba mới", "Phường Phú Xuân"]
    # Every word must be in the same feature's searched text; accents and case do not matter.
    assert _names([layer], "TÂY lộc") == ["Phường Phú Xuân"]
    assert _names([layer], "tay loc dong ba") == ["Phường Phú Xuân"]
    assert _names([layer], "tay loc vy da") == []


def test_only_the_named_fields_of_layers_that_name_them_are_searched():
    plain = _wards("phuong-thuong", metadata={})
    assert layer_searched_fields([plain]) == {}
    assert _names([plain], "tay loc") == []
    # `ghi_chu` is not named: "Tây Lộc" in it finds nothing, though the value is there.
    named = _wards("phuong-ghi-chu", metadata={"search_fields": ["before_merger"]})
    assert _names([named], "tay loc") == ["Phường Phú Xuân"]
    # Anything but a list of names is ignored, not an error.
    odd = LayerFactory(slug="la", metadata={"search_fields": "before_merger"})
    mixed = LayerFactory(slug="lb", metadata={"search_fields": [3, "", "before_merger"]})
    assert layer_searched_fields([odd, mixed]) == {mixed.pk: ["before_merger"]}


def test_a_hidden_layer_is_not_searched_through_its_fields(client):
    _wards("phuong-an", metadata={"search_fields": ["before_merger"]}, visibility="internal")
    shown = _wards("phuong-hien", metadata={"search_fields": ["before_merger"]})
    response = client.get("/api/v1/search/", {"q": "tay loc"})
    assert response.status_code == 200, response.content
    hits = response.json()["results"]
    assert [(hit["layer"], hit["name"]) for hit in hits] == [(shown.slug, "Phường Phú Xuân")]


def test_words_with_like_wildcards_match_only_themselves():
    layer = _wards("phuong-ky-tu", metadata={"search_fields": ["before_merger"]})
    assert _names([layer], "%") == []
    assert _names([layer], "dong_ba") == []
    assert _names([layer], '"]') == []


@translation.override("en")  # the site speaks Vietnamese by default
def test_a_searched_field_the_layer_does_not_have_is_refused_with_its_attributes(staff):

    layer = LayerFactory.build(
        slug="phuong-sai",
        category=CategoryFactory(),
        attribute_schema=SCHEMA,
        metadata={"search_fields": ["before_merger"]},
    )
    layer.full_clean()  # fine
    layer.metadata = {"search_fields": ["befor_merger"]}
    with pytest.raises(ValidationError) as error:
        layer.full_clean()
    said = error.value.message_dict["metadata"][0]
    assert "'befor_merger'" in said and "ten, before_merger, ghi_chu" in said
    layer.metadata = {"search_fields": "before_merger"}
    with pytest.raises(ValidationError) as error:
        layer.full_clean()
    assert "must be a list of attribute names" in str(error.value.message_dict["metadata"])
    # Through the API (staff change a layer's metadata there too): a 400 that says the same.
    saved = _wards("phuong-api", metadata={})
    client = APIClient()
    client.force_login(staff)
    bad = client.patch(
        f"/api/v1/layers/{saved.slug}/",
        {"metadata": {"search_fields": ["ghichu"]}},
        format="json",
        HTTP_ACCEPT_LANGUAGE="vi",
    )
    assert bad.status_code == 400, bad.content
    assert "'ghichu'" in bad.json()["detail"] and "không có" in bad.json()["detail"], bad.json()
    saved.refresh_from_db()
    assert saved.metadata == {}
