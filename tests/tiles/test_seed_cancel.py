"""Cancelling tile jobs: through the API, the admin and `seedtiles --cancel`; a cancelled job's
pending chunks never start and a running chunk stops at its next batch."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from layers.models import TileJob, TileJobChunk
from layers.tiles import seed
from tests.tiles.conftest import cached_tiles

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(sites, monkeypatch):
    """A running job of the sites layer, planned into chunks of four tiles, none rendered."""
    monkeypatch.setattr(seed, "CHUNK_TILES", 4)
    job = seed.tile_seed_create(layer=sites)
    chunk_ids = seed.tile_job_prepare(job=job)
    assert len(chunk_ids) > 2
    job.refresh_from_db()
    assert job.status == "running"
    return job, chunk_ids


def test_a_cancelled_jobs_pending_chunks_never_start(planned, sites):
    job, chunk_ids = planned
    seed.tile_chunk_run(chunk_id=chunk_ids[0])
    assert seed.tile_job_cancel(job=job)
    assert [seed.tile_chunk_run(chunk_id=pk) for pk in chunk_ids[1:]] == [0] * (len(chunk_ids) - 1)
    statuses = list(TileJobChunk.objects.filter(job=job).values_list("status", flat=True))
    assert statuses == ["done"] + ["pending"] * (len(chunk_ids) - 1)
    assert len(cached_tiles(sites)) == 4
    job.refresh_from_db()
    assert (job.status, job.progress_done) == ("cancelled", 4)
    assert job.finished_at is not None
    assert not seed.tile_job_cancel(job=job)  # already ended


def test_a_running_chunk_stops_at_its_next_batch(planned, sites, monkeypatch):
    job, chunk_ids = planned
    monkeypatch.setattr(seed, "STORE_BATCH", 1)
    rendered = []
    render = seed.render_tile

    def render_then_cancel(spec, coord):
        rendered.append(coord)
        if len(rendered) == 2:  # someone cancels while the worker renders its second tile
            seed.tile_job_cancel(job=TileJob.objects.get(pk=job.pk))
        return render(spec, coord)

    monkeypatch.setattr(seed, "render_tile", render_then_cancel)
    assert seed.tile_chunk_run(chunk_id=chunk_ids[0]) == 2
    chunk = TileJobChunk.objects.get(pk=chunk_ids[0])
    assert (chunk.status, chunk.worker, chunk.attempts) == ("pending", "", 1)
    assert len(rendered) == 2 < len(chunk.tiles)
    job.refresh_from_db()
    assert (job.status, job.progress_done, job.tiles_rendered) == ("cancelled", 0, 0)

    # A resume finishes it; the two tiles already stored are found in the cache.
    monkeypatch.setattr(seed, "render_tile", render)
    TileJob.objects.filter(pk=job.pk).update(status="queued")
    job = seed.tile_job_run_here(job=TileJob.objects.get(pk=job.pk))
    assert job.status == "succeeded"
    assert (job.tiles_skipped, job.tiles_rendered) == (2, job.progress_total - 2)


def test_the_api_cancels_a_job_once_and_only_for_gis_staff(planned, staff, signed_in):
    job, _ = planned
    url = f"/api/v1/tile-jobs/{job.pk}/cancel/"
    client = APIClient()
    client.force_authenticate(signed_in)
    assert client.post(url).status_code == 403
    client.force_authenticate(staff)
    response = client.post(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (job.pk, "cancelled")
    assert "Cancelled by gis_staff" in body["messages"][-1]["message"]
    again = client.post(url)
    assert again.status_code == 409
    assert again.json()["code"] == "job-finished"
    assert client.post("/api/v1/tile-jobs/999999/cancel/").status_code == 404
    shown = client.get(f"/api/v1/tile-jobs/{job.pk}/").json()
    assert shown["status"] == "cancelled"
    assert shown["requested_max_zoom"] == 10 and shown["report"]["budget"] > 0


def test_the_admin_action_cancels_the_selected_jobs(planned, staff, client):
    job, _ = planned
    finished = TileJob.objects.create(layer=job.layer, status="succeeded", max_zoom=3)
    client.force_login(staff)
    response = client.post(
        "/admin/layers/tilejob/",
        {"action": "cancel", "_selected_action": [job.pk, finished.pk], "index": 0},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "1 tile job cancelled." in response.content.decode()
    assert TileJob.objects.get(pk=job.pk).status == "cancelled"
    assert TileJob.objects.get(pk=finished.pk).status == "succeeded"
    page = client.get(
        f"/admin/layers/tilejob/{job.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "fit the budget" in page  # the plan's reason is shown


def test_staff_who_may_only_view_tile_jobs_cannot_cancel_them(planned, client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    job, _ = planned
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_tilejob"))
    client.force_login(viewer)
    client.post(
        "/admin/layers/tilejob/",
        {"action": "cancel", "_selected_action": [job.pk], "index": 0},
        follow=True,
    )
    assert TileJob.objects.get(pk=job.pk).status == "running"


def test_seedtiles_cancel_by_id_by_slug_and_all(planned, sites):
    job, _ = planned
    other = seed.tile_seed_create(layer=sites, max_zoom=5)
    out = StringIO()
    call_command("seedtiles", "--cancel", str(job.pk), stdout=out)
    assert f"tile job {job.pk} (sites): cancelled" in out.getvalue()
    assert TileJob.objects.get(pk=other.pk).status == "queued"
    call_command("seedtiles", "--cancel", "sites", stdout=out)
    assert TileJob.objects.get(pk=other.pk).status == "cancelled"
    call_command("seedtiles", "--cancel", stdout=(out := StringIO()))
    assert "No queued or running tile job" in out.getvalue()
    with pytest.raises(CommandError, match="999999, nowhere"):
        call_command("seedtiles", "--cancel", "999999", "nowhere", stdout=StringIO())
