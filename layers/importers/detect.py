"""Which format a file is, from its content: archives unpacked, non-GIS files named as such."""

from __future__ import annotations

from pathlib import Path

from pyogrio.errors import DataLayerError, DataSourceError

from .archives import is_zip, unpack_zip
from .base import Format, ImportOptions, Probe, Source
from .delimited import Delimited
from .errors import ImportFailed
from .flatgeobuf import FlatGeobuf
from .geojson import GeoJSON
from .geopackage import GeoPackage
from .shapefile import Shapefile
from .xmlformats import Gml, Gpx, Kml

# Content checks first; CSV, which is any text with separators, last.
FORMATS: list[Format] = [
    GeoPackage(),
    FlatGeobuf(),
    Shapefile(),
    Kml(),
    Gpx(),
    Gml(),
    GeoJSON(),
    Delimited(),
]

# Files people upload by mistake, and what to tell them.
NOT_GIS = [
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"II*\x00", "a TIFF raster image"),
    (b"MM\x00*", "a TIFF raster image"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document (save the sheet as CSV)"),
    (b"Rar!", "a RAR archive (use a zip archive)"),
    (b"7z\xbc\xaf", "a 7-Zip archive (use a zip archive)"),
    (b"\x1f\x8b", "a gzip archive (use a zip archive)"),
]
SUPPORTED = "GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, CSV, FlatGeobuf, GPX or GML"


def _refuse_non_gis(probe: Probe, shown_name: str) -> None:
    if not probe.head:
        raise ImportFailed(f"The file “{shown_name}” is empty (0 bytes): upload it again.")
    for magic, what in NOT_GIS:
        if probe.head.startswith(magic):
            raise ImportFailed(
                f"The file “{shown_name}” is {what}, not map data. Upload {SUPPORTED}."
            )


def _main_file(files: list[Path], shown_name: str) -> Path:
    """Return the file of an unpacked archive to read (a Shapefile's .shp, a KMZ's .kml…)."""
    if any(f.name == "[Content_Types].xml" for f in files):
        raise ImportFailed(
            f"The file “{shown_name}” is an Office document, not map data: save the sheet as CSV."
        )
    data = [f for f in files if not f.name.startswith(".") and "__MACOSX" not in f.parts]
    for fmt in FORMATS:
        found = sorted(f for f in data if f.suffix.lower() in fmt.extensions)
        if found:
            return found[0]
    listed = ", ".join(f.name for f in data[:10]) or "nothing"
    raise ImportFailed(f"The archive holds no map data we can read ({listed}). Upload {SUPPORTED}.")


def open_upload(path: Path, options: ImportOptions, workdir: Path, shown_name: str) -> Source:
    """Return how to read an uploaded file, sniffing its content; raise ImportFailed if we can't."""
    probe = Probe.of(path)
    _refuse_non_gis(probe, shown_name)
    if is_zip(probe.head):
        files = unpack_zip(path, workdir / "unpacked")
        probe = Probe.of(_main_file(files, shown_name))
        _refuse_non_gis(probe, probe.path.name)
    elif probe.head.startswith(b"\x00\x00\x27\x0a"):
        raise ImportFailed(
            "A Shapefile is several files: zip the .shp, .shx, .dbf and .prj together "
            "and upload the zip."
        )
    for fmt in FORMATS:
        if fmt.matches(probe):
            try:
                return fmt.open(probe, options, workdir)
            except (DataSourceError, DataLayerError) as error:
                raise ImportFailed(
                    f"The file looks like {fmt.name} but GDAL cannot read it ({error}). "
                    "It may be damaged or incomplete: export it again."
                ) from error
    raise ImportFailed(f"The format of “{shown_name}” is not recognised. Upload {SUPPORTED}.")
