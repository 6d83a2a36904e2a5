"""FlatGeobuf: one layer, binary, with its CRS in the header."""

from __future__ import annotations

from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source

FGB_MAGIC = b"fgb\x03"


class FlatGeobuf(Format):
    name = "FlatGeobuf"
    extensions = (".fgb",)

    def matches(self, probe: Probe) -> bool:
        return probe.head.startswith(FGB_MAGIC)

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        path = probe.path
        if path.suffix.lower() != ".fgb":
            path = path.rename(path.with_suffix(".fgb"))
        info = pyogrio.read_info(str(path))
        return Source(format_name=self.name, path=str(path), crs=info["crs"])
