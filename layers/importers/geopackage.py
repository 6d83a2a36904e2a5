"""GeoPackage (and other SQLite-based files such as SpatiaLite): often several layers."""

from __future__ import annotations

from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source, choose_layer

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
        layer, names = choose_layer(str(path), options)
        info = pyogrio.read_info(str(path), layer=layer)
        return Source(
            format_name=self.name, path=str(path), layer=layer, crs=info["crs"], layer_names=names
        )
