"""Worker machines: processes with their own folder and environment, sharing only the broker
and the database (and the upload and tile-cache folders docs/operations.md says to share), take
import and seed work from the shared broker, each machine only its own kinds of work."""

from __future__ import annotations

import re

import mapbox_vector_tile
import pytest
import requests

from tests.faults.conftest import PrivatePostgres, wait_until
from tests.scale.conftest import (
    Site,
    api,
    import_places,
    new_folder,
    seed_tiles,
    staff_token,
)


@pytest.fixture(scope="module")
def site():
    """A web machine, an import machine and a tile machine on one private cluster."""
    from django.conf import settings

    folder = new_folder("scale-workers-")
    cluster = PrivatePostgres(folder / "pg")
    (folder / "pg").mkdir()
    site = Site(folder, broker_url=settings.CELERY_BROKER_URL)
    try:
        cluster.init()
        cluster.start()
        cluster.psql("postgres", "CREATE DATABASE scale")
        url = cluster.url("scale")
        site.manage(site.machine_env("migrate", database_url=url), "migrate", "--noinput")
        site.seed(site.machine_env("seed", database_url=url))
        site.base = site.start_web(site.machine_env("web", database_url=url))
        site.import_worker = site.start_worker(
            site.machine_env("worker-imports", database_url=url), ["imports"]
        )
        site.tile_worker = site.start_worker(
            site.machine_env("worker-tiles", database_url=url), ["tiles", "default"]
        )
        site.cluster = cluster
        site.token = staff_token(site.base)
        yield site
    finally:
        site.close()
        cluster.remove()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_an_import_is_run_by_the_import_machine(site):
    job = import_places(site, slug="cho", count=20)
    assert job["status"] == "succeeded", job["messages"]
    query = f"SELECT worker FROM layers_importjob WHERE id = {int(job['id'])}"
    worker = site.cluster.psql("scale", query)
    assert worker.strip().endswith(f":{site.import_worker.pid}")
    # It unpacked in its own work folder, removed just after the job's end was committed.
    work = site.folder / "worker-imports" / "work"
    wait_until(lambda: not list(work.iterdir()), timeout_s=10, what="the work folder to go")
    features = api(site, "GET", "/api/v1/layers/cho/features/").json()["features"]
    assert len(features) == 20


def test_a_seed_is_run_by_the_tile_machine_into_the_shared_cache(site):
    job = seed_tiles(site, slug="di-tich", max_zoom=14)
    assert job["status"] == "succeeded", job
    workers = site.cluster.psql(
        "scale", f"SELECT DISTINCT worker FROM layers_tilejobchunk WHERE job_id = {int(job['id'])}"
    ).split()
    assert workers and all(w.endswith(f":{site.tile_worker.pid}") for w in workers)
    # The web machine answers a seeded tile from the shared cache.
    cached = site.tiles / "public" / "di-tich" / "14" / "13088" / "7431.pbf.gz"
    assert cached.exists()
    tile = requests.get(site.base + "/tiles/di-tich/14/13088/7431.pbf", timeout=30)
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["di-tich"]["features"]
    names = [feature["properties"]["ten"] for feature in features]
    assert names == ["Đại Nội"]


def tasks_received(log: str) -> set[str]:
    """Return the names of the tasks a worker's log says it received."""
    return set(re.findall(r"Task layers\.tasks\.(\w+)\[[-\w]+\] received", log))


def test_each_machine_took_only_its_own_kinds_of_work(site):
    assert tasks_received(site.import_worker.log.text()) == {"import_run"}
    taken_by_tiles = tasks_received(site.tile_worker.log.text())
    assert {"tile_job_start", "tile_chunk_run"} <= taken_by_tiles
    assert "import_run" not in taken_by_tiles
