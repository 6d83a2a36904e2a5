"""The XML family: KML (and KMZ once unpacked), GPX and GML, told apart by their root element."""

from __future__ import annotations

import re
from pathlib import Path

import pyogrio

from .base import Format, ImportOptions, Probe, Source, choose_layer
from .errors import ImportFailed


def _root_element(probe: Probe) -> str:
    """Return the local name of the first element of an XML file ('' if it is not XML)."""
    text = probe.text_head
    if not text.startswith("<"):
        return ""
    text = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.S).lstrip()
    match = re.match(r"<([\w.-]+:)?([\w.-]+)", text)
    return match.group(2) if match else ""


class XmlFormat(Format):
    """An XML format recognised by its root element."""

    roots: tuple[str, ...] = ()
    suffix = ""
    default_srid: int | None = None
    #: Layers that only repeat another layer's data (GPX track points), never chosen by themselves.
    derived_layers: tuple[str, ...] = ()

    def matches(self, probe: Probe) -> bool:
        return _root_element(probe) in self.roots

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        path = probe.path
        if path.suffix.lower() != self.suffix:
            path = path.rename(path.with_suffix(self.suffix))
        try:
            layer, names = choose_layer(str(path), options, ignore=self.derived_layers)
        except pyogrio.errors.DataSourceError as error:
            raise ImportFailed(f"The {self.name} file cannot be read: {error}") from error
        info = pyogrio.read_info(str(path), layer=layer)
        return Source(
            format_name=self.name,
            path=str(path),
            layer=layer,
            crs=info["crs"],
            default_srid=self.default_srid,
            layer_names=names,
        )


class Kml(XmlFormat):
    name = "KML"
    extensions = (".kml",)
    roots = ("kml",)
    suffix = ".kml"
    default_srid = 4326  # KML is always WGS 84 longitude/latitude


class Gpx(XmlFormat):
    name = "GPX"
    extensions = (".gpx",)
    roots = ("gpx",)
    suffix = ".gpx"
    default_srid = 4326
    derived_layers = ("route_points", "track_points")


class Gml(XmlFormat):
    name = "GML"
    extensions = (".gml", ".xml")
    roots = ("FeatureCollection", "featureCollection", "FeatureCollectionType")
    suffix = ".gml"

    def matches(self, probe: Probe) -> bool:
        head = probe.head.decode("utf-8", "replace")
        return super().matches(probe) or (_root_element(probe) != "" and "opengis.net/gml" in head)
