"""The manifest of a backup archive: what it holds, what made it, and the checks a restore makes.

Its format version changes whenever a restore of this code could not read an archive correctly
(a new mandatory file, a changed layout); adding an optional member does not change it. A restore
reads every format up to its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from django.db.migrations.loader import MigrationLoader

from . import BackupError

FORMAT = "mapserver-backup"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    """One file of the archive: its size and SHA-256, checked before anything is restored."""

    size: int
    sha256: str


@dataclass
class Manifest:
    """Everything a restore checks before it touches the database."""

    created_at: str
    release: dict  # version, commit
    database: dict  # name, server_version, server_major, pg_dump, pg_dump_major, extensions
    migrations: list[list[str]]  # [app, name] of each applied migration, in order
    files: dict[str, FileEntry] = field(default_factory=dict)
    # Media files that went away between the database snapshot and their copy (a deleted layer).
    media_missing: list[str] = field(default_factory=list)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, *, source: str) -> Manifest:
        """Read a manifest; raise BackupError if it is not one this release can restore."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BackupError(
                f"{source}: manifest.json is not readable JSON ({error}); the archive is damaged."
            ) from error
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise BackupError(
                f"{source} is not a backup of this server (its manifest.json names no format "
                f"{FORMAT!r}). Give the .tar file that `manage.py backup` wrote."
            )
        version = raw.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise BackupError(f"{source}: the manifest's format_version {version!r} is not valid.")
        if version > FORMAT_VERSION:
            made_by = (raw.get("release") or {}).get("version", "a newer release")
            raise BackupError(
                f"{source} is in backup format {version}, written by release {made_by}; this "
                f"release reads formats up to {FORMAT_VERSION}. Restore it with release "
                f"{made_by} or newer (docs/operations.md, 'Upgrading')."
            )
        try:
            return cls(
                created_at=str(raw["created_at"]),
                release=dict(raw["release"]),
                database=dict(raw["database"]),
                migrations=[[str(app), str(name)] for app, name in raw["migrations"]],
                files={
                    str(name): FileEntry(size=int(entry["size"]), sha256=str(entry["sha256"]))
                    for name, entry in raw["files"].items()
                },
                media_missing=[str(name) for name in raw.get("media_missing", [])],
                format=raw["format"],
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BackupError(
                f"{source}: manifest.json lacks or garbles {error}; the archive is damaged."
            ) from error

    @property
    def made_by(self) -> str:
        commit = self.release.get("commit") or ""
        return f"{self.release.get('version', '?')}" + (f" ({commit[:12]})" if commit else "")


def migrations_unknown_here(manifest: Manifest) -> list[str]:
    """Return the backup's applied migrations that this code does not have, for its own apps.

    Such a backup comes from a newer release: its schema is ahead of what this code knows.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True, load=False)
    loader.load_disk()
    apps = loader.migrated_apps
    return [
        f"{app}.{name}"
        for app, name in manifest.migrations
        if app in apps and (app, name) not in loader.disk_migrations
    ]
