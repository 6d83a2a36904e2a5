"""The coordinate reference systems the server answers in (OGC API - Features Part 2, and the
REST API's and exports' `crs`): their URIs, the offered list, and how a request names one.

Features are stored in EPSG:4326 (longitude first, as PostGIS keeps it), so CRS84 is the storage
CRS and every other CRS is a transformation PostGIS makes (`ST_Transform`). The list: CRS84, WGS 84
with the EPSG's axis order, Web Mercator, and VN-2000, Huế's TM-3 107-00 (EPSG:9214) first among
those, then geographic VN-2000, the two UTM zones and the other provincial TM-3 zones.

Axis order is the CRS's own, as the EPSG defines it and GDAL reports it: EPSG:4326 and 4756 put
latitude first; the VN-2000 projected CRSs, like Web Mercator, put easting first. CRS84 is
longitude first. The OGC API writes coordinates in that order (the standard says so); the REST API
and the files keep east/longitude first whatever the CRS, as GeoJSON, GeoPackage and Shapefile
readers expect.
"""

from __future__ import annotations

import dataclasses
import functools
from ctypes import c_int, c_void_p
from dataclasses import dataclass

from django.contrib.gis.gdal import CoordTransform, OGRGeometry, SpatialReference
from django.contrib.gis.gdal.libgdal import lgdal

from layers.errors import InvalidParameter
from layers.features.query import FeatureQuery, parse_bbox, parse_number
from layers.features.validation import CRS84_NAMES, parse_crs
from layers.importers.crs import VN2000

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{srid}"
HUE_SRID = 9214  # VN-2000 / TM-3 107-00, Thừa Thiên Huế's zone


def _gdal_flag(name: str):
    function = getattr(lgdal, name)
    function.argtypes = [c_void_p]
    function.restype = c_int
    return function


# GDAL's own answer to "does the EPSG put the second axis first" (latitude, or northing).
_treats_as_lat_long = _gdal_flag("OSREPSGTreatsAsLatLong")
_treats_as_northing_easting = _gdal_flag("OSREPSGTreatsAsNorthingEasting")


@functools.cache
def _northing_first(srid: int) -> bool:
    """Return whether the EPSG puts latitude or northing first in this CRS, as GDAL reads it."""
    reference = SpatialReference(srid)
    return bool(_treats_as_lat_long(reference.ptr) or _treats_as_northing_easting(reference.ptr))


def northing_first(srid: int) -> bool:
    """Return whether EPSG:srid gives latitude or northing first (4326, 4756: yes; 9214: no)."""
    return _northing_first(srid)


def swapped_axes(geometry: dict) -> dict:
    """Return a GeoJSON geometry with each position's first two coordinates swapped (a geometry
    written in its CRS's axis order, latitude first, brought to PostGIS's x-first order)."""

    def swap(value):
        if isinstance(value, list) and value and isinstance(value[0], int | float):
            return [value[1], value[0], *value[2:]]
        return [swap(item) for item in value] if isinstance(value, list) else value

    if geometry.get("type") == "GeometryCollection":
        return {**geometry, "geometries": [swapped_axes(g) for g in geometry.get("geometries", [])]}
    return {**geometry, "coordinates": swap(geometry.get("coordinates"))}


@dataclass(frozen=True)
class OfferedCrs:
    """A CRS the server answers in: its PostGIS SRID, its OGC URI and its name."""

    srid: int
    uri: str
    name: str

    @property
    def is_crs84(self) -> bool:
        return self.uri == CRS84

    @property
    def swap_axes(self) -> bool:
        """Whether its first axis is latitude or northing (PostGIS keeps x first)."""
        return not self.is_crs84 and _northing_first(self.srid)

    @property
    def epsg(self) -> str:
        return "CRS84" if self.is_crs84 else f"EPSG:{self.srid}"


# How far a bbox-crs box may reach, x first. TM and UTM grids are good to a few thousand
# kilometres from their meridian (past that PROJ refuses to transform). VN-2000's datum shift
# moves longitude 180° across the antimeridian and the poles have no Mercator y, either of which
# would spoil the box's first cut on the 3857 index, so a geographic box stops short of them.
_GEOGRAPHIC = (-179.9, -85.0, 179.9, 85.0)
_PROJECTED = (-3_000_000.0, -10_000_000.0, 4_000_000.0, 10_000_000.0)
_MERCATOR = (-20037508.35, -20048966.11, 20037508.35, 20048966.11)


def _area(srid: int) -> tuple[float, float, float, float]:
    if srid == 3857:
        return _MERCATOR
    return _GEOGRAPHIC if SpatialReference(srid).geographic else _PROJECTED


def covers(srid: int, box: tuple[float, float, float, float]) -> bool:
    """Return whether a box (x first) lies where this CRS can be transformed from."""
    west, south, east, north = _area(srid)
    return west <= box[0] and box[2] <= east and south <= box[1] and box[3] <= north


def lon_lat_box(box: tuple[float, float, float, float], *, srid: int) -> tuple[float, ...]:
    """Return the longitude/latitude box around a box of another CRS (x first): its edges are
    densified (64 points a side) before they are transformed, so the curved edges are inside."""
    min_x, min_y, max_x, max_y = box
    steps = [i / 64 for i in range(65)]
    ring = [(min_x + (max_x - min_x) * t, min_y) for t in steps]
    ring += [(max_x, min_y + (max_y - min_y) * t) for t in steps]
    ring += [(max_x - (max_x - min_x) * t, max_y) for t in steps]
    ring += [(min_x, max_y - (max_y - min_y) * t) for t in steps]
    line = OGRGeometry(
        "LINESTRING (" + ", ".join(f"{x!r} {y!r}" for x, y in ring) + ")", SpatialReference(srid)
    )
    line.transform(_to_wgs84(srid))
    west, south, east, north = line.extent
    margin = 1e-6  # about 0.1 m: the transformation in PostGIS may round differently
    return (west - margin, south - margin, east + margin, north + margin)


@functools.cache
def _to_wgs84(srid: int) -> CoordTransform:
    return CoordTransform(SpatialReference(srid), SpatialReference(4326))


def _axis_help(crs: OfferedCrs) -> str:
    if crs.is_crs84:
        return "min lon, min lat, max lon, max lat"
    if crs.swap_axes:
        return "min lat, min lon, max lat, max lon"
    if SpatialReference(crs.srid).geographic:
        return "min lon, min lat, max lon, max lat"
    return "min easting, min northing, max easting, max northing (metres)"


def _epsg(srid: int, name: str) -> OfferedCrs:
    return OfferedCrs(srid=srid, uri=EPSG_URI.format(srid=srid), name=name)


_vn2000 = sorted(VN2000, key=lambda named: named.srid != HUE_SRID)  # Huế's zone first
CRS84_CRS = OfferedCrs(srid=4326, uri=CRS84, name="WGS 84 (longitude, latitude)")
OFFERED: tuple[OfferedCrs, ...] = (
    CRS84_CRS,
    _epsg(4326, "WGS 84 (latitude, longitude)"),
    _epsg(3857, "WGS 84 / Pseudo-Mercator"),
    *(_epsg(named.srid, named.name) for named in _vn2000),
)
OFFERED_URIS: tuple[str, ...] = tuple(crs.uri for crs in OFFERED)
_BY_URI = {crs.uri: crs for crs in OFFERED}
_BY_SRID = {crs.srid: crs for crs in OFFERED[1:]}  # EPSG:4326, not CRS84


def offered_srids() -> list[int]:
    """Return the PostGIS SRIDs of the offered CRSs (each once)."""
    return sorted({crs.srid for crs in OFFERED})


def crs_from_uri(value: str, *, parameter: str = "crs") -> OfferedCrs:
    """Return the offered CRS a URI names (as listed in the collections), else InvalidParameter."""
    crs = _BY_URI.get(value.strip())
    if crs is None:
        raise InvalidParameter(
            f"{parameter}: '{value[:80]}' is not a CRS this server offers. Give one of these "
            f"URIs: {', '.join(OFFERED_URIS)}.",
            parameter=parameter,
        )
    return crs


def crs_from_name(value: str, *, parameter: str = "crs") -> OfferedCrs:
    """Return the offered CRS that `EPSG:n`, `n`, an OGC URI or URN, or CRS84 names, else
    InvalidParameter listing the offered ones."""
    text = value.strip()
    if text.lower() in CRS84_NAMES:
        return CRS84_CRS
    if text in _BY_URI:
        return _BY_URI[text]
    offered = ", ".join(crs.epsg for crs in OFFERED)
    try:
        srid = parse_crs(text, parameter=parameter)
    except InvalidParameter:
        srid = None
    if srid not in _BY_SRID:
        raise InvalidParameter(
            f"{parameter}: '{text[:80]}' is not a CRS this server offers. Give one of {offered} "
            "(EPSG:9214 is VN-2000 / TM-3 107-00, Thừa Thiên Huế).",
            parameter=parameter,
        )
    return _BY_SRID[srid]


def answer_in(query: FeatureQuery, crs: OfferedCrs, *, authority_axes: bool) -> FeatureQuery:
    """Return the query answering in `crs`: its axes in the CRS's order if `authority_axes`
    (the OGC API), else east or longitude first (the REST API and the files)."""
    return dataclasses.replace(query, srid=crs.srid, swap_axes=authority_axes and crs.swap_axes)


def box_in(value: str, crs: OfferedCrs, *, parameter: str = "bbox") -> dict:
    """Return the FeatureQuery fields (`bbox`, `bbox_srid`) of a `bbox` given in `crs`, its
    numbers in that CRS's axis order (`bbox-crs`); else InvalidParameter."""
    parts = value.split(",")
    if len(parts) == 6:  # a 3D box; heights do not matter here
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4:
        raise InvalidParameter(
            f"{parameter} must be four numbers in {crs.epsg}'s axis order: {_axis_help(crs)}.",
            parameter=parameter,
        )
    numbers = [parse_number(part, parameter=parameter) for part in parts]
    if crs.swap_axes:
        numbers = [numbers[1], numbers[0], numbers[3], numbers[2]]
    if crs.srid == 4326:
        return {"bbox": parse_bbox(",".join(map(repr, numbers)), parameter=parameter)}
    min_x, min_y, max_x, max_y = numbers
    if min_x > max_x or min_y > max_y:
        raise InvalidParameter(
            f"{parameter}: the minimum must not exceed the maximum ({_axis_help(crs)}).",
            parameter=parameter,
        )
    if not covers(crs.srid, (min_x, min_y, max_x, max_y)):
        raise InvalidParameter(
            f"{parameter} lies outside what {crs.epsg} covers ({_axis_help(crs)}): is "
            "bbox-crs right?",
            parameter=parameter,
        )
    return {"bbox": (min_x, min_y, max_x, max_y), "bbox_srid": crs.srid}
