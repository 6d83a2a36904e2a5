"""Redis (the broker) killed: saved work answers 503 with its id and runs once Redis is back.

Seen before: an import POST answered a 500 HTML page while its job was committed `queued` and
never ran, even after Redis returned (the client had no id, so a retry duplicated it); a seed
POST the same; a feature PATCH answered 500 although the edit had committed.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from layers.models import Feature, ImportJob, JobStatus, QueuedTask, TileJob
from tests.factories import FeatureFactory, LayerFactory
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def geojson_upload(tmp_path):
    path = tmp_path / "cho.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [107.58, 16.47]},
                        "properties": {"ten": "Chợ Đông Ba"},
                    }
                ],
            }
        )
    )
    return path


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Return the x, y of the Web-Mercator tile holding a point (the slippy-map formula)."""
    n = 2**z
    lat_rad = math.radians(lat)
    y = (1 - math.log(math.tan(lat_rad) + 1 / math.cos(lat_rad)) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_redis_down_saves_jobs_answers_503_with_ids_and_runs_them_when_back(
    private_redis, broker_at, start_worker, staff, fault_folders, tmp_path
):
    broker_at(private_redis.url)
    layer = LayerFactory(slug="cho")
    feature = FeatureFactory(layer=layer, attributes={"ten": "Chợ cũ"})
    api = APIClient()
    api.force_authenticate(staff)
    # A cached tile under the feature, which a worker drops and rebuilds after its edit.
    x, y = tile_of(107.5905, 16.4637, 12)
    assert api.get(f"/tiles/cho/12/{x}/{y}.pbf").status_code == 200
    assert (fault_folders["tiles"] / "public" / "cho" / "12" / str(x) / f"{y}.pbf.gz").exists()

    private_redis.kill()

    with geojson_upload(tmp_path).open("rb") as upload:
        answer = api.post(f"/api/v1/layers/{layer.slug}/imports/", {"file": upload})
    assert answer.status_code == 503
    assert answer["Content-Type"].startswith("application/json")
    assert answer["Retry-After"]
    body = answer.json()
    assert body["code"] == "queue-unavailable"
    import_job = ImportJob.objects.get(pk=body["id"])
    assert import_job.status == JobStatus.QUEUED
    assert answer["Location"].endswith(f"/api/v1/imports/{import_job.pk}/")

    seed = api.post(f"/api/v1/layers/{layer.slug}/tiles/seed/", {}, format="json")
    assert seed.status_code == 503
    assert seed.json()["code"] == "queue-unavailable"
    tile_job = TileJob.objects.get(pk=seed.json()["id"])
    assert tile_job.status == JobStatus.QUEUED

    # The edit is saved, so the answer says so; the tile rebuild waits in the outbox.
    edit = api.patch(
        f"/api/v1/layers/{layer.slug}/features/{feature.pk}/",
        {"properties": {"ten": "Chợ Đông Ba"}},
        format="json",
    )
    assert edit.status_code == 200, edit.content
    assert Feature.objects.get(pk=feature.pk).attributes["ten"] == "Chợ Đông Ba"
    waiting = set(QueuedTask.objects.values_list("task", flat=True))
    assert {"layers.tasks.import_run", "layers.tasks.tile_job_start"} <= waiting
    assert "layers.tasks.tiles_after_data_change" in waiting  # drops the tile, then rebuilds

    # Redis comes back. The outage lasted a while: the outbox rows are older than the window
    # in which a web process may still be sending them itself.
    private_redis.start()
    QueuedTask.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    worker = start_worker(broker_url=private_redis.url)
    worker.wait_ready()  # its start flushes the outbox

    wait_until(
        lambda: ImportJob.objects.filter(pk=import_job.pk, status=JobStatus.SUCCEEDED).exists(),
        timeout_s=60,
        what="the saved import to run",
    )
    wait_until(
        lambda: TileJob.objects.filter(pk=tile_job.pk).exclude(status=JobStatus.QUEUED).exists(),
        timeout_s=60,
        what="the saved seed to start",
    )
    wait_until(lambda: not QueuedTask.objects.exists(), timeout_s=30, what="an empty outbox")
    assert ImportJob.objects.filter(layer=layer).count() == 1  # no duplicate
    assert Feature.objects.get(layer=layer).attributes["ten"] == "Chợ Đông Ba"
