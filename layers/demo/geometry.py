"""Metric frames for generated geometry: metres around Huế, and back to lon/lat (EPSG:4326)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

# Metres per degree of latitude on the WGS 84 sphere of radius 6,378,137 m.
M_PER_DEG = math.pi * 6378137.0 / 180


@dataclass(frozen=True)
class LocalFrame:
    """An equirectangular frame in metres around an origin: within a metre or so over a city."""

    origin_lon: float
    origin_lat: float

    @property
    def m_per_deg_lon(self) -> float:
        return M_PER_DEG * math.cos(math.radians(self.origin_lat))

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """Return the metric coordinates of a lon/lat point."""
        return (lon - self.origin_lon) * self.m_per_deg_lon, (lat - self.origin_lat) * M_PER_DEG

    def to_metric(self, geom: shapely.Geometry) -> shapely.Geometry:
        """Return a lon/lat geometry in this frame's metres."""
        origin = np.array([self.origin_lon, self.origin_lat])
        scale = np.array([self.m_per_deg_lon, M_PER_DEG])
        return shapely.transform(geom, lambda coords: (coords - origin) * scale)

    def to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        """Return a metric geometry in lon/lat (an affine map: valid stays valid)."""
        origin = np.array([self.origin_lon, self.origin_lat])
        scale = np.array([self.m_per_deg_lon, M_PER_DEG])
        return shapely.transform(geom, lambda coords: coords / scale + origin)


@dataclass(frozen=True)
class RotatedFrame:
    """Metres along (u) and across (v) a bearing, from an origin in a LocalFrame."""

    origin_x: float
    origin_y: float
    bearing_deg: float

    def xy(self, u: float, v: float) -> tuple[float, float]:
        """Return the LocalFrame coordinates of a (u, v) point."""
        bearing = math.radians(self.bearing_deg)
        along = (math.sin(bearing), math.cos(bearing))
        # v points 90° anticlockwise of u: inwards from the Citadel's front wall.
        across = (-math.cos(bearing), math.sin(bearing))
        return (
            self.origin_x + u * along[0] + v * across[0],
            self.origin_y + u * along[1] + v * across[1],
        )

    def rect(self, u: float, v: float, width_m: float, depth_m: float) -> Polygon:
        """Return the rectangle centred on (u, v), width along u and depth along v."""
        half_w, half_d = width_m / 2, depth_m / 2
        corners = [(-half_w, -half_d), (half_w, -half_d), (half_w, half_d), (-half_w, half_d)]
        return Polygon([self.xy(u + du, v + dv) for du, dv in corners])


def rotated_rects(
    x: np.ndarray, y: np.ndarray, width: np.ndarray, depth: np.ndarray, angle_rad: np.ndarray
) -> np.ndarray:
    """Return rectangles centred on (x, y), `width` along `angle_rad` (from east, anticlockwise)."""
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    half_w, half_d = width / 2, depth / 2
    signs = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    du = signs[:, 0][None, :] * half_w[:, None]
    dv = signs[:, 1][None, :] * half_d[:, None]
    xs = x[:, None] + du * cos[:, None] - dv * sin[:, None]
    ys = y[:, None] + du * sin[:, None] + dv * cos[:, None]
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def rect_at(x: float, y: float, width_m: float, depth_m: float, bearing_deg: float) -> Polygon:
    """Return one rectangle centred on (x, y) whose width runs along a compass bearing."""
    angle = math.radians(90 - bearing_deg)
    return rotated_rects(
        np.array([x]), np.array([y]), np.array([width_m]), np.array([depth_m]), np.array([angle])
    )[0]


def simple_parts(geom: shapely.Geometry) -> list[shapely.Geometry]:
    """Return the single-part geometries in a geometry, collections flattened at any depth."""
    parts = []
    for part in shapely.get_parts(geom):
        if shapely.get_num_geometries(part) > 1 or part.geom_type.startswith(("Multi", "Geom")):
            parts.extend(simple_parts(part))
        elif not part.is_empty:
            parts.append(part)
    return parts


def polygon_parts(geom: shapely.Geometry, min_area_m2: float = 0.0) -> list[Polygon]:
    """Return the polygons in a geometry (of any kind) at least `min_area_m2` large."""
    return [p for p in simple_parts(geom) if p.geom_type == "Polygon" and p.area >= min_area_m2]


def line_parts(geom: shapely.Geometry, min_length_m: float = 0.0) -> list[LineString]:
    """Return the lines in a geometry (of any kind) at least `min_length_m` long."""
    return [
        p for p in simple_parts(geom) if p.geom_type == "LineString" and p.length >= min_length_m
    ]


def as_polygonal(geom: shapely.Geometry, min_area_m2: float = 0.0) -> shapely.Geometry | None:
    """Return the valid (multi)polygon left of a geometry, dropping slivers; None if nothing is."""
    parts = polygon_parts(shapely.make_valid(geom), min_area_m2)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def repaired(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the geometry, made valid if it is not, keeping only parts of its own dimension."""
    if geom.is_valid:
        return geom
    dimension = shapely.get_dimensions(geom)
    parts = [
        p for p in simple_parts(shapely.make_valid(geom)) if shapely.get_dimensions(p) == dimension
    ]
    if len(parts) == 1:
        return parts[0]
    # Polygons of a repaired geometry may share edges: only their union is a valid whole.
    return shapely.union_all(parts) if dimension == 2 else shapely.multilinestrings(parts)
