"""GeoJSON and TopoJSON: JSON text, WGS 84 unless an old-style `crs` member says otherwise.

An old-style `crs` member is read before GDAL sees the file: GDAL follows a `link` CRS to its URL
and a named one to PROJ init files, so only names of EPSG or OGC CRSs are let through.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source, choose_layer
from .errors import ImportFailed

CRS_MEMBER = re.compile(rb'"crs"\s*:\s*\{')
# Names GeoJSON files use for a CRS by authority: urn:ogc:def:crs:EPSG::9214, EPSG:4326, CRS84…
SAFE_CRS_NAME = re.compile(
    r"(urn:ogc:def:crs:(EPSG|OGC):[\d.]*:[A-Za-z]*\d+|EPSG:\d+"
    r"|https?://www\.opengis\.net/def/crs/(EPSG/0/\d+|OGC/1\.3/CRS84))",
    re.I,
)
SCAN_CHUNK_BYTES = 1 << 20
CRS_WINDOW_BYTES = 4096


def _crs_member_offsets(path: Path) -> list[int]:
    """Return where each `"crs": {` object starts in a file, reading it in bounded chunks."""
    offsets: set[int] = set()
    overlap = 64  # longer than any match, so one cut by a chunk boundary is found in the next
    with open(path, "rb") as stream:
        start = 0
        while chunk := stream.read(SCAN_CHUNK_BYTES):
            offsets.update(start + match.end() - 1 for match in CRS_MEMBER.finditer(chunk))
            if len(chunk) < SCAN_CHUNK_BYTES:
                break
            start += len(chunk) - overlap
            stream.seek(start)
    return sorted(offsets)


def _is_safe(member: object) -> bool:
    if not isinstance(member, dict) or member.get("type") != "name":
        return False
    properties = member.get("properties")
    name = properties.get("name") if isinstance(properties, dict) else None
    return isinstance(name, str) and SAFE_CRS_NAME.fullmatch(name.strip()) is not None


def check_crs_members(path: Path) -> None:
    """Raise ImportFailed when a `crs` member links to a URL or names anything but a known CRS."""
    decoder = json.JSONDecoder()
    with open(path, "rb") as stream:
        for offset in _crs_member_offsets(path):
            stream.seek(offset)
            window = stream.read(CRS_WINDOW_BYTES).decode("utf-8", "replace")
            try:
                member = decoder.raw_decode(window)[0]
            except ValueError:
                member = None  # longer than any honest CRS name, or not JSON
            if _is_safe(member):
                continue
            is_link = isinstance(member, dict) and member.get("type") == "link"
            what = "links to an address" if is_link else "is not the name of a known CRS"
            raise ImportFailed(
                f'The GeoJSON\'s "crs" member {what}; for safety it is not followed. GeoJSON is '
                'WGS 84 by definition: remove the "crs" member, or name the CRS by its EPSG code '
                '("urn:ogc:def:crs:EPSG::9214"), or give the EPSG code (srid) with the upload.'
            )


class GeoJSON(Format):
    name = "GeoJSON"
    extensions = (".geojson", ".json", ".topojson")

    def matches(self, probe: Probe) -> bool:
        text = probe.text_head
        return text.startswith(("{", "[")) and '"type"' in probe.head.decode("utf-8", "replace")

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        is_topology = '"Topology"' in probe.head.decode("utf-8", "replace")
        suffix = ".topojson" if is_topology else ".geojson"
        path = workdir / f"data{suffix}"
        if probe.path != path:
            shutil.copyfile(probe.path, path)
        check_crs_members(path)
        layer, names = choose_layer(str(path), options)
        info = pyogrio.read_info(str(path), layer=layer)
        notes = []
        if options.encoding and options.encoding != "utf-8":
            notes.append("GeoJSON is always UTF-8: the chosen encoding was not used.")
        return Source(
            format_name="TopoJSON" if is_topology else self.name,
            path=str(path),
            layer=layer,
            crs=info["crs"],
            default_srid=4326,
            layer_names=names,
            notes=notes,
        )
