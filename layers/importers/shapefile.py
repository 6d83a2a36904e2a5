"""Shapefiles: a .shp with its .shx, .dbf, .prj and .cpg, uploaded together in a zip.

The text of the .dbf is in whatever code page the office used: the uploader's choice wins, then
the `.cpg`, then a guess from the bytes themselves (`encodings.detect_encoding`). A code page is
read as Latin-1 by GDAL (byte for byte) and decoded in Python: GDAL's iconv drops the last letter
of some CP1258 values ("Đại Nội" → "Đại Nộ").
"""

from __future__ import annotations

from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source, choose_layer
from .crs import check_crs_text
from .encodings import dbf_text_samples, detect_encoding, encoding_from_cpg
from .errors import ImportFailed

SHP_MAGIC = b"\x00\x00\x27\x0a"


def _sibling(shp: Path, suffix: str) -> Path | None:
    for candidate in shp.parent.iterdir():
        if candidate.stem == shp.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


class Shapefile(Format):
    name = "Shapefile"
    extensions = (".shp",)

    def matches(self, probe: Probe) -> bool:
        return probe.head.startswith(SHP_MAGIC) and probe.suffix == ".shp"

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        shapefiles = sorted(p for p in probe.path.parent.iterdir() if p.suffix.lower() == ".shp")
        if len(shapefiles) > 1:
            # A folder of Shapefiles is one dataset with a layer per file.
            chosen, names = choose_layer(str(probe.path.parent), options)
            shp = next(p for p in shapefiles if p.stem == chosen)
        else:
            shp, names = probe.path, [probe.path.stem]
        if _sibling(shp, ".dbf") is None:
            raise ImportFailed(
                f"The Shapefile “{shp.name}” has no .dbf file (its attributes): "
                "zip the .shp, .shx, .dbf and .prj files together."
            )
        notes: list[str] = []
        prj = _sibling(shp, ".prj")
        if prj is not None:
            # Before GDAL parses it: a .prj can name files and URLs that PROJ would open.
            check_crs_text(prj.read_bytes()[:65536].decode("latin-1"), where="The .prj file")
        crs = pyogrio.read_info(str(shp))["crs"] if prj else None
        if crs is None and not options.srid:
            raise ImportFailed(
                f"The Shapefile “{shp.name}” has no .prj file, so its coordinate system is "
                "unknown. Add the .prj to the zip, or give the EPSG code (srid): for example "
                "9214 for VN-2000 / TM-3 107-00 (Thừa Thiên Huế), 4756 for VN-2000 "
                "longitude/latitude, 4326 for WGS 84."
            )
        encoding = self._encoding(shp, options, notes)
        return Source(
            format_name=self.name,
            path=str(shp),
            crs=crs,
            read_encoding="UTF-8" if encoding == "utf-8" else "ISO-8859-1",
            transcode=None if encoding in (None, "utf-8") else encoding,
            layer_names=names,
            notes=notes,
        )

    def _encoding(self, shp: Path, options: ImportOptions, notes: list[str]) -> str | None:
        if options.encoding:
            notes.append(f"Text read as {options.encoding} (chosen by the uploader).")
            return options.encoding
        cpg = _sibling(shp, ".cpg")
        declared = encoding_from_cpg(cpg) if cpg else None
        if declared:
            notes.append(f"Text read as {declared} (declared by the .cpg file).")
            return declared
        dbf = _sibling(shp, ".dbf")
        detected = detect_encoding(dbf_text_samples(dbf)) if dbf else None
        if detected:
            notes.append(
                f"Text read as {detected} (detected; the Shapefile has no .cpg). "
                "If letters look wrong, import again choosing the encoding."
            )
        return detected
