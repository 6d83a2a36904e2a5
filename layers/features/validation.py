"""Checks of a feature sent for writing: its CRS, its GeoJSON geometry (valid, of the layer's kind,
brought to EPSG:4326) and its properties (the layer's fields, of the declared types)."""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from django.contrib.gis.gdal import GDALException, OGRGeometry, SpatialReference
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Polygon

from layers.errors import InvalidData, InvalidParameter
from layers.models import Layer

from .query import BOOLEAN_TYPES, NUMERIC_TYPES, layer_fields

# How a CRS may be named: an EPSG code in its usual spellings, or OGC's CRS84 (lon/lat WGS 84).
EPSG_PATTERNS = (
    re.compile(r"^(?:EPSG:)?(\d{4,6})$", re.IGNORECASE),
    re.compile(r"^urn:ogc:def:crs:EPSG:[\d.]*:(\d{4,6})$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/[\d.]+/(\d{4,6})$", re.IGNORECASE),
)
CRS84_NAMES = frozenset(
    {
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "http://www.opengis.net/def/crs/ogc/1.3/crs84",
        "https://www.opengis.net/def/crs/ogc/1.3/crs84",
        "crs84",
    }
)
GEOMETRY_KINDS = {
    Layer.GeometryType.POINT: {"Point", "MultiPoint"},
    Layer.GeometryType.LINE: {"LineString", "MultiLineString"},
    Layer.GeometryType.POLYGON: {"Polygon", "MultiPolygon"},
}
INTEGER_TYPES = frozenset({"integer", "int"})
TEXT_TYPES = frozenset({"text", "string", "str", "date", "datetime", "time"})


def parse_crs(value: str | int, *, parameter: str = "crs") -> int:
    """Return the EPSG code a CRS name stands for (CRS84 is 4326, longitude first)."""
    text = str(value).strip()
    if text.lower() in CRS84_NAMES:
        return 4326
    for pattern in EPSG_PATTERNS:
        if match := pattern.match(text):
            srid = int(match.group(1))
            break
    else:
        raise InvalidParameter(
            f"Unknown CRS '{text}': give an EPSG code such as EPSG:9214.", parameter=parameter
        )
    try:
        # Built from an integer code only: GDAL reads no file or URL for it.
        SpatialReference(srid)
    except (GDALException, ValueError):
        raise InvalidParameter(f"EPSG:{srid} is not a known CRS.", parameter=parameter) from None
    return srid


def geojson_crs(member: object) -> int | None:
    """Return the EPSG code of a GeoJSON (2008) `crs` member, or None when there is none."""
    if member is None:
        return None
    name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str | int):
        raise InvalidParameter(
            'crs must be {"type": "name", "properties": {"name": "EPSG:…"}}.', parameter="crs"
        )
    return parse_crs(name)


def geometry_from_geojson(value: object, *, layer: Layer, srid: int = 4326) -> GEOSGeometry:
    """Return the GeoJSON geometry as a valid geometry of the layer's kind, in EPSG:4326."""
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidData("geometry must be a GeoJSON geometry object.", parameter="geometry")
    try:
        shape = OGRGeometry.from_json(json.dumps(value))
        # Features are stored in two dimensions: heights and measures are dropped.
        shape.set_3d(False)
        shape.set_measured(False)
        geom = shape.geos
    except (GDALException, GEOSException, ValueError, TypeError) as error:
        raise InvalidData(f"geometry is not valid GeoJSON: {error}", parameter="geometry") from None
    if geom.empty:
        raise InvalidData("geometry is empty.", parameter="geometry")
    _check_kind(geom, layer)
    geom.srid = srid
    if srid != 4326:
        try:
            geom = geom.transform(4326, clone=True)
        except (GDALException, GEOSException) as error:
            raise InvalidData(
                f"geometry cannot be brought from EPSG:{srid} to EPSG:4326: {error}",
                parameter="geometry",
            ) from None
    return checked_geometry(geom, layer=layer)


def _check_kind(geom: GEOSGeometry, layer: Layer) -> None:
    allowed = GEOMETRY_KINDS.get(layer.geometry_type)
    if allowed and geom.geom_type not in allowed:
        raise InvalidData(
            f"A {layer.get_geometry_type_display().lower()} layer takes "
            f"{' or '.join(sorted(allowed))}, not {geom.geom_type}.",
            parameter="geometry",
        )


def checked_geometry(geom: GEOSGeometry, *, layer: Layer, where: bool = False) -> GEOSGeometry:
    """Return the geometry (EPSG:4326) if it is of the layer's kind, within longitude/latitude and
    valid; with `where`, it must also lie in the city's region or the layer's own extent (an
    edit far away is a slip of the mouse or a wrong CRS)."""
    if geom.empty:
        raise InvalidData("geometry is empty.", parameter="geometry")
    _check_kind(geom, layer)
    xmin, ymin, xmax, ymax = geom.extent
    inside = -180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90
    if not inside or not all(math.isfinite(n) for n in (xmin, ymin, xmax, ymax)):
        raise InvalidData(
            "geometry is outside longitude/latitude: is its CRS right?", parameter="geometry"
        )
    if not geom.valid:
        raise InvalidData(
            f"geometry is not valid: {geom.valid_reason}. Move the vertices so that the outline "
            "does not cross itself, then save again.",
            parameter="geometry",
        )
    if where and not _in_region(geom, layer):
        west, south, east, north = settings.CITY_REGION_BBOX
        raise InvalidData(
            f"geometry lies outside {settings.CITY_NAME} ({west} to {east}° E, "
            f"{south} to {north}° N) and outside the layer's extent: check the coordinates "
            "(or their CRS).",
            parameter="geometry",
        )
    return geom


def _in_region(geom: GEOSGeometry, layer: Layer) -> bool:
    region = Polygon.from_bbox(settings.CITY_REGION_BBOX)
    region.srid = 4326
    if region.contains(geom.envelope):
        return True
    return bool(layer.extent) and layer.extent.contains(geom.envelope)


def holds_nul(value: object) -> bool:
    """Return whether a JSON value has a NUL character anywhere (PostgreSQL refuses it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


def _fits(kind: str, value: object) -> bool:
    if value is None:
        return True
    if kind in INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in NUMERIC_TYPES:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind in BOOLEAN_TYPES:
        return isinstance(value, bool)
    if kind in TEXT_TYPES:
        return isinstance(value, str)
    return isinstance(value, str | int | float | bool)


def checked_attributes(value: object, *, layer: Layer, complete: bool = False) -> dict:
    """Return the properties if each is a field of the layer holding a value of its type (one of
    its `choices` if it has them); `complete`: the whole set, so `required` fields must be in it.
    """
    if not isinstance(value, dict):
        raise InvalidData("properties must be a JSON object.", parameter="properties")
    if holds_nul(value):
        raise InvalidData("properties must not hold NUL characters.", parameter="properties")
    fields = layer_fields(layer)
    for name, item in value.items():
        if fields and name not in fields:
            raise InvalidData(
                f"'{name}' is not a field of this layer.", parameter=f"properties.{name}"
            )
        kind = fields[name].type.lower() if name in fields else ""
        if not _fits(kind, item):
            raise InvalidData(
                f"'{name}' takes {kind or 'a plain value'}, not {json.dumps(item)[:40]}.",
                parameter=f"properties.{name}",
            )
    for spec in layer.attribute_schema or []:
        if not isinstance(spec, dict) or not spec.get("name"):
            continue
        name = spec["name"]
        label = spec.get("label_vi") or spec.get("label_en") or name
        item = value.get(name)
        if complete and spec.get("required") and (item is None or item == ""):
            raise InvalidData(f"'{label}' is required: fill it in.", parameter=f"properties.{name}")
        choices = [
            choice.get("value") if isinstance(choice, dict) else choice
            for choice in spec.get("choices") or []
        ]
        if choices and item not in (None, "") and item not in choices:
            raise InvalidData(
                f"'{label}' must be one of: {', '.join(map(str, choices))[:200]}.",
                parameter=f"properties.{name}",
            )
    return value
