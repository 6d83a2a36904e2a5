"""Make a backup of this deployment, and restore one into an empty database.

A backup is consistent: the manifest's migrations, the added coordinate systems and the dump all
read one snapshot of the database (exported by a repeatable-read transaction that pg_dump joins
with --snapshot). Media files are copied after it; they are written once under fresh random
names, so a file is either in the snapshot's rows and on disk, or absent from both, except one
deleted since (its layer deleted during the backup), which the manifest lists.

A restore checks everything it can before it changes anything (the archive and its checksums,
the format, the migrations, an empty database, the extensions, pg_restore's version, the media
folder), restores the database in one transaction (all or nothing), then puts the media files in
place, clears the tile cache and queues the seeds that rebuild it.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from mapserver import release

from ..models import FeatureAttachment, Layer
from ..tiles.cache import tile_cache
from ..tiles.seed import tile_seed_start
from . import BackupError, postgres
from .archive import (
    DATABASE,
    MEDIA_PREFIX,
    SETTINGS,
    SPATIAL_REFS,
    ArchiveWriter,
    archive_read,
)
from .manifest import Manifest, migrations_unknown_here
from .public_settings import public_settings, public_settings_json

Report = Callable[[str], None]
# Media not kept: export files are temporary downloads (EXPORT_LINK_TTL), made again on request,
# and a download whose file is gone answers 410. Dot-folders are work folders (a restore's own).
MEDIA_SKIPPED_FOLDERS = ("exports",)
# pg_restore's list entries left out: an extension's comment (only its owner, a superuser, may
# set it, and the extension brings its own), and the rows of spatial_ref_sys, which go in after
# with ON CONFLICT (a newer PostGIS may ship some of them: a COPY would fail on those).
TOC_SKIPPED = re.compile(r"^\d+; \d+ \d+ (COMMENT - EXTENSION |TABLE DATA \S+ spatial_ref_sys )")


def _quiet(message: str) -> None:
    return None


@dataclass
class RestoreOutcome:
    """What a restore did, and what is left for the operator."""

    manifest: Manifest
    media_files: int = 0
    tile_layers_cleared: int = 0
    seeds_queued: int = 0
    pending_migrations: list[str] = field(default_factory=list)
    attachments_missing: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)


def backup_default_path() -> Path:
    """Return where a backup goes when no file is named: BACKUP_DIR, named by release and time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.BACKUP_DIR) / f"mapserver-{release.version()}-{stamp}.tar"


def backup_create(*, target: Path | None = None, report: Report = _quiet) -> Manifest:
    """Write a backup archive of the database, the media files and the settings; return its
    manifest (the archive is at `target`, or `backup_default_path()`)."""
    target = Path(target or backup_default_path()).resolve()
    if target.exists():
        raise BackupError(f"{target} exists already: name another file, or move that one away.")
    server_major, banner = postgres.server_version()
    pg_dump = postgres.find_tool(
        "pg_dump",
        at_least=server_major,
        prefer=server_major,
        why=f"to dump this PostgreSQL {server_major} server",
    )
    writer = ArchiveWriter(target)
    try:
        dump = writer.work_dir / DATABASE
        report(f"Dumping the database {postgres.database_name()} with {pg_dump.path} …")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # now() is the transaction's start: the instant the backed-up data is as of.
            cursor.execute("SELECT pg_export_snapshot(), now()")
            snapshot, taken_at = cursor.fetchone()
            cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
            migrations = [[app, name] for app, name in cursor.fetchall()]
            spatial_refs = postgres.added_spatial_refs()
            extensions = postgres.extensions()
            postgres.run(
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot}",
                f"--file={dump}",
                what="The database dump",
            )
        writer.add_file(DATABASE, dump)
        dump.unlink()
        writer.add_bytes(SPATIAL_REFS, json.dumps(spatial_refs, ensure_ascii=False).encode())
        writer.add_bytes(SETTINGS, public_settings_json())
        media_missing = _media_add(writer, report)
        manifest = Manifest(
            created_at=taken_at.astimezone(UTC).isoformat(timespec="seconds"),
            release={"version": release.version(), "commit": release.git_commit()},
            database={
                "name": postgres.database_name(),
                "server_version": banner,
                "server_major": server_major,
                "pg_dump": pg_dump.version,
                "pg_dump_major": pg_dump.major,
                "extensions": extensions,
            },
            migrations=migrations,
            media_missing=media_missing,
        )
        writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise
    report(f"Backup written: {target} ({target.stat().st_size / 2**20:,.1f} MiB).")
    return manifest


def _media_files(root: Path) -> list[tuple[str, Path]]:
    """Return the media files to keep, as (name in the archive, path), in a stable order."""
    tile_dir = Path(settings.TILE_CACHE_DIR).resolve()
    found = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".")
            and not (here == root and name in MEDIA_SKIPPED_FOLDERS)
            and (here / name).resolve() != tile_dir
        )
        for name in sorted(files):
            path = here / name
            if path.is_symlink() or not path.is_file() or name.startswith("."):
                continue
            found.append((MEDIA_PREFIX + path.relative_to(root).as_posix(), path))
    return found


def _media_add(writer: ArchiveWriter, report: Report) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    if not root.is_dir():
        report(f"No media folder at {root}: no files to keep.")
        return []
    missing = []
    files = _media_files(root)
    for name, path in files:
        try:
            writer.add_file(name, path)
        except FileNotFoundError:
            missing.append(name)
    report(f"Media: {len(files) - len(missing)} files from {root}.")
    if missing:
        report(f"{len(missing)} media files were deleted during the backup (their layer went).")
    return missing


def backup_check(*, source: Path) -> Manifest:
    """Read and check an archive without restoring it; return its manifest."""
    return archive_read(Path(source), None)


def backup_restore(*, source: Path, seed: bool = True, report: Report = _quiet) -> RestoreOutcome:
    """Restore an archive into the (empty) default database and MEDIA_ROOT; see the module."""
    media_root = Path(settings.MEDIA_ROOT)
    media_root.mkdir(parents=True, exist_ok=True)
    # Unpacked inside MEDIA_ROOT, so the files move into place by renaming.
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=media_root))
    try:
        manifest = archive_read(Path(source), staging)
        report(
            f"Archive checked: {len(manifest.files)} files, made {manifest.created_at} by "
            f"release {manifest.made_by}."
        )
        pg_restore = _restore_preflight(manifest, staging, media_root)
        outcome = RestoreOutcome(manifest=manifest)
        report(f"Restoring the database {postgres.database_name()} with {pg_restore.path} …")
        _database_restore(pg_restore, staging / DATABASE)
        # The session's PostGIS types were looked up before PostGIS existed in this database.
        connection.close()
        refs = json.loads((staging / SPATIAL_REFS).read_bytes())
        postgres.spatial_refs_add(refs)
        with connection.cursor() as cursor:
            # pg_restore brings no planner statistics; tile queries' plans need them.
            cursor.execute("ANALYZE")
        outcome.media_files = _media_move(staging, media_root)
        report(f"Database and {outcome.media_files} media files restored.")
        outcome.pending_migrations = _pending_migrations()
        outcome.tile_layers_cleared = _tile_cache_clear()
        if not outcome.pending_migrations:
            outcome.attachments_missing = _attachments_missing(media_root)
            if seed:
                outcome.seeds_queued = _seeds_queue()
        outcome.settings_changed = _settings_changed(staging / SETTINGS)
        return outcome
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _restore_preflight(manifest: Manifest, staging: Path, media_root: Path) -> postgres.PgTool:
    """Check, before anything changes, that the archive can be restored here; return pg_restore."""
    unknown = migrations_unknown_here(manifest)
    if unknown:
        raise BackupError(
            f"The backup was made by release {manifest.made_by}, whose database has migrations "
            f"this release does not know ({', '.join(unknown[:5])}). Restore it with release "
            f"{manifest.release.get('version', '?')} or newer installed."
        )
    conflicts = _media_conflicts(staging / MEDIA_PREFIX, media_root)
    if conflicts:
        raise BackupError(
            f"MEDIA_ROOT ({media_root}) already holds {len(conflicts)} files of the same names "
            f"as the backup's but other contents (such as {conflicts[0]}). Restore into an "
            "empty MEDIA_ROOT, or move those files away first."
        )
    dumped_by = manifest.database.get("pg_dump", "?")
    server_major, _ = postgres.server_version()
    pg_restore = postgres.find_tool(
        "pg_restore",
        at_least=int(manifest.database.get("pg_dump_major", 0)),
        prefer=server_major,
        why=f"to read a dump written by pg_dump {dumped_by}",
    )
    name = postgres.database_name()
    count, relations = postgres.user_relations()
    if count:
        raise BackupError(
            f"The database {name!r} is not empty: it holds {count} tables, views or sequences "
            f"(such as {', '.join(relations)}). A restore goes into an empty database only, so "
            "that nothing there is overwritten by mistake. Create an empty database and point "
            "DATABASE_URL at it, e.g. as PostgreSQL's superuser: `createdb -O mapserver "
            "mapserver_restored` and `psql -d mapserver_restored -c 'CREATE EXTENSION postgis'`; "
            "or, to replace this one, stop the server and drop and create it again "
            "(docs/operations.md, 'Restoring')."
        )
    _, blocked = postgres.extensions_missing(manifest.database.get("extensions", {}))
    if blocked:
        statements = " ".join(f"CREATE EXTENSION {extension};" for extension in blocked)
        raise BackupError(
            f"The backup needs the extensions {', '.join(blocked)}, which this database role "
            f"may not create in {name!r}. As PostgreSQL's superuser, run `{statements}` in it "
            "(PostGIS needs Debian's postgresql-<major>-postgis-3 package), then restore again."
        )
    refs = json.loads((staging / SPATIAL_REFS).read_bytes())
    if not postgres.spatial_refs_writable([row["srid"] for row in refs]):
        raise BackupError(
            f"The backup adds {len(refs)} coordinate systems to PostGIS's spatial_ref_sys, which "
            f"this database role may not write in {name!r}. As PostgreSQL's superuser, run "
            f"`GRANT SELECT, INSERT ON spatial_ref_sys TO {postgres.current_role()};` "
            "in it (imports need it too), then restore again."
        )
    return pg_restore


def _database_restore(pg_restore: postgres.PgTool, dump: Path) -> None:
    listing = postgres.run(pg_restore, "--list", str(dump), what="Reading the dump's contents")
    kept = [line for line in listing.splitlines() if not TOC_SKIPPED.match(line)]
    list_file = dump.with_suffix(".list")
    list_file.write_text("\n".join(kept) + "\n")
    postgres.run(
        pg_restore,
        f"--dbname={postgres.database_name()}",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--use-list={list_file}",
        str(dump),
        what="Restoring the database (nothing of it was kept)",
    )


def _media_conflicts(unpacked: Path, media_root: Path) -> list[str]:
    conflicts = []
    for path in sorted(unpacked.rglob("*")):
        if not path.is_file():
            continue
        there = media_root / path.relative_to(unpacked)
        if there.exists() and (not there.is_file() or not filecmp.cmp(there, path, shallow=False)):
            conflicts.append(path.relative_to(unpacked).as_posix())
    return conflicts


def _media_move(staging: Path, media_root: Path) -> int:
    unpacked = staging / MEDIA_PREFIX
    moved = 0
    for path in sorted(unpacked.rglob("*")):
        if not path.is_file():
            continue
        target = media_root / path.relative_to(unpacked)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Readable by the web server's user like any uploaded file, not only by its owner.
        path.chmod(0o644)
        os.replace(path, target)
        moved += 1
    return moved


def _pending_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def _tile_cache_clear() -> int:
    """Remove every layer's tiles from the cache; return how many layers had some.

    All of them, not only the restored layers': the cache may hold tiles of layers this database
    does not have, or tiles of the same layer and version number drawn from other data (a
    restore takes versions back), which would be served as current.
    """
    cache = tile_cache()
    try:
        slugs = cache.cached_slugs()
    except NotImplementedError as error:
        raise BackupError(
            f"The database and media files are restored, but the tile cache ({error}) must be "
            "emptied by hand, then run `manage.py seedtiles --background`."
        ) from error
    for slug in sorted(slugs):
        cache.clear_layer(slug)
    return len(slugs)


def _seeds_queue() -> int:
    """Queue a seed for each layer with features, as `seedtiles --background` does."""
    layers = Layer.objects.exclude(feature_count=0).order_by("slug")
    for layer in layers:
        tile_seed_start(layer=layer)
    return len(layers)


def _attachments_missing(media_root: Path) -> list[str]:
    names = FeatureAttachment.objects.values_list("file", "thumbnail")
    return sorted(
        name for pair in names for name in pair if name and not (media_root / name).is_file()
    )


def _settings_changed(archived: Path) -> list[str]:
    """Return the settings whose value here differs from the backup's (names only)."""
    try:
        before = json.loads(archived.read_bytes())
    except (OSError, json.JSONDecodeError):
        return []
    now = json.loads(json.dumps(public_settings(), default=str))
    names = (set(before) | set(now)) - {"_omitted"}
    return sorted(name for name in names if before.get(name) != now.get(name))
