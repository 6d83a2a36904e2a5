"""Fixtures of the sensors tests: a public sensor layer, a property, two sources and stations."""

from types import SimpleNamespace

import pytest

from sensors.models import ObservedProperty, SensorLayer, Station
from sensors.services import source_create
from tests.factories import FeatureFactory, LayerFactory


def make_station(layer, code: str, *, source=None) -> Station:
    """Create a station: a feature of the layer and its Station row."""
    feature = FeatureFactory(layer=layer, name=code, attributes={"ten": code, "station": code})
    return Station.objects.create(
        layer=layer, feature_id=feature.pk, code=code, name=code.title(), source=source
    )


@pytest.fixture
def water_level(db):
    return ObservedProperty.objects.create(
        code="water_level", name_vi="Mực nước", name_en="Water level", unit="m"
    )


@pytest.fixture
def rainfall(db):
    return ObservedProperty.objects.create(
        code="rainfall", name_vi="Lượng mưa", name_en="Rainfall", unit="mm"
    )


@pytest.fixture
def sensor_layer(category):
    layer = LayerFactory(slug="river-gauges", category=category, visibility="public")
    SensorLayer.objects.create(layer=layer)
    return layer


@pytest.fixture
def sources(db):
    river, river_key = source_create(name="river")
    other, other_key = source_create(name="other")
    return SimpleNamespace(river=river, river_key=river_key, other=other, other_key=other_key)


@pytest.fixture
def stations(sensor_layer, sources, water_level, rainfall):
    return SimpleNamespace(
        kim_long=make_station(sensor_layer, "KIM_LONG", source=sources.river),
        phu_oc=make_station(sensor_layer, "PHU_OC", source=sources.river),
        thuan_an=make_station(sensor_layer, "THUAN_AN", source=sources.other),
    )
