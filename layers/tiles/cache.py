"""The tile cache: one small interface, and the folder behind it that nginx serves from.

Tiles are stored gzip-compressed. A tile that was rendered empty is stored as an empty marker, so
that a seed does not render it again. Public layers' tiles live apart from the others, so that the
front server can hand out public ones without asking Django:

    {TILE_CACHE_DIR}/public/{slug}/{z}/{x}/{y}.pbf.gz     (nginx: gzip_static, gunzip)
    {TILE_CACHE_DIR}/private/{slug}/{z}/{x}/{y}.pbf.gz    (only through Django: X-Accel-Redirect)
    {TILE_CACHE_DIR}/{scope}/{slug}/{z}/{x}/{y}.empty     (an empty tile; never served as a file)
    {TILE_CACHE_DIR}/{scope}/{slug}@{version} -> {slug}    (the folder, current for that version)

A tile URL names the layer version (`?v=7`). The folder holds one copy per tile whatever the
version (a data change rewrites only the tiles it touched), so the version a reader asks for is
checked through a link: `{slug}@{version}` exists only once the tiles a change to that version
touched are gone from the folder (`publish`, by the worker that removed them). nginx and Django
read through it, so between a change's commit and its worker a tile of the old data is never
sent as the new version's: the link is missing, and the tile is rendered instead.

Object storage can replace the folder by implementing `TileCache` and naming the class in the
`TILE_CACHE_BACKEND` setting.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

from layers.models import Layer

from .grid import TileCoord, TileRange

PUBLIC = "public"
PRIVATE = "private"
SCOPES = (PUBLIC, PRIVATE)
# Folders of the cache's own housekeeping, beside the scopes (nginx serves only the scopes).
TEMP_DIR = ".tmp"
TRASH_DIR = ".trash"
# Version links kept per layer: a client whose TileJSON is a version or two old still gets its
# tiles from nginx (from the folder, which is at least as new as the version it names).
KEPT_VERSIONS = 3


def access_scope(*, visibility: str, status: str) -> str:
    """Return where tiles of a layer with this visibility and status are cached.

    `public` only if anyone at all may see the layer (`LayerQuerySet.visible_to`): a public layer
    that is ready. Anything else is `private`, served only after Django said yes.
    """
    if visibility == Layer.Visibility.PUBLIC and status == Layer.Status.READY:
        return PUBLIC
    return PRIVATE


def layer_scope(layer: Layer) -> str:
    """Return where a layer's tiles are cached: `public` only if anyone at all may see it."""
    return access_scope(visibility=layer.visibility, status=layer.status)


@dataclass(frozen=True, slots=True)
class TileKey:
    """Names one cached tile; with a version, a read finds it only if current for that version.

    Writes and deletes ignore the version: the folder keeps one copy of each tile.
    """

    scope: str
    slug: str
    coord: TileCoord
    version: int | None = None

    @classmethod
    def of(cls, layer: Layer, coord: TileCoord) -> TileKey:
        """Return the key of a layer's tile, read as of the layer's version."""
        return cls(layer_scope(layer), layer.slug, coord, layer.version)


@dataclass(frozen=True, slots=True)
class CacheSpace:
    """Free and total bytes of the storage under a tile cache (the health check reads it)."""

    free_bytes: int
    total_bytes: int

    @property
    def free_percent(self) -> float:
        """Return the free share of the storage, in percent."""
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0


class TileCache(ABC):
    """Where rendered tiles are kept. Values are gzip-compressed MVT bytes; b"" is an empty tile."""

    @abstractmethod
    def get(self, key: TileKey) -> bytes | None:
        """Return the cached tile, b"" for a cached empty tile, or None when it is not cached."""

    @abstractmethod
    def exists(self, key: TileKey) -> bool:
        """Return whether the tile (or its empty marker) is cached."""

    @abstractmethod
    def put(self, key: TileKey, data: bytes) -> None:
        """Store a tile atomically: a reader sees the old tile or the new one, never a part."""

    @abstractmethod
    def delete(self, key: TileKey) -> bool:
        """Remove a tile; return whether it was cached."""

    @abstractmethod
    def cached_zooms(self, scope: str, slug: str) -> list[int]:
        """Return the zooms at which a layer has cached tiles."""

    @abstractmethod
    def cached_in(self, scope: str, slug: str, tiles: TileRange) -> list[TileCoord]:
        """Return the cached tiles of a layer within a range of one zoom."""

    @abstractmethod
    def clear_layer(self, slug: str) -> None:
        """Remove every cached tile of a layer, in both scopes, and its published versions."""

    def cached_slugs(self) -> set[str]:
        """Return the slugs of the layers that have anything in the cache, in either scope.

        A restore clears them all (layers/backups/services.py): the cache may hold layers the
        restored database no longer has, or other data under the same version numbers.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list its layers")

    def publish(self, scope: str, slug: str, version: int) -> None:
        """Say that the cached tiles of a layer are current for `version` (and older ones).

        Call it, under the layer's exclusive lock, once no tile that a change up to `version`
        touched is left. A backend without it answers versioned reads like unversioned ones.
        """
        return None

    def published(self, scope: str, slug: str, version: int) -> bool:
        """Return whether the layer's tiles were published as current for `version`."""
        return True

    def accel_redirect(self, key: TileKey) -> str | None:
        """Return the internal URI the front server serves this tile from, if it can."""
        return None

    def space(self) -> CacheSpace | None:
        """Return the free and total space of the storage; None when it has no fixed size."""
        return None

    def remove_leftovers(self, *, older_than_s: float) -> int:
        """Remove what writers killed mid-write left behind; return how many entries went."""
        return 0

    @classmethod
    def from_settings(cls) -> TileCache:
        """Return the cache configured by the Django settings."""
        raise NotImplementedError


class FolderTileCache(TileCache):
    """Tiles as files in a folder that nginx can serve (`deploy/nginx.conf.template`)."""

    suffix = ".pbf.gz"
    empty_suffix = ".empty"

    def __init__(self, root: Path | str, accel_redirect_prefix: str | None = None) -> None:
        self.root = Path(root)
        self.accel_redirect_prefix = accel_redirect_prefix

    def _dir(self, key: TileKey) -> Path:
        return self.root / key.scope / key.slug / str(key.coord.z) / str(key.coord.x)

    def _paths(self, key: TileKey) -> tuple[Path, Path]:
        folder = self._dir(key)
        return folder / f"{key.coord.y}{self.suffix}", folder / f"{key.coord.y}{self.empty_suffix}"

    def _read_paths(self, key: TileKey) -> tuple[Path, Path]:
        """Return the paths a read opens: through the version link when the key has a version."""
        if key.version is None:
            return self._paths(key)
        coord = key.coord
        folder = self.root / key.scope / f"{key.slug}@{key.version}" / str(coord.z) / str(coord.x)
        return folder / f"{coord.y}{self.suffix}", folder / f"{coord.y}{self.empty_suffix}"

    def get(self, key: TileKey) -> bytes | None:
        tile, empty = self._read_paths(key)
        try:
            return tile.read_bytes()
        except FileNotFoundError:
            return b"" if empty.exists() else None

    def exists(self, key: TileKey) -> bool:
        tile, empty = self._read_paths(key)
        return tile.exists() or empty.exists()

    def put(self, key: TileKey, data: bytes) -> None:
        tile, empty = self._paths(key)
        target, other = (tile, empty) if data else (empty, tile)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp_dir = self.root / TEMP_DIR
        temp_dir.mkdir(exist_ok=True)
        # Written in the cache's own temporary folder and renamed over the target: rename is
        # atomic on one file system, and a writer killed mid-write leaves its file there, where
        # nothing serves it and the sweeper removes it (`remove_leftovers`), not beside tiles.
        handle, temp = tempfile.mkstemp(dir=temp_dir, prefix=f"{key.slug}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.chmod(temp, 0o644)  # readable by the front server's user
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        other.unlink(missing_ok=True)

    def delete(self, key: TileKey) -> bool:
        tile, empty = self._paths(key)
        found = False
        for path in (tile, empty):
            try:
                path.unlink()
                found = True
            except FileNotFoundError:
                pass
        return found

    def cached_zooms(self, scope: str, slug: str) -> list[int]:
        folder = self.root / scope / slug
        if not folder.is_dir():
            return []
        return sorted(int(entry.name) for entry in os.scandir(folder) if entry.name.isdigit())

    def cached_in(self, scope: str, slug: str, tiles: TileRange) -> list[TileCoord]:
        zoom_dir = self.root / scope / slug / str(tiles.z)
        found = []
        try:
            columns = [entry for entry in os.scandir(zoom_dir) if entry.name.isdigit()]
        except FileNotFoundError:
            return []
        for column in columns:
            x = int(column.name)
            if not tiles.x_min <= x <= tiles.x_max:
                continue
            for entry in os.scandir(column.path):
                name = entry.name
                for suffix in (self.suffix, self.empty_suffix):
                    if name.endswith(suffix) and name[: -len(suffix)].isdigit():
                        y = int(name[: -len(suffix)])
                        if tiles.y_min <= y <= tiles.y_max:
                            found.append(TileCoord(tiles.z, x, y))
        return sorted(set(found))

    def _links(self, scope: str, slug: str) -> list[tuple[int, Path]]:
        """Return the layer's version links in a scope, oldest first."""
        prefix = f"{slug}@"
        try:
            entries = list(os.scandir(self.root / scope))
        except FileNotFoundError:
            return []
        links = [
            (int(entry.name[len(prefix) :]), Path(entry.path))
            for entry in entries
            if entry.name.startswith(prefix) and entry.name[len(prefix) :].isdigit()
        ]
        return sorted(links)

    def publish(self, scope: str, slug: str, version: int) -> None:
        scope_dir = self.root / scope
        scope_dir.mkdir(parents=True, exist_ok=True)
        link = scope_dir / f"{slug}@{version}"
        if not link.is_symlink():
            # Made under a temporary name and renamed: a reader finds the link whole or not at
            # all. Relative, so the cache folder can move.
            temp = scope_dir / f".{slug}@{version}.{uuid.uuid4().hex}"
            os.symlink(slug, temp)
            os.replace(temp, link)
        for old_version, path in self._links(scope, slug)[:-KEPT_VERSIONS]:
            if old_version < version:
                path.unlink(missing_ok=True)

    def published(self, scope: str, slug: str, version: int) -> bool:
        return (self.root / scope / f"{slug}@{version}").is_symlink()

    def clear_layer(self, slug: str) -> None:
        trash = self.root / TRASH_DIR
        for scope in SCOPES:
            # The versions go first: until published again, readers render instead.
            for _, link in self._links(scope, slug):
                link.unlink(missing_ok=True)
            folder = self.root / scope / slug
            if not folder.exists():
                continue
            trash.mkdir(parents=True, exist_ok=True)
            # Moved away in one rename, so no reader sees a half-cleared layer; then removed.
            doomed = trash / f"{slug}-{uuid.uuid4().hex}"
            os.replace(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def cached_slugs(self) -> set[str]:
        slugs = set()
        for scope in SCOPES:
            try:
                entries = list(os.scandir(self.root / scope))
            except FileNotFoundError:
                continue
            # Folders are slugs, links `slug@version`; dot-names are links being made.
            slugs.update(e.name.split("@", 1)[0] for e in entries if not e.name.startswith("."))
        return slugs

    def remove_leftovers(self, *, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for folder in (self.root / TEMP_DIR, self.root / TRASH_DIR):
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                        continue  # perhaps still being written or removed by its process
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    continue
                removed += 1
        return removed

    def space(self) -> CacheSpace:
        self.root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.root)
        return CacheSpace(free_bytes=usage.free, total_bytes=usage.total)

    @classmethod
    def from_settings(cls) -> FolderTileCache:
        return cls(settings.TILE_CACHE_DIR, settings.TILE_ACCEL_REDIRECT_PREFIX)

    def accel_redirect(self, key: TileKey) -> str | None:
        if not self.accel_redirect_prefix:
            return None
        coord = key.coord
        folder = key.slug if key.version is None else f"{key.slug}@{key.version}"
        return (
            f"{self.accel_redirect_prefix.rstrip('/')}/{key.scope}/{folder}/"
            f"{coord.z}/{coord.x}/{coord.y}.pbf"
        )


def tile_cache() -> TileCache:
    """Return the configured tile cache."""
    return import_string(settings.TILE_CACHE_BACKEND).from_settings()
