"""A sensor layer says so in the layer API and in the map page's configuration (sensors/links.py):
the URLs of its latest readings, a station's series and its alerts; other layers say null."""

import pytest
from django.urls import reverse

from frontend.catalogue import map_config

pytestmark = pytest.mark.django_db


def test_the_layer_api_gives_a_sensor_layer_its_reading_urls(client, sensor_layer, stations):
    detail = client.get(reverse("api:layer-detail", kwargs={"slug": sensor_layer.slug})).json()
    root = f"http://testserver/api/v1/sensors/layers/{sensor_layer.slug}"
    assert detail["sensor"] == {
        "latest": f"{root}/latest",
        "series": f"{root}/stations/{{station}}/series",
        "alerts": f"{root}/alerts",
        "stale_after_s": 1800,
    }
    # The URLs answer: the latest readings name the stations (none reported yet: stale).
    latest = client.get(detail["sensor"]["latest"]).json()
    assert {s["station"] for s in latest["stations"]} == {"KIM_LONG", "PHU_OC", "THUAN_AN"}
    listed = client.get(reverse("api:layer-list")).json()
    by_slug = {layer["slug"]: layer for layer in listed}
    assert by_slug[sensor_layer.slug]["sensor"]["latest"] == f"{root}/latest"


def test_other_layers_are_not_sensor_layers(client, layers_by_visibility):
    public = layers_by_visibility["public"]
    detail = client.get(reverse("api:layer-detail", kwargs={"slug": public.slug})).json()
    assert detail["sensor"] is None


def test_the_map_page_knows_the_sensor_layer(sensor_layer, layers_by_visibility):
    entries = {entry["slug"]: entry for entry in map_config(user=None)["layers"]}
    assert entries[sensor_layer.slug]["sensor"]["latest"] == (
        f"/api/v1/sensors/layers/{sensor_layer.slug}/latest"
    )
    assert entries[layers_by_visibility["public"].slug]["sensor"] is None
