"""Backups: a small demo with edits, an import's archive and an attachment, backed up with
`manage.py backup` and restored with `manage.py restore` (another process, as an operator runs it)
into a fresh database of its own, reads back the same: layers, features, history, the layer as it
was, attachments, the schema (partitions, archives, checks, triggers, generated columns,
sequences) and tiles, byte for byte. And the refusals: a database that is not empty, damaged or
foreign archives, missing or old PostgreSQL tools.

The module's fixture builds the data (committed), backs it up, restores it and reads both databases
the same way; the tests compare what it read.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tarfile
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import Point
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from PIL import Image
from psycopg import sql

from layers import attachments
from layers.backups.archive import DATABASE, MANIFEST, SETTINGS
from layers.imports import import_job_create, import_run
from layers.models import ChangeEvent, Feature, FeatureVersion, Layer
from layers.services import WriteContext, feature_create, feature_delete, feature_update
from tests.databases import (
    admin_connection,
    database_create,
    database_drop,
    database_url,
    manage,
    reading,
    schema_fingerprint,
    unique_name,
)
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

SLUGS = ("cho", "cong-trinh-dau-moi", "di-tich", "quoc-lo-tinh-lo", "ranh-gioi-tinh")
EDITED, IMPORTED = "di-tich", "cho"
TILE_ZOOM = 14
# Values the backup must not keep (settings.json) although they are in force while it runs.
HEALTH_TOKEN = f"health-{uuid.uuid4().hex}"
BROKER_PASSWORD = f"broker-{uuid.uuid4().hex}"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (200, 120, 30)).save(out, "PNG")
    return out.getvalue()


def _geojson(*names: str) -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [107.58 + i / 1000, 16.47]},
            "properties": {"ten": name},
        }
        for i, name in enumerate(names)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """Return the Web-Mercator tile holding a point (the slippy-map formula, not our grid code)."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, x, y


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- What is read back from each database -------------------------------------------------------


def _schema() -> dict[str, list]:
    """Return the schema's definitions and the sequences' values."""
    schema = schema_fingerprint()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            " AND sequencename !~ '^(axes_|layers_(queuedtask|tilejob))'"
        )
        schema["sequences"] = sorted(cursor.fetchall())
    return schema


def _rows_digest() -> dict[str, tuple]:
    """Return a count and digest of every row of the feature and history tables (all columns,
    the generated ones included) and of the change events."""
    digests = {}
    with connection.cursor() as cursor:
        for table in ("layers_feature", "layers_featureversion", "layers_changeevent"):
            cursor.execute(
                sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t")
                .format(sql.Identifier(table))
                .as_string(cursor.connection)
            )
            digests[table] = cursor.fetchone()
    return digests


def _read_back(*, names: SimpleNamespace, tile_dir: Path) -> dict:
    """Read the default database through the ORM, the API and the tile endpoint."""
    from django.contrib.auth import get_user_model

    # Before signing in, which writes rows (sessions, django-axes' log). Sequences of rows that
    # move anyway are left out: django-axes' (the original signed in before the backup) and the
    # tile jobs' and outbox's (the restore queues seeds).
    schema, rows = _schema(), _rows_digest()
    client = Client()
    client.force_login(get_user_model().objects.get(username=names.staff))
    base = f"/api/v1/layers/{EDITED}/features/{names.edited_id}"
    with override_settings(TILE_CACHE_DIR=tile_dir, TILE_ACCEL_REDIRECT_PREFIX=None):
        z, x, y = names.tile
        tile = client.get(f"/tiles/{EDITED}/{z}/{x}/{y}.pbf")
        assert tile.status_code == 200, tile.status_code
        as_of = client.get(f"/api/v1/layers/{IMPORTED}/features/", {"as_of": names.before_import})
        assert as_of.status_code == 200, as_of.content
        history = client.get(f"{base}/history/")
        assert history.status_code == 200, history.content
        download = client.get(f"{base}/attachments/{names.attachment_id}/download/")
        assert download.status_code == 200, download.content
        thumbnail = client.get(f"{base}/attachments/{names.attachment_id}/thumbnail/")
        return {
            "layers": list(
                Layer.objects.order_by("slug").values_list(
                    "slug", "version", "feature_count", "visibility", "status"
                )
            ),
            "restricted_groups": list(
                Layer.objects.filter(slug="cong-trinh-dau-moi").values_list("groups__name")
            ),
            "feature_counts": {
                slug: Feature.objects.filter(layer__slug=slug).count() for slug in SLUGS
            },
            "rows": rows,
            "schema": schema,
            "history": history.json(),
            # The answer's own instant aside.
            "as_of": {k: v for k, v in as_of.json().items() if k != "timeStamp"},
            "attachment": _body(download),
            "thumbnail": _body(thumbnail),
            "tile": _body(tile),
            "srids": _vn2000_zones(),
        }


def _vn2000_zones() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM spatial_ref_sys WHERE srid BETWEEN 9205 AND 9218")
        return cursor.fetchone()[0]


def _works_on(names: SimpleNamespace) -> dict:
    """Write to the restored database as the server would; return what the database did."""
    staff = WriteContext(user=None, channel="api")
    layer = Layer.objects.get(slug=EDITED)
    newest = Feature.objects.order_by("-id").values_list("id", flat=True).first()
    created = feature_create(
        layer=layer,
        geom=Point(107.5801, 16.4702, srid=4326),
        attributes={**Feature.objects.get(pk=names.edited_id).attributes, "ten": "Mới"},
        by=staff,
    )
    edited = Feature.objects.get(pk=names.edited_id)
    versions_before = FeatureVersion.objects.filter(feature_id=edited.pk).count()
    feature_update(feature=edited, attributes={**edited.attributes, "ten": "Lại sửa"}, by=staff)
    fresh = LayerFactory(slug="lop-moi", category=layer.category)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"layers_feature_p{fresh.pk}"])
        (partition,) = cursor.fetchone()
    return {
        "new_id_after_old": created.pk > newest,
        "edit_recorded": FeatureVersion.objects.filter(feature_id=edited.pk).count()
        == versions_before + 1,
        "partition_made": partition,
    }


# --- The fixture: data, backup, restore, both read --------------------------------------------


@pytest.fixture(scope="module")
def restored(django_db_setup, django_db_blocker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("backup")
    media, tiles = folder / "media", folder / "tiles"
    archive = folder / "hue.tar"
    target = unique_name("test_mapserver_backup_r")
    restored_media, restored_tiles = folder / "restored-media", folder / "restored-tiles"
    # A cache left from another life of the deployment: a layer the backup lacks, and a tile of a
    # backed-up layer under the version number it has, holding other bytes.
    stale_public = restored_tiles / "public"
    (stale_public / "lop-da-xoa" / "0" / "0").mkdir(parents=True)
    (stale_public / "lop-da-xoa" / "0" / "0" / "0.pbf.gz").write_bytes(b"old")
    names = SimpleNamespace(staff=f"staff-{uuid.uuid4().hex[:6]}")
    cache = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=media,
            TILE_CACHE_DIR=tiles,
            TILE_ACCEL_REDIRECT_PREFIX=None,
            CACHES=cache,
            HEALTH_DETAIL_TOKEN=HEALTH_TOKEN,
            CELERY_BROKER_URL=f"redis://:{BROKER_PASSWORD}@127.0.0.1:6379/0",
        ),
    ):
        try:
            call_command("loaddemo", *SLUGS, verbosity=0)
            staff = UserFactory(username=names.staff, is_staff=True)
            staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="layers"))
            by = WriteContext(user=staff, channel="api")

            edited = Feature.objects.filter(layer__slug=EDITED).order_by("id").first()
            names.edited_id = edited.pk
            names.tile = _tile_of(edited.geom.x, edited.geom.y, TILE_ZOOM)
            feature_update(feature=edited, attributes={**edited.attributes, "ten": "Đã sửa"}, by=by)
            gone = Feature.objects.filter(layer__slug=EDITED).order_by("id").last()
            feature_delete(feature=gone, by=by)
            checked = attachments.attachment_check(name="anh-mat-tien.png", data=_png())
            names.attachment_bytes = checked.data
            names.attachment_id = attachments.attachment_add(
                layer=edited.layer, feature_id=edited.pk, checked=checked, by=by
            ).pk

            names.before_import = (timezone.now() - timedelta(microseconds=1)).isoformat()
            names.replaced = sorted(
                Feature.objects.filter(layer__slug=IMPORTED).values_list("id", flat=True)
            )
            layer = Layer.objects.get(slug=IMPORTED)
            job = import_job_create(
                layer=layer,
                upload=ContentFile(_geojson("Chợ Mới", "Chợ Bến Ngự"), name="cho.geojson"),
                mode="replace",
                options={},
                queue=False,
            )
            job = import_run(job=job)
            assert job.status == "succeeded", job.messages
            names.archive_table = f"layers_featureversion_p{layer.pk}_e" + str(
                ChangeEvent.objects.get(job=job).pk
            )

            original = _read_back(names=names, tile_dir=folder / "original-tiles")
            backup_out = io.StringIO()
            call_command("backup", "-o", str(archive), stdout=backup_out)

            database_create(target)
            done = manage(
                "restore",
                str(archive),
                env={
                    "DATABASE_URL": database_url(target),
                    "MEDIA_ROOT": str(restored_media),
                    "TILE_CACHE_DIR": str(restored_tiles),
                    "CELERY_TASK_ALWAYS_EAGER": "true",
                    "CELERY_QUEUE_PREFIX": f"test-backup-{uuid.uuid4().hex[:8]}-",
                },
            )
            assert done.returncode == 0, done.stderr + done.stdout
            with reading(target):
                again = _read_back(names=names, tile_dir=folder / "restored-read-tiles")
                works_on = _works_on(names)
            yield SimpleNamespace(
                names=names,
                archive=archive,
                backup_output=backup_out.getvalue(),
                restore_output=done.stdout,
                original=original,
                restored=again,
                works_on=works_on,
                media=media,
                restored_media=restored_media,
                restored_tiles=restored_tiles,
            )
        finally:
            database_drop(target)
            # Deleting the layers drops their partitions and archives (a flush only empties them).
            for layer in Layer.objects.all():
                layer.delete()
            call_command("flush", interactive=False, verbosity=0)


# --- The round trip -------------------------------------------------------------------------


def test_layers_features_and_their_history_come_back_the_same(restored):
    before, after = restored.original, restored.restored
    assert after["layers"] == before["layers"]
    assert {slug for slug, *_ in before["layers"]} >= set(SLUGS)
    assert after["feature_counts"] == before["feature_counts"]
    assert all(before["feature_counts"].values())
    assert after["restricted_groups"] == before["restricted_groups"] != [(None,)]
    # Every row of the features, their past versions (archives included) and the change events,
    # every column (generated ones recomputed by the restore) the same.
    assert after["rows"] == before["rows"]
    assert before["rows"]["layers_featureversion"][0] >= 3  # edit, delete, import's archive


def test_a_features_history_and_the_layer_as_it_was_read_the_same(restored):
    before, after = restored.original, restored.restored
    assert after["history"] == before["history"]
    names = [v["properties"]["ten"] for v in before["history"]["versions"]]
    assert "Đã sửa" in names and len(names) >= 2
    # The layer before the import is read from the import's archive table.
    assert after["as_of"] == before["as_of"]
    then = sorted(f["id"] for f in before["as_of"]["features"])
    assert then == restored.names.replaced


def test_the_schema_comes_back_whole(restored):
    before, after = restored.original["schema"], restored.restored["schema"]
    for part in before:
        assert after[part] == before[part], part
    relations = {name: (kind, bound, parents) for name, kind, bound, parents in before["relations"]}
    archive = restored.names.archive_table
    assert relations[archive][2] == "layers_featureversion"
    checks = {name for table, name, kind, *_ in before["constraints"] if table == archive}
    assert {f"{archive}_layer", f"{archive}_valid_to", f"{archive}_valid_from"} <= checks
    partitions = [name for name, (kind, bound, _) in relations.items() if "FOR VALUES IN" in bound]
    assert len(partitions) >= len(SLUGS)
    generated = {(t, c) for t, c, _, _, g, *_ in before["columns"] if g == "s"}
    assert ("layers_feature", "geom_3857") in generated
    assert restored.restored["srids"] == 14  # VN-2000 TM-3 zones added by migration 0011


def test_attachments_come_back_with_their_files(restored):
    assert restored.restored["attachment"] == restored.names.attachment_bytes
    assert restored.restored["thumbnail"] == restored.original["thumbnail"] != b""
    kept = sorted(p.relative_to(restored.media) for p in restored.media.rglob("*") if p.is_file())
    back = sorted(
        p.relative_to(restored.restored_media)
        for p in restored.restored_media.rglob("*")
        if p.is_file()
    )
    assert back == kept and len(back) == 2  # the photo and its thumbnail


def test_a_tile_renders_the_same_and_the_cache_is_rebuilt_not_restored(restored):
    import gzip

    assert restored.restored["tile"] == restored.original["tile"]
    assert len(restored.original["tile"]) > 0
    # The stale cache went; the restore's seeds (run in its process here) drew the tile again.
    public = restored.restored_tiles / "public"
    assert not (public / "lop-da-xoa").exists()
    z, x, y = restored.names.tile
    seeded = public / EDITED / str(z) / str(x) / f"{y}.pbf.gz"
    assert seeded.is_file(), restored.restore_output
    assert gzip.decompress(seeded.read_bytes()) == restored.original["tile"]
    assert "Queued the seeds of" in restored.restore_output


def test_the_restored_database_works_on(restored):
    assert restored.works_on == {
        "new_id_after_old": True,
        "edit_recorded": True,
        "partition_made": True,
    }


def test_the_archive_keeps_settings_but_no_secrets(restored):
    from django.conf import settings

    with tarfile.open(restored.archive) as tar:
        names = tar.getnames()
        kept = tar.extractfile(SETTINGS).read().decode()
        manifest = json.loads(tar.extractfile(MANIFEST).read())
    assert names[-1] == MANIFEST and DATABASE in names
    assert not any("tiles" in name for name in names)
    for secret in (settings.SECRET_KEY, HEALTH_TOKEN, BROKER_PASSWORD):
        assert secret not in kept
    public = json.loads(kept)
    assert {"SECRET_KEY", "HEALTH_DETAIL_TOKEN", "DATABASES.default.PASSWORD"} <= set(
        public["_omitted"]
    )
    assert public["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert public["DATABASES"]["default"]["NAME"] == connection.settings_dict["NAME"]
    assert manifest["format_version"] == 1
    assert ["layers", "0011_offered_crs"] in manifest["migrations"]
    assert manifest["database"]["pg_dump_major"] >= manifest["database"]["server_major"]
    assert os.stat(restored.archive).st_mode & 0o077 == 0  # the owner's only


# --- Refusals -------------------------------------------------------------------------------


def test_restore_refuses_a_database_that_is_not_empty(restored):
    layers = Layer.objects.count()
    with pytest.raises(CommandError, match="is not empty") as refused:
        call_command("restore", str(restored.archive), verbosity=0)
    assert "Create an empty database" in str(refused.value)
    assert Layer.objects.count() == layers


def _rewritten(source: Path, target: Path, change) -> Path:
    """Copy an archive member by member, letting `change(name, data)` alter or add members."""
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()
            for name, content in change(member.name, data):
                info = tarfile.TarInfo(name)
                info.size = len(content)
                new.addfile(info, io.BytesIO(content))
    return target


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("flipped", "does not match its checksum"),
        ("truncated", "not a complete backup archive"),
        ("newer_format", "reads formats up to 1"),
        ("foreign", "not a backup of this server"),
        ("not_a_tar", "cannot be read as a tar file"),
        ("smuggled", "which its manifest does not list"),
    ],
)
def test_restore_refuses_a_damaged_or_foreign_archive(restored, tmp_path, damage, message):
    source, target = restored.archive, tmp_path / "damaged.tar"
    if damage == "flipped":
        shutil.copy(source, target)
        with tarfile.open(source) as tar:
            offset = tar.getmember(DATABASE).offset_data + 1000
        with target.open("r+b") as file:
            file.seek(offset)
            byte = file.read(1)
            file.seek(offset)
            file.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "truncated":
        target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    elif damage in ("newer_format", "foreign"):

        def change(name, data):
            if name == MANIFEST:
                manifest = json.loads(data)
                if damage == "newer_format":
                    manifest["format_version"] = 99
                else:
                    manifest["format"] = "something-else"
                data = json.dumps(manifest).encode()
            yield name, data

        _rewritten(source, target, change)
    elif damage == "not_a_tar":
        target.write_bytes(b"PK\x03\x04 a zip file, say" * 100)
    else:

        def change(name, data):
            if name == MANIFEST:
                yield "media/../../evil.py", b"print('owned')"
            yield name, data

        _rewritten(source, target, change)
    layers = Layer.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("restore", str(target), verbosity=0)
    with pytest.raises(CommandError, match=message):
        call_command("restore", "--check", str(target), verbosity=0)
    assert Layer.objects.count() == layers
    assert not (tmp_path.parent / "evil.py").exists()


def test_restore_check_accepts_the_whole_archive(restored):
    out = io.StringIO()
    call_command("restore", "--check", str(restored.archive), stdout=out)
    assert "a whole backup" in out.getvalue()


def test_missing_or_old_postgresql_tools_are_named(restored, settings, tmp_path):
    settings.BACKUP_PG_BIN_DIR = str(tmp_path)
    with pytest.raises(CommandError, match=r"pg_dump was not found.*postgresql-client-\d+"):
        call_command("backup", "-o", str(tmp_path / "b.tar"), verbosity=0)
    with pytest.raises(CommandError, match=r"pg_restore was not found.*BACKUP_PG_BIN_DIR"):
        call_command("restore", str(restored.archive), verbosity=0)
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    with pytest.raises(CommandError, match=r"must be version \d+ or newer.*is version 9\.6"):
        call_command("backup", "-o", str(tmp_path / "b.tar"), verbosity=0)
    assert not list(tmp_path.glob("*.tar")) and not list(tmp_path.glob(".b.tar.*"))


def test_backup_never_overwrites_a_file(restored, tmp_path):
    existing = tmp_path / "b.tar"
    existing.write_bytes(b"an older backup")
    with pytest.raises(CommandError, match="exists already"):
        call_command("backup", "-o", str(existing), verbosity=0)
    assert existing.read_bytes() == b"an older backup"


def test_another_role_that_is_no_superuser_restores_it(restored, tmp_path):
    """A production role owns its database but is no superuser: PostGIS is created for it
    beforehand (not a trusted extension), the rest (pg_trgm, unaccent, btree_gist) by the restore,
    and every object belongs to the role that restored it."""
    suffix = uuid.uuid4().hex[:8]
    role, database, password = (
        f"test_backup_role_{suffix}",
        f"test_mapserver_backup_o{suffix}",
        suffix,
    )
    with admin_connection() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        with admin_connection() as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
        db = connection.settings_dict
        server = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        url = f"postgis://{role}:{password}@{server}/{database}"
        env = {
            "DATABASE_URL": url,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "TILE_CACHE_DIR": str(tmp_path / "tiles"),
            "CELERY_TASK_ALWAYS_EAGER": "true",
        }
        refused = manage("restore", "--no-seed", str(restored.archive), env=env)
        assert refused.returncode != 0
        assert "CREATE EXTENSION postgis;" in refused.stderr
        superuser_url = database_url(database, scheme="postgresql")
        with psycopg.connect(superuser_url, autocommit=True) as su:
            su.execute("CREATE EXTENSION postgis")
            refused = manage("restore", "--no-seed", str(restored.archive), env=env)
            assert refused.returncode != 0
            assert f"GRANT SELECT, INSERT ON spatial_ref_sys TO {role};" in refused.stderr
            grant = sql.SQL("GRANT SELECT, INSERT ON spatial_ref_sys TO {}")
            su.execute(grant.format(sql.Identifier(role)))
        done = manage("restore", "--no-seed", str(restored.archive), env=env)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "seedtiles" in done.stdout
        with psycopg.connect(url.replace("postgis://", "postgresql://")) as owner:
            layers = owner.execute("SELECT count(*) FROM layers_layer").fetchone()[0]
            # Everything but PostGIS's own (its tables, views and their index).
            foreign = owner.execute(
                """
                SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                WHERE c.relnamespace = 'public'::regnamespace AND r.rolname <> current_user
                  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I')
                  AND c.relname <> 'spatial_ref_sys_pkey'
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                  WHERE d.objid = c.oid AND d.deptype = 'e')
                """
            ).fetchall()
            extensions = {n for (n,) in owner.execute("SELECT extname FROM pg_extension")}
        assert layers == len(restored.original["layers"])
        assert foreign == []
        assert {"postgis", "pg_trgm", "unaccent", "btree_gist"} <= extensions
    finally:
        database_drop(database)
        with admin_connection() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_restore_refuses_to_overwrite_other_media_files(restored, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    kept = next(p for p in restored.media.rglob("*.png"))
    clash = settings.MEDIA_ROOT / kept.relative_to(restored.media)
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"another photo")
    with pytest.raises(CommandError, match=r"already holds 1 files .* other contents"):
        call_command("restore", str(restored.archive), verbosity=0)
    assert clash.read_bytes() == b"another photo"
    # Nothing left behind of the unpacked archive.
    assert sorted(p.name for p in settings.MEDIA_ROOT.iterdir()) == ["attachments"]
