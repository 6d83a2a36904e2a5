"""The backup archive on disk: an uncompressed tar written atomically, read back defensively.

Written under a temporary name beside its target and renamed once whole (and synced), so a
crash or a full disk never leaves a file that looks like a backup; readable by its owner only,
since the database holds password hashes and users' data. Uncompressed: the dump is compressed
by pg_dump, photos and PDFs are compressed already, and tar's index then reads without
decompressing everything.

Reading trusts nothing: every member must be a regular file the manifest lists, with a safe
relative name, and its size and SHA-256 must match before anything is restored. The manifest
is written last, so an archive cut short has none.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path, PurePosixPath

from . import BackupError
from .manifest import FileEntry, Manifest

MANIFEST = "manifest.json"
DATABASE = "database.dump"
SPATIAL_REFS = "spatial_ref_sys.json"
SETTINGS = "settings.json"
MEDIA_PREFIX = "media/"
CHUNK_BYTES = 1 << 20


class _Hashing:
    """A file read through, counting and hashing what tarfile copies out of it."""

    def __init__(self, file) -> None:
        self.file = file
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


class ArchiveWriter:
    """Write an archive member by member; `finish` adds the manifest and puts it in place."""

    def __init__(self, target: Path) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Beside the target: the final rename stays on one file system. The work folder holds the
        # dump until it is copied in.
        self.work_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        self._partial = self.work_dir / "archive.tar"
        # Open across add_* calls; `finish` or `abort` closes it.
        self._tar = tarfile.open(self._partial, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        os.chmod(self._partial, 0o600)
        self.files: dict[str, FileEntry] = {}

    def _info(self, name: str, size: int, mtime: float) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = int(mtime)
        info.mode = 0o600
        return info

    def add_file(self, name: str, source: Path) -> FileEntry:
        """Copy a file into the archive; raise FileNotFoundError if it is gone."""
        with source.open("rb") as file:
            stat = os.fstat(file.fileno())
            reader = _Hashing(file)
            self._tar.addfile(self._info(name, stat.st_size, stat.st_mtime), reader)
        entry = FileEntry(size=reader.size, sha256=reader.sha256.hexdigest())
        self.files[name] = entry
        return entry

    def add_bytes(self, name: str, data: bytes) -> FileEntry:
        """Put bytes into the archive as a file."""
        reader = _Hashing(_BytesReader(data))
        self._tar.addfile(self._info(name, len(data), time.time()), reader)
        entry = FileEntry(size=len(data), sha256=reader.sha256.hexdigest())
        self.files[name] = entry
        return entry

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest, close, sync and rename the archive into place; return its path."""
        manifest.files = dict(self.files)
        data = manifest.to_json()
        self._tar.addfile(self._info(MANIFEST, len(data), time.time()), _BytesReader(data))
        self._tar.close()
        with self._partial.open("rb") as file:
            os.fsync(file.fileno())
        os.replace(self._partial, self.target)
        _fsync_dir(self.target.parent)
        self.abort()
        return self.target

    def abort(self) -> None:
        """Remove what an unfinished archive left (its work folder)."""
        if not self._tar.closed:
            self._tar.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk = bytes(self.data[self.offset : end])
        self.offset += len(chunk)
        return chunk


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _damaged(source: Path, detail: str) -> BackupError:
    return BackupError(
        f"{source} is not a complete backup archive ({detail}). It may have been cut short "
        "(a full disk, an interrupted copy) or damaged: use another copy of the backup, and "
        "check it with `manage.py restore --check FILE` before relying on it."
    )


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def archive_read(source: Path, into: Path | None) -> Manifest:
    """Check the archive and unpack it into the folder (None: only check); return its manifest.

    Raises BackupError, saying what is wrong, for anything but a whole archive of a format this
    release reads whose every file matches its checksum.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist or is not a file.")
    try:
        # Closed by the `with` below; opened apart so that only opening errors are caught here.
        tar = tarfile.open(source, mode="r:")  # noqa: SIM115
    except (tarfile.TarError, EOFError, OSError) as error:
        raise _damaged(source, f"it cannot be read as a tar file: {error}") from error
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise _damaged(source, f"its index cannot be read: {error}") from error
        by_name = {member.name: member for member in members}
        if MANIFEST not in by_name:
            raise _damaged(source, "it has no manifest.json, which is written last")
        manifest_file = tar.extractfile(by_name[MANIFEST])
        try:
            manifest = Manifest.from_json(manifest_file.read(), source=str(source))
        except (tarfile.TarError, EOFError, OSError) as error:
            raise _damaged(source, f"manifest.json cannot be read: {error}") from error
        for member in members:
            if member.name == MANIFEST:
                continue
            _check_member(source, member, manifest)
            target = into / member.name if into is not None else None
            _extract(tar, source, member, target, manifest.files[member.name])
        missing = sorted(set(manifest.files) - set(by_name))
        if missing:
            raise _damaged(source, f"{len(missing)} listed files are missing, such as {missing[0]}")
    return manifest


def _check_member(source: Path, member: tarfile.TarInfo, manifest: Manifest) -> None:
    if not member.isfile():
        raise BackupError(
            f"{source} holds {member.name!r}, which is not a plain file (a link or a device): "
            "backups never do, so this file is not one. Nothing was restored."
        )
    if not _safe_name(member.name) or member.name not in manifest.files:
        raise BackupError(
            f"{source} holds {member.name!r}, which its manifest does not list: the archive "
            "was changed after it was written. Nothing was restored; use another copy."
        )


def _extract(
    tar: tarfile.TarFile,
    source: Path,
    member: tarfile.TarInfo,
    target: Path | None,
    entry: FileEntry,
) -> None:
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        reader = tar.extractfile(member)
        with target.open("wb") if target is not None else nullcontext() as out:
            while chunk := reader.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                if out is not None:
                    out.write(chunk)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise _damaged(source, f"{member.name} cannot be read: {error}") from error
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise BackupError(
            f"{source}: {member.name} does not match its checksum in the manifest (SHA-256 "
            f"{digest.hexdigest()[:16]}…, expected {entry.sha256[:16]}…; {size} bytes, expected "
            f"{entry.size}). The archive was damaged or changed after it was written. Nothing "
            "was restored; use another copy of the backup."
        )
