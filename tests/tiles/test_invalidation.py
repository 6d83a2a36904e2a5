"""Tiles a data change touched are dropped by a worker, never in the web request that made it.

The request only queues the work (the outbox, in its own transaction). Until a worker has
dropped the touched tiles, the layer's new version is not published in the cache: nginx and
Django send no cached file for it, so a tile of the old data is never answered as the new one.
"""

from __future__ import annotations

import gzip
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from layers import jobs, tasks
from layers.models import Feature, Layer, QueuedTask, TileChange
from layers.queueing import outbox_flush
from layers.services import layer_refresh_stats
from layers.tiles import seed
from layers.tiles.cache import FolderTileCache, TileKey, tile_cache
from layers.tiles.grid import TileCoord, tiles_touching
from mapserver.celery import app
from tests.factories import LayerFactory
from tests.faults.conftest import broker_at, free_port  # noqa: F401  (broker_at: a fixture)
from tests.tiles.conftest import DAI_NOI, LANG_CO, point, tile_and_pixel, web_mercator
from tests.tiles.test_nginx import fetch, nginx, nginx_tile_cache  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_DEADLINE_S = 60
# What reads folders or removes files: none of it may run in a web request that edits data.
CACHE_FOLDER_WORK = ("cached_zooms", "cached_in", "delete", "clear_layer", "publish")


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def cache_folder_work(monkeypatch):
    """Record each call of the cache's folder work made in this process (it still runs)."""
    calls = []
    for name in CACHE_FOLDER_WORK:
        original = getattr(FolderTileCache, name)

        def recorded(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(FolderTileCache, name, recorded)
    return calls


@pytest.fixture
def broker_down(broker_at, settings):  # noqa: F811
    """Point this process at a port where no broker listens, and send tasks for real."""
    broker_at(f"redis://127.0.0.1:{free_port()}/0")
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def seeded_sites(category) -> Layer:
    """A public layer with two far-apart places, its tiles to z10 built and published."""
    layer = LayerFactory(slug="sites", category=category, geometry_type="point", prebuild_zoom=10)
    Feature.objects.create(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Đại Nội"})
    Feature.objects.create(layer=layer, geom=point(LANG_CO), attributes={"ten": "Lăng Cô"})
    TileChange.objects.filter(layer_id=layer.pk).delete()  # as if their change had been handled
    layer = layer_refresh_stats(layer=layer)
    seed.tile_job_run_here(job=seed.tile_seed_create(layer=layer))
    assert tile_cache().published("public", "sites", layer.version)
    return layer


def tile_at(place, z: int) -> TileCoord:
    return next(iter(tiles_touching(z, (*web_mercator(place),) * 2)))


def wait_until(predicate, what: str):
    deadline = time.monotonic() + WORKER_DEADLINE_S
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_an_edit_through_the_api_leaves_the_cache_folder_to_the_worker(
    api, category, celery_worker_process, cache_folder_work
):
    sites = seeded_sites(category)
    cache = tile_cache()
    near, far = tile_at(DAI_NOI, 10), tile_at(LANG_CO, 10)
    near_path = cache.root / f"public/sites/10/{near.x}/{near.y}.pbf.gz"
    far_path = cache.root / f"public/sites/10/{far.x}/{far.y}.pbf.gz"
    far_stamp = far_path.stat().st_mtime_ns
    dai_noi = Feature.objects.get(layer=sites, attributes__ten="Đại Nội")
    cache_folder_work.clear()

    edit = api.patch(
        f"/api/v1/layers/sites/features/{dai_noi.pk}/",
        {"properties": {"ten": "Hoàng thành"}},
        format="json",
    )

    assert edit.status_code == 200, edit.content
    assert cache_folder_work == []  # no folder read, no file removed in the request
    version = Layer.objects.get(pk=sites.pk).version
    assert version == sites.version + 1
    # The worker drops the touched tile, publishes the version, and its rebuild renders it again.
    wait_until(lambda: cache.published("public", "sites", version), "the version's link")

    def rebuilt() -> bool:
        return near_path.exists() and "Hoàng thành".encode() in gzip.decompress(
            near_path.read_bytes()
        )

    wait_until(rebuilt, "the touched tile's rebuild")
    assert far_path.stat().st_mtime_ns == far_stamp  # a tile the edit did not touch stays
    assert not TileChange.objects.filter(layer_id=sites.pk).exists()


def test_until_the_worker_ran_no_cached_tile_is_sent_for_the_new_version(
    api,
    category,
    nginx,  # noqa: F811  (the fixture imported above)
    live_server,
    broker_down,
):
    layer = LayerFactory(slug="sites", category=category, geometry_type="point")
    dai_noi = Feature.objects.create(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Cũ"})
    TileChange.objects.filter(layer_id=layer.pk).delete()
    old_version = layer_refresh_stats(layer=layer).version
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    path = f"/tiles/sites/14/{x}/{y}.pbf"
    cache = tile_cache()
    key = TileKey("public", "sites", TileCoord(14, x, y))
    first = fetch(nginx, f"{path}?v={old_version}")  # rendered by Django, cached, published
    assert first.status == 200
    old_bytes = wait_until(lambda: cache.get(key), "the first tile to be cached")
    wait_until(lambda: cache.published("public", "sites", old_version), "the first publish")

    # The edit commits; its message cannot reach a worker (the broker is down): it waits in
    # the outbox, and the cache still holds the old tile under the old version.
    edit = api.patch(
        f"/api/v1/layers/sites/features/{dai_noi.pk}/",
        {"properties": {"ten": "Mới"}},
        format="json",
    )
    assert edit.status_code == 200, edit.content
    assert list(QueuedTask.objects.values_list("task", flat=True)) == [
        "layers.tasks.tiles_after_data_change"
    ]
    new_version = Layer.objects.get(pk=layer.pk).version
    assert cache.get(key) == old_bytes

    assert fetch(nginx, f"{path}?v={old_version}").body == old_bytes  # the old version's file
    for base in (nginx, live_server.url):
        answer = fetch(base, f"{path}?v={new_version}")
        assert answer.status == 200
        assert "Mới".encode() in gzip.decompress(answer.body), base  # rendered, not the file

    # The broker is back and the outbox sends the task: the tile goes, the version is published.
    app.conf.task_always_eager = True
    QueuedTask.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert outbox_flush() >= 1
    assert cache.published("public", "sites", new_version)
    assert not TileChange.objects.filter(layer_id=layer.pk).exists()
    served = fetch(nginx, f"{path}?v={new_version}")
    assert "Mới".encode() in gzip.decompress(served.body)


def test_a_burst_of_edits_is_dropped_and_rebuilt_once(api, category, tile_cache_dir, broker_down):
    sites = seeded_sites(category)
    dai_noi = Feature.objects.get(layer=sites, attributes__ten="Đại Nội")
    for n in range(5):  # five edits, five transactions, five queued invalidations
        answer = api.patch(
            f"/api/v1/layers/sites/features/{dai_noi.pk}/",
            {"properties": {"ten": f"Đại Nội {n}"}},
            format="json",
        )
        assert answer.status_code == 200, answer.content
    queued = QueuedTask.objects.filter(task="layers.tasks.tiles_after_data_change")
    assert queued.count() == 5

    # The worker runs them in turn (the broker is still down: what they queue stays visible).
    dropped = [tasks.tiles_after_data_change(*row.args) for row in queued]

    assert dropped[0] > 0 and dropped[1:] == [0, 0, 0, 0]  # the first claimed every box
    [rebuild] = QueuedTask.objects.filter(task="layers.tasks.tiles_rebuild")
    assert len(rebuild.args[1]) == dropped[0] == len({tuple(t) for t in rebuild.args[1]})
    version = Layer.objects.get(pk=sites.pk).version
    assert tile_cache().published("public", "sites", version)


def test_the_sweep_queues_again_the_changes_whose_message_was_lost(category, tile_cache_dir):
    sites = seeded_sites(category)
    near = tile_at(DAI_NOI, 10)
    # A change committed, and its message was lost after it left the outbox.
    Feature.objects.filter(layer=sites, attributes__ten="Đại Nội").update(
        geom=point((DAI_NOI[0] + 0.001, DAI_NOI[1]))
    )
    Layer.objects.filter(pk=sites.pk).update(version=sites.version + 1)
    assert not tile_cache().published("public", "sites", sites.version + 1)

    jobs.jobs_sweep()
    assert TileChange.objects.filter(layer_id=sites.pk).exists()  # too recent to be lost

    TileChange.objects.update(
        created_at=timezone.now() - timedelta(seconds=jobs.TILE_CHANGE_REQUEUE_AFTER_S + 1)
    )
    jobs.jobs_sweep()  # queues the invalidation again (eager here: it runs at once)

    assert not TileChange.objects.filter(layer_id=sites.pk).exists()
    assert tile_cache().published("public", "sites", sites.version + 1)
    assert tile_cache().get(TileKey("public", "sites", near, sites.version + 1)) is not None
