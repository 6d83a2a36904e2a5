"""Models: the stored 3857 copy, the accent-free search text and the constraints."""

import math

import pytest
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction

from layers.models import Feature, ImportJob, Layer, TileJob
from tests.factories import FeatureFactory, LayerFactory

pytestmark = pytest.mark.django_db

EARTH_RADIUS_M = 6378137.0


def mercator(lon: float, lat: float) -> tuple[float, float]:
    """Spherical Mercator by its textbook formula, to check PostGIS against."""
    x = math.radians(lon) * EARTH_RADIUS_M
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


def test_geom_3857_follows_geom_on_insert_and_update():
    feature = FeatureFactory(geom=Point(107.5905, 16.4637, srid=4326))
    feature.refresh_from_db()
    assert feature.geom_3857.srid == 3857
    assert (feature.geom_3857.x, feature.geom_3857.y) == pytest.approx(mercator(107.5905, 16.4637))

    feature.geom = Point(107.6, 16.47, srid=4326)
    feature.save()
    feature.refresh_from_db()
    assert (feature.geom_3857.x, feature.geom_3857.y) == pytest.approx(mercator(107.6, 16.47))


@pytest.mark.parametrize(
    ("name", "query"),
    [("Đại Nội", "dai noi"), ("Bệnh viện Trung ương Huế", "benh vien trung uong hue")],
)
def test_search_text_is_lowercase_without_accents(name, query):
    feature = FeatureFactory(name=name)
    feature.refresh_from_db()
    assert feature.search_text == query
    assert Feature.objects.filter(search_text__contains=query.split()[0]).exists()


def test_layer_zoom_range_is_enforced():
    with pytest.raises(IntegrityError), transaction.atomic():
        LayerFactory(min_zoom=15, max_zoom=10, prebuild_zoom=5)


def test_prebuild_depth_cannot_exceed_max_zoom():
    with pytest.raises(IntegrityError), transaction.atomic():
        LayerFactory(max_zoom=14, prebuild_zoom=16)


def test_unknown_visibility_is_rejected():
    with pytest.raises(IntegrityError), transaction.atomic():
        LayerFactory(visibility="secret")


def test_slug_is_unique():
    LayerFactory(slug="roads")
    with pytest.raises(IntegrityError), transaction.atomic():
        LayerFactory(slug="roads")


def test_job_progress_cannot_pass_total():
    layer = LayerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        TileJob.objects.create(layer=layer, progress_done=11, progress_total=10)
    job = ImportJob.objects.create(layer=layer, progress_done=5, progress_total=10)
    assert job.progress_percent == 50


def test_deleting_a_layer_deletes_its_features():
    feature = FeatureFactory()
    feature.layer.delete()
    assert not Feature.objects.filter(pk=feature.pk).exists()
    assert not Layer.objects.filter(pk=feature.layer_id).exists()


def test_name_field_must_be_an_attribute():
    from django.core.exceptions import ValidationError

    layer = LayerFactory.build(name_field="missing")
    with pytest.raises(ValidationError) as error:
        layer.clean()
    assert "name_field" in error.value.message_dict
