"""Seed planning on real extents: a world layer and the whole of Vietnam plan by true geometry
within the tile budget, checked against an independent count (shapely over every tile of the
data's box), and planning never holds the job's row."""

import math
import threading
import time
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, connections

from layers import services
from layers.models import Feature, TileChange, TileJob
from layers.tiles import seed
from tests.factories import LayerFactory

DATA = Path("/work/shared/data")
WORLD = DATA / "naturalearth_lowres" / "naturalearth_lowres.shp"
PROVINCES = DATA / "vn_provinces_2025" / "vn_provinces_2025.gpkg"
# Half the EPSG:3857 world square, and the render buffer as a share of a tile (64 / 4096): the
# oracle's own numbers, not the code's.
HALF_WORLD_M = 20037508.342789244
BUFFER_SHARE = 64 / 4096
BUDGET = 2000

needs_data = pytest.mark.skipif(
    not (WORLD.exists() and PROVINCES.exists()), reason="shared real data not present"
)


def load_layer(slug: str, path: Path, category, **fields):
    """Create a ready public layer holding every geometry of a real file (no importer)."""
    _meta, _fids, geometries, _fields = pyogrio.raw.read(path)
    layer = LayerFactory(slug=slug, category=category, geometry_type="polygon", **fields)
    Feature.objects.bulk_create(
        Feature(layer=layer, geom=GEOSGeometry(memoryview(wkb), srid=4326), attributes={})
        for wkb in geometries
    )
    TileChange.objects.filter(layer_id=layer.pk).delete()
    return services.layer_refresh_stats(layer=layer)


def oracle_tiles_per_zoom(layer, *, max_zoom: int, budget: int) -> dict[int, int]:
    """Count, zoom by zoom, the tiles (grown by the buffer) that the layer's geometry intersects.

    Brute force over every tile of the data's box, with shapely: no hierarchy, no subdivision.
    Stops after the first zoom that takes the total past the budget.
    """
    wkbs = Feature.objects.filter(layer=layer).values_list("geom_3857", flat=True)
    geometries = shapely.from_wkb([bytes(g.wkb) for g in wkbs])
    tree = shapely.STRtree(geometries)
    west, south, east, north = shapely.total_bounds(geometries)
    counts, total = {}, 0
    for z in range(max_zoom + 1):
        n = 2**z
        size = 2 * HALF_WORLD_M / n
        margin = size * BUFFER_SHARE

        def span(low, high, n=n, size=size):
            return range(max(0, math.floor(low / size)), min(n - 1, math.floor(high / size)) + 1)

        columns = span(west - margin + HALF_WORLD_M, east + margin + HALF_WORLD_M)
        rows = span(HALF_WORLD_M - north - margin, HALF_WORLD_M - south + margin)
        xs, ys = np.meshgrid(np.array(columns), np.array(rows))
        xs, ys = xs.ravel(), ys.ravel()
        left = -HALF_WORLD_M + xs * size
        top = HALF_WORLD_M - ys * size
        boxes = shapely.box(left - margin, top - size - margin, left + size + margin, top + margin)
        hit = tree.query(boxes, predicate="intersects")
        counts[z] = len(np.unique(hit[0]))
        total += counts[z]
        if total > budget:
            break
    return counts


def depth_within(counts: dict[int, int], budget: int) -> int:
    total = depth = 0
    for z, count in sorted(counts.items()):
        if total + count > budget:
            break
        total, depth = total + count, z
    return depth


@pytest.fixture
def world(category, tile_cache_dir):
    return load_layer("world", WORLD, category, prebuild_zoom=14)


@pytest.fixture
def vietnam(category, tile_cache_dir):
    return load_layer("vn-provinces", PROVINCES, category, prebuild_zoom=14)


@needs_data
@pytest.mark.django_db
@pytest.mark.parametrize("fixture", ["world", "vietnam"])
def test_a_seed_to_z14_of_a_real_extent_is_planned_within_the_budget(fixture, request, settings):
    layer = request.getfixturevalue(fixture)
    settings.TILE_SEED_BUDGET = BUDGET
    job = seed.tile_seed_create(layer=layer)
    assert (job.min_zoom, job.max_zoom) == (0, 14)

    started = time.monotonic()
    chunk_ids = seed.tile_job_prepare(job=job)
    plan_seconds = time.monotonic() - started

    job.refresh_from_db()
    expected = oracle_tiles_per_zoom(layer, max_zoom=14, budget=BUDGET)
    depth = depth_within(expected, BUDGET)
    assert 3 <= depth < 14  # the budget, not the data, stopped the plan
    assert (job.requested_max_zoom, job.max_zoom) == (14, depth)
    report = job.report
    assert report["tiles_per_zoom"] == {str(z): expected[z] for z in range(depth + 1)}
    assert (report["over_budget_zoom"], report["over_budget_tiles"]) == (
        depth + 1,
        expected[depth + 1],
    )
    assert report["budget"] == BUDGET
    assert job.progress_total == report["tiles"] == sum(expected[z] for z in range(depth + 1))
    assert job.progress_total <= BUDGET < job.progress_total + expected[depth + 1]
    assert f"z{depth + 1} would add {expected[depth + 1]:,} tiles" in report["reason"]
    assert job.messages[-1] == {"level": "warning", "message": report["reason"]}

    planned = [tuple(tile) for chunk in job.chunks.all() for tile in chunk.tiles]
    assert len(planned) == len(set(planned)) == job.progress_total
    assert len(chunk_ids) == job.chunks.count() == -(-job.progress_total // seed.CHUNK_TILES)
    assert max(z for z, _, _ in planned) == depth
    # Planning itself is quick: PostgreSQL walks at most four times the budget per zoom.
    assert plan_seconds < 20, plan_seconds


@needs_data
@pytest.mark.django_db
def test_the_budget_counts_from_the_min_zoom_and_can_leave_nothing_to_prebuild(world, settings):
    settings.TILE_SEED_BUDGET = BUDGET
    expected = oracle_tiles_per_zoom(world, max_zoom=14, budget=10 * BUDGET)
    job = seed.tile_seed_create(layer=world, min_zoom=5, max_zoom=14)
    seed.tile_job_prepare(job=job)
    job.refresh_from_db()
    total, depth = 0, 4
    for z in range(5, 15):
        if total + expected[z] > BUDGET:
            break
        total, depth = total + expected[z], z
    assert job.max_zoom == depth and job.progress_total == total
    assert set(job.report["tiles_per_zoom"]) == {str(z) for z in range(5, depth + 1)}

    settings.TILE_SEED_BUDGET = expected[5] - 1
    job = seed.tile_seed_create(layer=world, min_zoom=5, max_zoom=14)
    assert seed.tile_job_prepare(job=job) == []
    job.refresh_from_db()
    assert job.status == "succeeded" and job.progress_total == 0 and job.max_zoom == 5
    assert "nothing is prebuilt" in job.report["reason"]
    assert not job.chunks.exists()


@needs_data
@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_planning_goes_through_at_once_and_stops_the_plan(
    world, settings, monkeypatch
):
    """The planner holds no lock on the job's row: a cancel from elsewhere does not wait."""
    settings.TILE_SEED_BUDGET = 50_000
    job = seed.tile_seed_create(layer=world)
    planning, cancelled = threading.Event(), threading.Event()
    original = seed._plan_zooms

    def slow_plan(cursor, *, layer_id, plan, still_wanted):
        def wanted():
            # After z0, hold the planning transaction open until the test has cancelled.
            if plan.tiles_per_zoom:
                planning.set()
                cancelled.wait(timeout=10)
            return still_wanted()

        return original(cursor, layer_id=layer_id, plan=plan, still_wanted=wanted)

    monkeypatch.setattr(seed, "_plan_zooms", slow_plan)
    outcome = {}

    def plan_in_a_worker():
        try:
            outcome["chunks"] = seed.tile_job_prepare(job=job)
        finally:
            connections.close_all()

    worker = threading.Thread(target=plan_in_a_worker)
    worker.start()
    try:
        assert planning.wait(timeout=30)
        with connection.cursor() as cursor:
            # Had the planner locked the row, this would fail after 2 s instead of waiting 10.
            cursor.execute("SET lock_timeout = '2s'")
            started = time.monotonic()
            assert seed.tile_job_cancel(job=TileJob.objects.get(pk=job.pk))
            waited = time.monotonic() - started
            cursor.execute("SET lock_timeout = 0")
    finally:
        cancelled.set()
        worker.join(timeout=60)
    assert waited < 1.5, waited
    assert outcome["chunks"] == []
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert not job.chunks.exists() and job.progress_total == 0
    assert job.messages[-1]["message"].startswith("Cancelled")
