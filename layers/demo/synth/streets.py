"""The city's streets: real street names on approximate courses, and a grid of lanes (kiệt)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import LineString

from ..geometry import line_parts
from ..places import Places
from ..records import DemoFeature, MetricFeature
from . import seeded_rng

if TYPE_CHECKING:
    from ..city import City

LANE = "Kiệt"
BRIDGE = "Cầu"
WIDTH_M = {"Đường chính": 24, "Đường nội thị": 14, BRIDGE: 12}
# Lanes follow the Citadel's grid, as most of old Huế does, at block-sized spacings.
LANE_SPACING_U_M, LANE_SPACING_V_M = 190, 150
GRID_REACH_M = 6000
MIN_LANE_M = 80
# A lane that runs this close to a named street for most of its length would duplicate it.
DUPLICATE_DISTANCE_M = 45
HOUSE_SPACING_M = 8


def named_streets(places: Places) -> list[MetricFeature]:
    """Return the named streets and bridges."""
    features = []
    for item in places["streets"]:
        geom = places.line(item["line"])
        attributes = {
            "ten": item["ten"],
            "cap": item["cap"],
            "be_rong_m": WIDTH_M[item["cap"]],
            "chieu_dai_m": round(geom.length),
            "mat_duong": "Bê tông nhựa",
        }
        features.append(MetricFeature(geom, attributes))
    return features


def _grid_lines(places: Places) -> list[LineString]:
    reach = GRID_REACH_M
    lines = []
    for k in range(-reach // LANE_SPACING_U_M, reach // LANE_SPACING_U_M + 1):
        u = k * LANE_SPACING_U_M + LANE_SPACING_U_M / 2
        lines.append(LineString([places.citadel.xy(u, -reach), places.citadel.xy(u, reach)]))
    for k in range(-reach // LANE_SPACING_V_M, reach // LANE_SPACING_V_M + 1):
        v = k * LANE_SPACING_V_M + LANE_SPACING_V_M / 2
        lines.append(LineString([places.citadel.xy(-reach, v), places.citadel.xy(reach, v)]))
    return lines


def lanes(
    places: Places, region: shapely.Geometry, named: list[MetricFeature]
) -> list[MetricFeature]:
    """Return the lanes of a grid laid over the region, named after the nearest named street."""
    streets = [f for f in named if f.attributes["cap"] != BRIDGE]
    near_named = shapely.union_all([f.geom for f in streets]).buffer(DUPLICATE_DISTANCE_M)
    shapely.prepare(region)
    parts = []
    for line in _grid_lines(places):
        for part in line_parts(line.intersection(region), MIN_LANE_M):
            if part.intersection(near_named).length < 0.5 * part.length:
                parts.append(part)
    rng = seeded_rng("lanes")
    lines = np.array([f.geom for f in streets], dtype=object)
    middles = shapely.line_interpolate_point(parts, 0.5, normalized=True)
    nearest = shapely.STRtree(lines).nearest(middles)
    numbers = house_numbers(lines[nearest], middles)
    features = []
    for part, number, index in zip(parts, numbers, nearest, strict=True):
        attributes = {
            "ten": f"{LANE} {number} {streets[index].attributes['ten']}",
            "cap": LANE,
            "be_rong_m": round(float(rng.uniform(3.5, 6.0)), 1),
            "chieu_dai_m": round(part.length),
            "mat_duong": "Bê tông",
        }
        features.append(MetricFeature(part, attributes))
    return features


def house_numbers(lines: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Return the house number of each point beside its line: odd on the left, even on the right."""
    along = shapely.line_locate_point(lines, points)
    ahead = shapely.line_interpolate_point(lines, along + 1)
    behind = shapely.line_interpolate_point(lines, np.maximum(along - 1, 0))
    direction = shapely.get_coordinates(ahead) - shapely.get_coordinates(behind)
    offset = shapely.get_coordinates(points) - shapely.get_coordinates(behind)
    left = direction[:, 0] * offset[:, 1] - direction[:, 1] * offset[:, 0] > 0
    return 2 * (along // (2 * HOUSE_SPACING_M)).astype(int) + np.where(left, 1, 2)


def streets_layer(city: City) -> list[DemoFeature]:
    """Return the named streets, bridges and lanes."""
    return city.lonlat(city.streets)
