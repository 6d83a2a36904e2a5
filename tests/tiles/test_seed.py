"""Seeding the tile pyramid, resuming it, and the rebuild of only the tiles a change touched."""

import pytest
from django.contrib.gis.geos import Point

from layers import services
from layers.models import Feature, TileChange, TileJob, TileJobChunk
from layers.tiles import seed
from layers.tiles.cache import TileKey, tile_cache
from layers.tiles.grid import TileCoord, tiles_touching
from tests.tiles.conftest import DAI_NOI, LANG_CO, cached_tiles, expected_tiles, point, web_mercator

pytestmark = pytest.mark.django_db


def test_a_seed_builds_exactly_the_tiles_over_data_and_progress_adds_up(sites, monkeypatch):
    monkeypatch.setattr(seed, "CHUNK_TILES", 5)
    job = seed.tile_seed_create(layer=sites)
    seen = []
    job = seed.tile_job_run_here(
        job=job, on_progress=lambda done, total: seen.append((done, total))
    )
    expected = expected_tiles([DAI_NOI, LANG_CO], 0, 10)
    assert cached_tiles(sites) == expected
    assert job.status == "succeeded"
    assert job.progress_done == job.progress_total == len(expected) == job.tiles_rendered
    assert job.tiles_skipped == 0
    assert job.chunks.count() == -(-len(expected) // 5)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (len(expected), len(expected))

    again = seed.tile_job_run_here(job=seed.tile_seed_create(layer=sites))
    assert (again.tiles_rendered, again.tiles_skipped) == (0, len(expected))
    assert again.progress_done == again.progress_total == len(expected)


def test_a_resumed_job_does_not_redo_finished_tiles(sites, monkeypatch):
    monkeypatch.setattr(seed, "CHUNK_TILES", 4)
    job = seed.tile_seed_create(layer=sites)
    first, second, *_ = seed.tile_job_prepare(job=job)
    seed.tile_chunk_run(chunk_id=first)
    # A worker takes the second chunk, renders two of its tiles, and is killed.
    TileJobChunk.objects.filter(pk=second).update(status="running")
    half_done = [TileCoord(*tile) for tile in TileJobChunk.objects.get(pk=second).tiles[:2]]
    from layers.tiles.services import tiles_rebuild

    tiles_rebuild(layer=sites, coords=half_done)
    cache = tile_cache()
    finished = [TileCoord(*t) for t in TileJobChunk.objects.get(pk=first).tiles] + half_done
    stamps = {
        c: (cache.root / "public/sites" / f"{c.z}/{c.x}/{c.y}.pbf.gz").stat() for c in finished
    }

    rendered_before = TileJob.objects.get(pk=job.pk).tiles_rendered
    assert rendered_before == 4  # the first chunk's; the killed worker reported nothing

    job = seed.tile_job_run_here(job=TileJob.objects.get(pk=job.pk))

    assert job.status == "succeeded"
    assert job.progress_done == job.progress_total
    assert job.tiles_rendered - rendered_before == job.progress_total - len(finished)
    assert job.tiles_skipped == 2
    for coord, stat in stamps.items():
        now = (cache.root / "public/sites" / f"{coord.z}/{coord.x}/{coord.y}.pbf.gz").stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_editing_a_feature_rebuilds_its_tiles_and_leaves_far_tiles_alone(
    sites, django_capture_on_commit_callbacks
):
    seed.tile_job_run_here(job=seed.tile_seed_create(layer=sites))
    cache = tile_cache()
    z = 10
    near = next(iter(tiles_touching(z, (*web_mercator(DAI_NOI),) * 2)))
    far = next(iter(tiles_touching(z, (*web_mercator(LANG_CO),) * 2)))
    assert near != far
    near_before = cache.get(TileKey("public", "sites", near))
    far_path = cache.root / "public/sites" / f"{far.z}/{far.x}/{far.y}.pbf.gz"
    far_before = far_path.read_bytes(), far_path.stat()
    version = sites.version

    dai_noi = Feature.objects.get(layer=sites, attributes__ten="Đại Nội")
    with django_capture_on_commit_callbacks(execute=True):
        dai_noi.geom = Point(DAI_NOI[0] + 0.001, DAI_NOI[1], srid=4326)
        dai_noi.attributes = {"ten": "Hoàng thành"}
        dai_noi.save()
        services.layer_data_changed(layer=sites)

    near_after = cache.get(TileKey("public", "sites", near))
    assert near_after and near_after != near_before
    import gzip

    assert "Hoàng thành".encode() in gzip.decompress(near_after)
    assert far_path.read_bytes() == far_before[0]
    assert far_path.stat().st_mtime_ns == far_before[1].st_mtime_ns
    sites.refresh_from_db()
    assert sites.version == version + 1
    assert not TileChange.objects.filter(layer_id=sites.pk).exists()


def test_creating_and_deleting_features_rebuild_the_tiles_they_touch(
    sites, django_capture_on_commit_callbacks
):
    seed.tile_job_run_here(job=seed.tile_seed_create(layer=sites))
    cache = tile_cache()
    key = TileKey("public", "sites", next(iter(tiles_touching(10, (*web_mercator(DAI_NOI),) * 2))))
    before = cache.get(key)
    with django_capture_on_commit_callbacks(execute=True):
        extra = Feature.objects.create(
            layer=sites, geom=point((DAI_NOI[0] - 0.002, DAI_NOI[1])), attributes={"ten": "Mới"}
        )
        services.layer_data_changed(layer=sites)
    with_extra = cache.get(key)
    assert "Mới".encode() in __import__("gzip").decompress(with_extra)
    with django_capture_on_commit_callbacks(execute=True):
        extra.delete()
        services.layer_data_changed(layer=sites)
    assert cache.get(key) == before


def test_a_large_change_is_recorded_as_one_box_and_rebuilds_the_layer(
    sites, django_capture_on_commit_callbacks
):
    seed.tile_job_run_here(job=seed.tile_seed_create(layer=sites))
    far = tile_cache().root / "public/sites/10"
    stamp = {path: path.stat().st_mtime_ns for path in far.glob("*/*.pbf.gz")}
    with django_capture_on_commit_callbacks(execute=True):
        Feature.objects.bulk_create(
            Feature(layer=sites, geom=point((107.5 + i / 10000, 16.4)), attributes={})
            for i in range(1200)
        )
        [box] = TileChange.objects.filter(layer_id=sites.pk)
        assert box.feature_count == 1200
        assert box.min_x < box.max_x
        services.layer_data_changed(layer=sites)
    job = TileJob.objects.filter(layer=sites).latest("created_at")
    assert job.status == "succeeded" and job.tiles_rendered == job.progress_total
    assert all(path.stat().st_mtime_ns != ns for path, ns in stamp.items() if path.exists())


def test_a_layer_made_internal_leaves_the_public_cache(sites, django_capture_on_commit_callbacks):
    seed.tile_job_run_here(job=seed.tile_seed_create(layer=sites))
    public_dir = tile_cache().root / "public" / "sites"
    assert public_dir.exists()
    with django_capture_on_commit_callbacks(execute=True):
        sites.visibility = "internal"
        sites.save()
    assert not public_dir.exists()
    job = TileJob.objects.filter(layer=sites).latest("created_at")
    assert job.status == "succeeded"  # eager Celery in tests: the reseed already ran
    assert (tile_cache().root / "private" / "sites").exists()
