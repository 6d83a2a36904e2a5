"""GeoPackage (and other SQLite-based files such as SpatiaLite): often several layers.

The CRS definitions a GeoPackage holds are checked before GDAL opens it: GDAL parses them all, and
a definition can name files or URLs (`crs.check_crs_text`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source, choose_layer
from .crs import check_crs_text

SQLITE_MAGIC = b"SQLite format 3\x00"


class GeoPackage(Format):
    name = "GeoPackage"
    extensions = (".gpkg", ".sqlite")

    def matches(self, probe: Probe) -> bool:
        return probe.head.startswith(SQLITE_MAGIC)

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        path = probe.path
        if path.suffix.lower() != ".gpkg":
            path = path.rename(path.with_suffix(".gpkg"))
        for definition in _crs_definitions(path):
            check_crs_text(definition, where="A coordinate system in the GeoPackage")
        layer, names = choose_layer(str(path), options)
        info = pyogrio.read_info(str(path), layer=layer)
        return Source(
            format_name=self.name, path=str(path), layer=layer, crs=info["crs"], layer_names=names
        )


def _crs_definitions(path: Path) -> list[str]:
    """Return the CRS definitions of a GeoPackage ([] when it has no such table)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as database:
            rows = database.execute("SELECT definition FROM gpkg_spatial_ref_sys").fetchall()
    except sqlite3.Error:
        return []  # not a GeoPackage's table (SpatiaLite), or damaged: GDAL says which
    return [str(row[0]) for row in rows if row[0]]
