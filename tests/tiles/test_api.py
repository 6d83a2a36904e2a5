"""The tile-job API: staff start a seed and watch it, through a real Celery worker on Redis."""

import time

import pytest
from rest_framework.test import APIClient

from layers.models import Feature, TileChange
from layers.services import layer_refresh_stats
from tests.factories import LayerFactory
from tests.tiles.conftest import (
    DAI_NOI,
    LANG_CO,
    cached_tiles,
    expected_tiles,
    point,
)


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.mark.django_db
def test_only_gis_staff_may_seed(client, signed_in, layers_by_visibility):
    url = "/api/v1/layers/public-layer/tiles/seed/"
    assert client.post(url).status_code == 401  # nobody signed in
    client.force_login(signed_in)
    response = client.post(url)
    assert response.status_code == 403
    assert response.json()["code"] == "permission-denied"
    assert client.get("/api/v1/tile-jobs/1/").status_code == 403


@pytest.mark.django_db
def test_bad_zooms_and_unknown_layers_are_clear_errors(api, layers_by_visibility):
    response = api.post(
        "/api/v1/layers/public-layer/tiles/seed/", {"min_zoom": 9, "max_zoom": 3}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["parameter"] == "min_zoom"
    assert api.post("/api/v1/layers/nowhere/tiles/seed/").status_code == 404
    assert api.get("/api/v1/tile-jobs/999999/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_seed_through_the_api_runs_on_a_real_worker(
    api, settings, category, celery_worker_process
):
    layer = LayerFactory(slug="worker-sites", category=category, prebuild_zoom=8)
    Feature.objects.create(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Đại Nội"})
    Feature.objects.create(layer=layer, geom=point(LANG_CO), attributes={"ten": "Lăng Cô"})
    TileChange.objects.all().delete()
    layer_refresh_stats(layer=layer)

    response = api.post("/api/v1/layers/worker-sites/tiles/seed/", {}, format="json")
    assert response.status_code == 202
    job = response.json()
    assert response["Location"] == job["url"]
    assert (job["layer"], job["min_zoom"], job["max_zoom"]) == ("worker-sites", 0, 8)

    deadline = time.monotonic() + 60
    while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get(f"/api/v1/tile-jobs/{job['id']}/").json()
    expected = expected_tiles([DAI_NOI, LANG_CO], 0, 8)
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": len(expected), "total": len(expected), "percent": 100}
    assert cached_tiles(layer) == expected
