"""Upgrades from each recorded release (mapserver/release.py): the release's own code, taken out of
git, migrates a fresh database and loads part of its demo; this code's `migrate` brings it up to
date. Every feature reads the same, the API and tiles answer, a write is recorded in the history;
the migrations then walk back to the release's state on that data (the rollback of
docs/operations.md), where the release's code still works, and forward again.

The last release is "the previous release"; the older ones run every migration since on real data.
A release's code runs in this venv: a release that no longer runs with today's dependencies is
dropped from the record, not skipped here (docs/operations.md, "Making a release").
"""

from __future__ import annotations

import io
import math
import subprocess
import tarfile
from pathlib import Path

import mapbox_vector_tile
import pytest
from django.conf import settings
from django.test import Client, override_settings

from layers.models import Feature, FeatureVersion, Layer
from layers.services import WriteContext, feature_update
from mapserver.release import RELEASES, Release
from tests.databases import (
    ROOT,
    database_create,
    database_drop,
    database_url,
    manage,
    reading,
    unique_name,
)

# Demo layers every release has: points (public and restricted), lines, a polygon.
SLUGS = ("cho", "cong-trinh-dau-moi", "di-tich", "quoc-lo-tinh-lo", "ranh-gioi-tinh")
POINTS = "di-tich"


def release_tree(release: Release, into: Path) -> Path:
    """Write the release's files (git archive of its commit) into a folder; return it."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{release.commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(
            f"Release {release.version}'s commit {release.commit[:12]} is not in this checkout's "
            "git history. The upgrade test needs it: clone the whole repository (not --depth), "
            "or run `git fetch --unshallow`."
        )
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", release.commit],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def leaf_migration(tree: Path, app: str = "layers") -> str:
    """Return the name of the app's last migration in a tree of the code."""
    names = sorted(p.stem for p in (tree / app / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1]


def _features() -> list[tuple]:
    """Return every feature as the release stored it (id, layer, geometry, attributes, name)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f.id, l.slug, md5(ST_AsEWKB(f.geom)), f.attributes::text, f.name"
            " FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id ORDER BY f.id"
        )
        return cursor.fetchall()


def _applied(app: str) -> list[str]:
    """Return the app's migrations the database records as applied, in name order."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM django_migrations WHERE app = %s ORDER BY name", [app])
        return [name for (name,) in cursor.fetchall()]


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, x, y


@pytest.mark.parametrize("release", RELEASES, ids=[r.version for r in RELEASES])
def test_every_migration_applies_to_a_releases_demo_database_and_walks_back(
    release, tmp_path, django_db_setup, django_db_blocker
):
    # No django_db mark: the test database is not used, and the default connection is pointed
    # at the release's database outside any transaction of pytest-django's.
    tree = release_tree(release, tmp_path / release.version)
    name = unique_name("test_mapserver_backup_u")
    env = {
        "DATABASE_URL": database_url(name),
        "SECRET_KEY": settings.SECRET_KEY,
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "TILE_CACHE_DIR": str(tmp_path / "tiles"),
    }

    def run(*arguments: str, root: Path = ROOT) -> str:
        done = manage(*arguments, env=env, root=root)
        assert done.returncode == 0, f"{root}: manage.py {' '.join(arguments)}\n{done.stderr}"
        return done.stdout

    database_create(name)
    try:
        run("migrate", "--noinput", root=tree)
        run("loaddemo", *SLUGS, root=tree)
        with django_db_blocker.unblock(), reading(name):
            before = _features()
        assert {slug for _, slug, *_ in before} == set(SLUGS)

        run("migrate", "--noinput")
        with django_db_blocker.unblock(), reading(name):
            assert _applied("layers")[-1] == leaf_migration(ROOT)
            assert _features() == before
            _reads_and_writes_through_this_code(before, tile_dir=tmp_path / "tiles-here")
            after_write = _features()

        # Rollback: this code takes the schema back to the release's, on the same data ...
        target = leaf_migration(tree)
        run("migrate", "--noinput", "layers", target)
        with django_db_blocker.unblock(), reading(name):
            assert _features() == after_write
            assert _applied("layers")[-1] == target
        # ... where the release's own code works (its loader finds its layers as it left them).
        again = run("loaddemo", *SLUGS, root=tree)
        assert f"{len(SLUGS)} demo layers: 0 loaded" in again, again

        # And forward again.
        run("migrate", "--noinput")
        with django_db_blocker.unblock(), reading(name):
            assert _features() == after_write
    finally:
        database_drop(name)


def _reads_and_writes_through_this_code(before: list[tuple], *, tile_dir: Path) -> None:
    """Read a feature and a tile through this code's API, and edit the feature."""
    feature_id = next(fid for fid, slug, *_ in before if slug == POINTS)
    feature = Feature.objects.get(pk=feature_id)
    client = Client()
    answer = client.get(f"/api/v1/layers/{POINTS}/features/{feature_id}/")
    assert answer.status_code == 200, answer.content
    assert answer.json()["properties"] == feature.attributes

    z, x, y = _tile_of(feature.geom.x, feature.geom.y, 14)
    with override_settings(TILE_CACHE_DIR=tile_dir, TILE_ACCEL_REDIRECT_PREFIX=None):
        tile = client.get(f"/tiles/{POINTS}/{z}/{x}/{y}.pbf")
    assert tile.status_code == 200, tile.status_code
    decoded = mapbox_vector_tile.decode(tile.content)
    assert feature_id in {f["id"] for f in decoded[POINTS]["features"]}

    layer = Layer.objects.get(slug=POINTS)
    assert layer.feature_count == sum(1 for _, slug, *_ in before if slug == POINTS)
    feature_update(
        feature=feature,
        attributes={**feature.attributes, feature.layer.name_field: "Sau nâng cấp"},
        by=WriteContext(channel="api"),
    )
    assert FeatureVersion.objects.filter(layer_id=layer.pk, feature_id=feature_id).count() == 1
