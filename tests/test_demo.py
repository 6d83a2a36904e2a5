"""The demo: `loaddemo` fills the catalogue's layers with valid data in the region, idempotently.

The demo is loaded once for the module (committed, as `make demo` would) and removed afterwards.
"""

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from layers.demo.catalogue import catalogue_load
from layers.models import Category, Feature, Layer
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

UTILITY_LAYERS = ("mang-cap-nuoc", "mang-thoat-nuoc", "luoi-dien")
RESTRICTED_LAYER = "cong-trinh-dau-moi"
INFRASTRUCTURE_GROUP = "Hạ tầng kỹ thuật"


def _snapshot() -> dict:
    layers = Layer.objects.filter(metadata__demo=True)
    return {
        "layers": {layer.slug: (layer.feature_count, layer.version) for layer in layers},
        "categories": sorted(Category.objects.values_list("slug", flat=True)),
    }


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """Load the demo once, committed; delete what it made when the module is done."""
    catalogue = catalogue_load()
    # Loading rebuilds tiles (eager Celery in tests): keep them out of the developer's cache.
    with (
        override_settings(TILE_CACHE_DIR=tmp_path_factory.mktemp("tiles")),
        django_db_blocker.unblock(),
    ):
        call_command("loaddemo", verbosity=0)
        snapshot = _snapshot()
    yield snapshot
    with django_db_blocker.unblock():
        Layer.objects.filter(metadata__demo=True).delete()
        slugs = [category.slug for category in catalogue.categories]
        Category.objects.filter(slug__in=slugs, layers__isnull=True).delete()
        Group.objects.filter(name__in=catalogue.groups).delete()


def _demo_layers():
    return Layer.objects.filter(metadata__demo=True).select_related("category")


def test_the_demo_has_many_layers_in_many_categories(demo):
    layers = _demo_layers()
    assert layers.count() >= 24
    assert len({layer.category_id for layer in layers}) >= 8
    assert set(demo["layers"]) == {spec.slug for spec in catalogue_load().layers}


def test_every_layer_is_ready_with_features_category_and_credits(demo):
    for layer in _demo_layers():
        assert layer.status == Layer.Status.READY, layer.slug
        assert layer.category_id, layer.slug
        assert layer.attribution.strip() and layer.source.strip(), layer.slug
        assert layer.feature_count == layer.features.count() > 0, layer.slug
        assert layer.prebuild_zoom <= layer.max_zoom, layer.slug
        assert layer.extent is not None, layer.slug


def test_every_geometry_is_valid_and_inside_the_region(demo):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.slug, count(*) FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id
            WHERE (l.metadata ->> 'demo')::boolean
              AND (NOT ST_IsValid(f.geom)
                   OR ST_IsEmpty(f.geom)
                   OR NOT ST_CoveredBy(f.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326)))
            GROUP BY l.slug
            """,
            list(settings.CITY_REGION_BBOX),
        )
        assert cursor.fetchall() == []


def test_thousands_of_buildings_with_heights_none_in_the_water(demo):
    buildings = Feature.objects.filter(layer__slug="toa-nha")
    assert buildings.count() >= 5000
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE coalesce((attributes ->> 'height_m')::numeric, 0) <= 0),
                   count(*) FILTER (WHERE coalesce((attributes ->> 'floors')::int, 0) < 1)
            FROM layers_feature WHERE layer_id = (SELECT id FROM layers_layer WHERE slug = %s)
            """,
            ["toa-nha"],
        )
        assert cursor.fetchone() == (0, 0)
        cursor.execute(
            """
            SELECT count(*) FROM layers_feature b JOIN layers_feature w
              ON ST_Intersects(b.geom, w.geom) AND ST_Area(ST_Intersection(b.geom, w.geom)) > 0
            WHERE b.layer_id = (SELECT id FROM layers_layer WHERE slug = 'toa-nha')
              AND w.layer_id = (SELECT id FROM layers_layer WHERE slug = 'song-ho')
            """
        )
        assert cursor.fetchone() == (0,)


def test_utilities_are_internal_and_critical_sites_restricted_to_a_group(demo):
    layers = {layer.slug: layer for layer in _demo_layers()}
    for slug in UTILITY_LAYERS:
        assert layers[slug].visibility == Layer.Visibility.INTERNAL
    restricted = layers[RESTRICTED_LAYER]
    assert restricted.visibility == Layer.Visibility.RESTRICTED
    assert list(restricted.groups.values_list("name", flat=True)) == [INFRASTRUCTURE_GROUP]

    anonymous_sees = set(Layer.objects.visible_to(AnonymousUser()).values_list("slug", flat=True))
    assert not anonymous_sees & {*UTILITY_LAYERS, RESTRICTED_LAYER}
    engineer = UserFactory(username="engineer")
    engineer.groups.add(Group.objects.get(name=INFRASTRUCTURE_GROUP))
    engineer_sees = set(Layer.objects.visible_to(engineer).values_list("slug", flat=True))
    assert {*UTILITY_LAYERS, RESTRICTED_LAYER} <= engineer_sees


def test_public_investment_parcels_carry_what_investors_filter_on(demo):
    layer = Layer.objects.get(slug="khu-dat-dau-tu")
    assert layer.visibility == Layer.Visibility.PUBLIC
    assert layer.category.slug == "investment"
    assert layer.geometry_type == "polygon"
    parcels = list(layer.features.all())
    assert len(parcels) >= 10
    for parcel in parcels:
        attributes = parcel.attributes
        assert attributes["dien_tich_m2"] > 0
        assert attributes["gia_khoi_diem_trieu_vnd_m2"] > 0
        assert attributes["trang_thai"] and attributes["phuong"] and attributes["lien_he"]


def test_attributes_match_each_layers_schema(demo):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.slug, array_agg(DISTINCT k.key) FROM layers_feature f
            JOIN layers_layer l ON l.id = f.layer_id, jsonb_object_keys(f.attributes) AS k(key)
            WHERE (l.metadata ->> 'demo')::boolean GROUP BY l.slug
            """
        )
        keys = dict(cursor.fetchall())
    for layer in _demo_layers():
        names = {field["name"] for field in layer.attribute_schema}
        assert set(keys[layer.slug]) <= names, layer.slug
        assert layer.name_field in names, layer.slug


def test_sample_layers_say_so(demo):
    sample = [spec.slug for spec in catalogue_load().layers if spec.builder.startswith("synth.")]
    for layer in Layer.objects.filter(slug__in=sample):
        assert "Dữ liệu mẫu" in layer.description_vi, layer.slug
        assert "sample data" in layer.description_en.lower(), layer.slug
        assert "Dữ liệu mẫu" in layer.attribution, layer.slug


def test_vietnamese_names_keep_their_diacritics_and_are_found_without_them(demo):
    found = Feature.objects.filter(layer__slug="di-tich", search_text__contains="dai noi")
    assert [feature.name for feature in found] == ["Đại Nội Huế"]
    hospital = Feature.objects.get(layer__slug="benh-vien", search_text="benh vien trung uong hue")
    assert hospital.attributes["ten"] == "Bệnh viện Trung ương Huế"
    assert Feature.objects.filter(layer__slug="ranh-gioi-phuong-xa", name="Phường Vỹ Dạ").exists()


def test_loading_again_changes_nothing(demo):
    out = StringIO()
    call_command("loaddemo", verbosity=1, stdout=out)
    assert _snapshot() == demo
    lines = out.getvalue().splitlines()
    for slug in demo["layers"]:
        assert any(line.startswith(slug + " ") and "unchanged" in line for line in lines), slug


def test_loaddemo_leaves_other_layers_alone(demo):
    own = LayerFactory(slug="ban-do-rieng", metadata={"owner": "GIS office"})
    call_command("loaddemo", "cho", "--prune", verbosity=0)
    assert Layer.objects.filter(pk=own.pk).exists()
    assert _snapshot()["layers"] == demo["layers"]
