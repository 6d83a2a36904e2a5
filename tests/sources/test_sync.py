"""A layer fed from each kind of source stays in step with it through insert, change and delete,
writes only the features that changed (so only their tiles are dropped), and survives the source
going away: the run fails, the layer stays as it was, and after N failures the source pauses.

Each kind reads a real server on loopback (tests/sources/conftest.py): a file on Python's
http.server, ESRI JSON pages standing in for ArcGIS, a second PostgreSQL database, and our own
OGC API (a second layer of this server, on the live server).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.core import mail
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from layers.models import ChangeEvent, Feature, Layer, TileChange
from layers.services import FeatureRecord, layer_replace_features
from layers.tiles import seed
from layers.tiles.cache import FolderTileCache, tile_cache
from layers.tiles.grid import tiles_touching
from layers.tiles.sql import TileSQL
from sources import services
from sources.models import LayerSource, RunStatus, SourceRun
from tests.factories import LayerFactory
from tests.sources.conftest import PLACES, Place, geojson, places
from tests.tiles.conftest import point, web_mercator

pytestmark = pytest.mark.django_db(transaction=True)

SEED_ZOOM = 12
FIRST = ("A", "B", "C", "D", "E")
# B renamed, C moved, D deleted at the source, F new; A and E untouched.
SECOND = {"keys": ("A", "B", "C", "E", "F"), "B": {"name": "Chùa Thiên Mụ (tháp Phước Duyên)"}}
MOVED_C = (108.0800, 16.2400)


def second_places() -> list[Place]:
    return places(*SECOND["keys"], B=SECOND["B"], C={"lon": MOVED_C[0], "lat": MOVED_C[1]})


@pytest.fixture
def dropped_tiles(monkeypatch):
    """Record each cached tile the invalidation removes (it still removes it)."""
    dropped = []
    original = FolderTileCache.delete

    def recorded(self, key):
        removed = original(self, key)
        if removed:
            dropped.append(key.coord)
        return removed

    monkeypatch.setattr(FolderTileCache, "delete", recorded)
    return dropped


@pytest.fixture
def target(category):
    return LayerFactory(
        slug="di-tich", category=category, geometry_type="point", prebuild_zoom=SEED_ZOOM
    )


def layer_features(layer: Layer) -> dict[str, tuple]:
    """Return the layer's features by key: (id, version, name, lon, lat)."""
    return {
        f.attributes["ma"]: (f.pk, f.version, f.attributes["ten"], round(f.geom.x, 4),
                             round(f.geom.y, 4))
        for f in Feature.objects.filter(layer=layer)
    }  # fmt: skip


def snapshot(layer: Layer) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, version, ST_AsEWKT(geom), attributes::text FROM layers_feature "
            "WHERE layer_id = %s ORDER BY id",
            [layer.pk],
        )
        rows = cursor.fetchall()
    fresh = Layer.objects.get(pk=layer.pk)
    return rows, fresh.version, fresh.feature_count


def cached_tiles(layer: Layer) -> set:
    root = tile_cache().root / "public" / layer.slug
    found = set()
    for path in root.glob("*/*/*.pbf*"):
        z, x = int(path.parent.parent.name), int(path.parent.name)
        found.add((z, x, int(path.name.split(".")[0])))
    return found


def tiles_near(lon_lats: list[tuple[float, float]], zooms) -> set:
    """Return the tiles (z, x, y) that a change at these places touches, with the tile margin."""
    tile_sql = TileSQL()
    touched = set()
    for z in zooms:
        for lon, lat in lon_lats:
            x, y = web_mercator((lon, lat))
            for coord in tiles_touching(z, (x, y, x, y), tile_sql.margin_m(z)):
                touched.add((coord.z, coord.x, coord.y))
    return touched


def tile_of(lon: float, lat: float, z: int) -> tuple:
    x, y = web_mercator((lon, lat))
    coord = next(iter(tiles_touching(z, (x, y, x, y))))
    return coord.z, coord.x, coord.y


def stays_in_step(
    source: LayerSource,
    publish: Callable[[list[Place]], None],
    go_away: Callable[[], None],
    dropped: list,
) -> None:
    layer = source.layer
    # 1. First run: everything is new.
    publish(places(*FIRST))
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.added, run.changed, run.removed, run.unchanged) == (5, 0, 0, 0)
    first = layer_features(layer)
    assert {key: row[2] for key, row in first.items()} == {k: PLACES[k][0] for k in FIRST}
    event = ChangeEvent.objects.get(pk=run.change_event_id)
    assert (event.action, event.channel) == ("sync", "sync")

    # Prebuild its tiles, then change the source: B renamed, C moved, D deleted, F added.
    layer.refresh_from_db()
    seed.tile_job_run_here(job=seed.tile_seed_create(layer=layer))
    TileChange.objects.filter(layer_id=layer.pk).delete()
    before_tiles = cached_tiles(layer)
    assert tile_of(*PLACES["E"][1:], SEED_ZOOM) in before_tiles
    dropped.clear()
    publish(second_places())
    version = Layer.objects.get(pk=layer.pk).version

    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.added, run.changed, run.removed, run.unchanged) == (1, 2, 1, 2)
    second = layer_features(layer)
    assert set(second) == {"A", "B", "C", "E", "F"}
    assert second["B"][2] == SECOND["B"]["name"] and (second["C"][3], second["C"][4]) == MOVED_C
    # Only the changed features were written: A and E keep their row and version.
    for key in ("A", "E"):
        assert second[key] == first[key]
    for key in ("B", "C"):
        assert second[key][0] == first[key][0] and second[key][1] == first[key][1] + 1
    assert Layer.objects.get(pk=layer.pk).version == version + 1
    # Only the tiles over the changed features were dropped (and rebuilt by the worker).
    changed_at = [PLACES["B"][1:], PLACES["C"][1:], MOVED_C, PLACES["D"][1:], PLACES["F"][1:]]
    near_changes = tiles_near(changed_at, range(SEED_ZOOM + 1))
    dropped_set = {(c.z, c.x, c.y) for c in dropped}
    assert dropped_set, "no tile was dropped"
    assert dropped_set <= near_changes & before_tiles
    assert tile_of(*PLACES["B"][1:], SEED_ZOOM) in dropped_set
    assert tile_of(*PLACES["D"][1:], SEED_ZOOM) in dropped_set
    assert tile_of(*PLACES["E"][1:], SEED_ZOOM) not in dropped_set
    assert len(dropped_set) < len(before_tiles)

    # 3. Nothing changed at the source: nothing written, no new version.
    version = Layer.objects.get(pk=layer.pk).version
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.added, run.changed, run.removed, run.unchanged) == (0, 0, 0, 5)
    assert run.change_event_id is None
    assert Layer.objects.get(pk=layer.pk).version == version

    # 4. The source goes away: runs fail, the layer is untouched, the source pauses after 2.
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    source.interval = interval
    services.source_save(source=source)
    assert PeriodicTask.objects.get(pk=source.periodic_task_id).enabled
    kept = snapshot(layer)
    go_away()
    mail.outbox.clear()
    failed = services.source_sync(source=source)
    assert failed.status == RunStatus.FAILED
    assert "The layer was not changed." in failed.error
    assert snapshot(layer) == kept
    source.refresh_from_db()
    assert (source.consecutive_failures, source.paused_at) == (1, None)
    assert len(mail.outbox) == 1 and layer.slug in mail.outbox[0].subject
    again = services.source_sync(source=source)
    assert again.status == RunStatus.FAILED
    assert snapshot(layer) == kept
    source.refresh_from_db()
    assert source.consecutive_failures == 2 and source.paused_at is not None
    assert not PeriodicTask.objects.get(pk=source.periodic_task_id).enabled
    assert "paused" in mail.outbox[-1].subject
    # A paused source's scheduled runs are skipped.
    assert services.source_sync(source=source) is None


def test_a_geojson_file_at_a_url(target, http_source, dropped_tiles):
    def publish(items):
        http_source.write("places.geojson", json.dumps(geojson(items)))

    source = services.source_save(
        source=LayerSource(
            layer=target,
            kind="file",
            url=f"{http_source.base}/places.geojson",
            mode="upsert",
            key_field="ma",
        )
    )
    stays_in_step(source, publish, http_source.stop, dropped_tiles)


def test_arcgis_feature_server_pages(target, http_source, dropped_tiles):
    """ESRI JSON pages by ogr2ogr on http.server stand in for an ArcGIS FeatureServer layer."""
    url = http_source.publish_arcgis(places(*FIRST))
    source = services.source_save(
        source=LayerSource(layer=target, kind="arcgis", url=url, mode="upsert", key_field="ma")
    )
    stays_in_step(source, http_source.publish_arcgis, http_source.stop, dropped_tiles)
    # GDAL read the layer page by page, asking for each page's offset.
    offsets = {r.split("resultOffset=")[1].split("&")[0] for r in http_source.requests if
               "resultOffset=" in r}  # fmt: skip
    assert {"2", "4"} <= offsets


def test_a_table_in_a_department_database(target, department_db, dropped_tiles):
    source = services.source_save(
        source=LayerSource(
            layer=target,
            kind="postgres",
            url=department_db.url,
            source_layer="dept.places",
            auth="basic",
            username=connection.settings_dict["USER"],
            mode="upsert",
            key_field="ma",
        ),
        secret=connection.settings_dict["PASSWORD"],
    )
    stays_in_step(source, department_db.publish, department_db.drop, dropped_tiles)
    run = source.runs.filter(status=RunStatus.FAILED).first()
    assert connection.settings_dict["PASSWORD"] not in run.error


def test_our_own_ogc_api_collection(target, category, live_server, dropped_tiles):
    upstream = LayerFactory(slug="nguon-di-tich", category=category, geometry_type="point")

    def publish(items):
        layer_replace_features(
            layer=upstream,
            records=[
                FeatureRecord(
                    geom=point((p.lon, p.lat)),
                    attributes={"ma": p.key, "ten": p.name, "loai": p.kind},
                )
                for p in items
            ],
        )

    def go_away():
        upstream.delete()

    source = services.source_save(
        source=LayerSource(
            layer=target,
            kind="oapif",
            url=f"{live_server.url}/ogc/collections/nguon-di-tich",
            mode="upsert",
            key_field="ma",
        )
    )
    stays_in_step(source, publish, go_away, dropped_tiles)


def test_a_wfs_feature_type(target, wfs_source, dropped_tiles):
    """A department's WFS 2.0 (MapServer), read by GDAL's WFS driver."""
    wfs_source.publish(places(*FIRST))
    source = services.source_save(
        source=LayerSource(
            layer=target,
            kind="wfs",
            url=wfs_source.url,
            source_layer="places",
            mode="upsert",
            key_field="ma",
        )
    )
    stays_in_step(source, wfs_source.publish, wfs_source.stop, dropped_tiles)
    assert any("REQUEST=GetFeature" in r or "request=GetFeature" in r.lower()
               for r in wfs_source.server.requests)  # fmt: skip
