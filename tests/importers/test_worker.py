"""An import run by a real Celery worker through Redis, against the test database."""

from __future__ import annotations

import time

import pytest
from django.core.files.base import ContentFile

from layers.imports import import_job_create
from layers.models import Feature, ImportJob
from tests.factories import LayerFactory

from .conftest import DATA


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_the_worker(celery_worker_process, settings):
    # A shallow pyramid: the tile rebuild that follows the import is quick (teardown waits for it).
    layer = LayerFactory(slug="import-worker-check", name_field="", prebuild_zoom=4)
    upload = ContentFile((DATA / "coutwildrnp.zip").read_bytes(), name="coutwildrnp.zip")
    job = import_job_create(layer=layer, upload=upload)  # queued once this commits

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
            break
        time.sleep(0.2)
    assert job.status == ImportJob.Status.SUCCEEDED, job.messages
    assert job.imported_count == 67
    assert job.started_at and job.finished_at
    layer.refresh_from_db()
    assert (layer.feature_count, layer.name_field) == (67, "name")
    assert layer.version > 1
    assert Feature.objects.filter(layer=layer, name="Mount Massive Wilderness").exists()
    assert not job.upload  # removed once the job finished
