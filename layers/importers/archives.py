"""Unpacking uploaded zip archives (zipped Shapefiles, KMZ) without trusting what they say.

Every member is checked before anything is written: no absolute path, no `..`, no link, no device,
at most `IMPORT_MAX_ARCHIVE_FILES` members and `IMPORT_MAX_UNPACKED_BYTES` in all, and at most
`IMPORT_MAX_COMPRESSION_RATIO` times the archive's own size (a zip bomb unpacks a few hundred
kilobytes to gigabytes). The sizes in a zip's directory can lie, so the bytes written are counted
too, and unpacking stops past either bound.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from django.conf import settings

from .errors import ImportFailed

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
CHUNK_BYTES = 1 << 20
# Below this, any ratio is harmless (a small padded DBF compresses a thousand times).
RATIO_FREE_BYTES = 16 << 20


def _ratio_bound(archive: Path) -> int:
    """Return the most bytes this archive may unpack to under the compression-ratio limit."""
    return max(settings.IMPORT_MAX_COMPRESSION_RATIO * archive.stat().st_size, RATIO_FREE_BYTES)


def _too_compressed(unpacked: int, archive: Path) -> ImportFailed:
    ratio = unpacked / max(1, archive.stat().st_size)
    return ImportFailed(
        f"The archive unpacks to {unpacked / 2**20:,.0f} MiB, {ratio:,.0f} times its own size; "
        f"at most {settings.IMPORT_MAX_COMPRESSION_RATIO} times is accepted, as such archives "
        "are made to exhaust the server. Upload the data files themselves, or a zip of real data."
    )


def is_zip(head: bytes) -> bool:
    """Return whether these first bytes start a zip archive."""
    return head.startswith(ZIP_MAGIC)


def _member_path(info: zipfile.ZipInfo, target: Path) -> Path | None:
    """Return where a member goes inside target, or raise ImportFailed if it points outside."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and parts[0].endswith(":")):
        raise ImportFailed(
            f"The archive contains the path “{info.filename}”, which points outside the archive. "
            "For safety it is not unpacked: zip the files again without folders that go up (..)."
        )
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)  # 0 when the archiver recorded permissions only
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise ImportFailed(
            f"The archive contains “{info.filename}”, which is a link or a special file. "
            "For safety it is not unpacked: zip the data files themselves."
        )
    if info.is_dir() or not parts:
        return None
    path = target.joinpath(*parts)
    if not path.resolve().is_relative_to(target.resolve()):
        raise ImportFailed(f"The archive path “{info.filename}” points outside the archive.")
    return path


def unpack_zip(archive: Path, target: Path) -> list[Path]:
    """Unpack a zip archive into target after checking every member; return the files written."""
    max_files = settings.IMPORT_MAX_ARCHIVE_FILES
    max_bytes = settings.IMPORT_MAX_UNPACKED_BYTES
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if len(members) > max_files:
                raise ImportFailed(
                    f"The archive holds {len(members)} files; at most {max_files} are accepted."
                )
            declared = sum(info.file_size for info in members)
            if declared > max_bytes:
                raise ImportFailed(
                    f"The archive unpacks to {declared / 2**20:.0f} MiB; at most "
                    f"{max_bytes / 2**20:.0f} MiB are accepted."
                )
            ratio_bound = _ratio_bound(archive)
            if declared > ratio_bound:
                raise _too_compressed(declared, archive)
            planned = [(info, _member_path(info, target)) for info in members]
            written: list[Path] = []
            total = 0
            for info, path in planned:
                if path is None:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, open(path, "xb") as out:
                    while chunk := source.read(CHUNK_BYTES):
                        total += len(chunk)
                        if total > max_bytes:
                            raise ImportFailed(
                                "The archive unpacks to more than "
                                f"{max_bytes / 2**20:.0f} MiB, the most accepted."
                            )
                        if total > ratio_bound:
                            raise _too_compressed(total, archive)
                        out.write(chunk)
                written.append(path)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
    ) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise ImportFailed(
            "The zip archive is damaged or incomplete and cannot be opened "
            f"({error}). Make the archive again and upload it once more."
        ) from error
    except FileExistsError as error:
        name = Path(error.filename).relative_to(target) if error.filename else "?"
        raise ImportFailed(f"The archive holds the file “{name}” twice; keep one copy.") from error
    return written
