"""GeoJSON and TopoJSON: JSON text, WGS 84 unless an old-style `crs` member says otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source, choose_layer


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
