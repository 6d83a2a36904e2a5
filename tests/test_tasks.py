"""Tasks run by a real Celery worker through Redis, against the test database."""

import time

import pytest
from django.contrib.gis.geos import Point

from layers import tasks
from layers.models import Layer
from tests.factories import FeatureFactory, LayerFactory


@pytest.mark.django_db(transaction=True)
def test_refresh_stats_runs_in_a_real_worker(celery_worker_process):
    layer = LayerFactory(slug="worker-check")
    FeatureFactory(layer=layer, geom=Point(107.58, 16.46, srid=4326))
    FeatureFactory(layer=layer, geom=Point(107.60, 16.48, srid=4326))
    assert Layer.objects.get(pk=layer.pk).feature_count == 0

    tasks.layer_refresh_stats.delay(layer.pk)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        layer.refresh_from_db()
        if layer.feature_count:
            break
        time.sleep(0.2)
    assert layer.feature_count == 2
    assert layer.extent.extent == pytest.approx((107.58, 16.46, 107.60, 16.48))
