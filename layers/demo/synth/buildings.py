"""Building footprints with heights, laid out lot by lot in the blocks between streets (sample)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from ..geometry import polygon_parts, rotated_rects
from ..records import DemoFeature, MetricFeature
from . import seeded_rng
from .streets import house_numbers
from .wards import ward_short

if TYPE_CHECKING:
    from ..city import City

# Each block is cut into lots of this size, each holding at most one building.
LOT_WIDTH_M, LOT_DEPTH_M = 18.0, 24.0
LOT_MARGIN_M = 1.0
MIN_BLOCK_M2 = 300
# Lots this close to a block's edge face a street; deeper ones are back gardens, more often empty.
FRONTAGE_M = 24
BACK_LOT_SHARE = 0.12
# Even a dense ward leaves some lots to gardens, yards and vacant land.
BUILT_SHARE = 0.75
ROADSIDE_M = 45
MAIN_STREET_M = 40
STREET_SETBACK_M, WATER_SETBACK_M, WALL_CLEARANCE_M = 2, 10, 25
STOREY_M = 3.4

USES = {
    "residential": "Nhà ở",
    "mixed": "Nhà ở kết hợp kinh doanh",
    "commercial": "Thương mại - dịch vụ",
    "public": "Công trình công cộng",
    "religious": "Cơ sở tôn giáo",
}
# (uses, their odds), (floors, their odds) for each setting of a building.
PROFILES = {
    "citadel": (
        (["residential", "mixed", "public", "religious"], [0.85, 0.06, 0.06, 0.03]),
        ([1, 2, 3], [0.55, 0.4, 0.05]),
    ),
    "main": (
        (["mixed", "commercial", "public", "residential"], [0.5, 0.35, 0.07, 0.08]),
        (
            [2, 3, 4, 5, 6, 7, 8, 9, 10, 12],
            [0.1, 0.25, 0.25, 0.15, 0.1, 0.05, 0.04, 0.02, 0.02, 0.02],
        ),
    ),
    "other": (
        (["residential", "mixed", "public", "religious"], [0.84, 0.08, 0.05, 0.03]),
        ([1, 2, 3, 4, 5], [0.3, 0.4, 0.2, 0.08, 0.02]),
    ),
}


def building_blocks(city: City) -> list[shapely.Geometry]:
    """Return the land left for buildings: the wards less water, streets, monuments and parks."""
    streets = [
        f.geom.buffer(f.attributes["be_rong_m"] / 2 + STREET_SETBACK_M, quad_segs=2)
        for f in city.streets
    ]
    wall = city.citadel_area.exterior.buffer(WALL_CLEARANCE_M)
    # The whole Citadel is lived in; the palaces, tombs and altars within its bounds are not.
    heritage = [
        city.places.area(item)
        for item in city.places["heritage_areas"]
        if item["loai"] != "Kinh thành"
    ]
    blocked = shapely.union_all(
        [
            city.water_area.buffer(WATER_SETBACK_M),
            wall,
            city.park_area,
            *streets,
            *heritage,
            *[f.geom for f in city.investment_sites],
        ]
    )
    inner = shapely.union_all([f.geom for f in city.wards if f.attributes["noi_thi"]])
    # Outside the inner wards, houses line the roads and the fields behind them stay open.
    outer = shapely.union_all([f.geom for f in city.wards if not f.attributes["noi_thi"]])
    roadside = shapely.union_all(
        [f.geom.buffer(f.attributes["be_rong_m"] / 2 + ROADSIDE_M) for f in city.streets]
    )
    land = shapely.union(inner, outer.intersection(roadside)).difference(blocked)
    return polygon_parts(land, MIN_BLOCK_M2)


def _lots(block: shapely.Geometry, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return the footprints that fit in a block's lots, and whether each faces a street."""
    corners = np.asarray(block.minimum_rotated_rectangle.exterior.coords)[:4]
    edges = np.roll(corners, -1, axis=0) - corners
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    first = int(np.argmax(lengths[:2]))
    origin, along, across = corners[first], edges[first], edges[(first + 1) % 4]
    length_along, length_across = np.hypot(*along), np.hypot(*across)
    unit_along, unit_across = along / length_along, across / length_across
    i, j = np.meshgrid(
        np.arange(int(length_along // LOT_WIDTH_M)), np.arange(int(length_across // LOT_DEPTH_M))
    )
    i, j = i.ravel(), j.ravel()
    n = len(i)
    if n == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=bool)
    centres = (
        origin
        + ((i + 0.5) * LOT_WIDTH_M + rng.uniform(-0.8, 0.8, n))[:, None] * unit_along
        + ((j + 0.5) * LOT_DEPTH_M + rng.uniform(-0.8, 0.8, n))[:, None] * unit_across
    )
    width = rng.uniform(6.0, LOT_WIDTH_M - 4 * LOT_MARGIN_M, n)
    depth = rng.uniform(9.0, LOT_DEPTH_M - 4 * LOT_MARGIN_M, n)
    angle = np.arctan2(unit_along[1], unit_along[0]) + np.radians(rng.uniform(-2, 2, n))
    rects = rotated_rects(centres[:, 0], centres[:, 1], width, depth, angle)
    shapely.prepare(block)
    fits = shapely.contains(block, rects)
    points = shapely.points(centres[fits])
    frontage = shapely.distance(block.boundary, points) <= FRONTAGE_M
    return rects[fits], frontage


def footprints(city: City) -> list[MetricFeature]:
    """Return the buildings: lots filled at each ward's density, front lots more often."""
    rng = seeded_rng("buildings")
    rects, frontage = [], []
    for block in building_blocks(city):
        block_rects, block_frontage = _lots(block, rng)
        rects.append(block_rects)
        frontage.append(block_frontage)
    rects, frontage = np.concatenate(rects), np.concatenate(frontage)
    centres = shapely.centroid(rects)

    density = _ward_density(city, centres)
    odds = BUILT_SHARE * density * np.where(frontage, 1.0, BACK_LOT_SHARE)
    keep = rng.random(len(rects)) < odds
    rects, centres = rects[keep], centres[keep]
    return _describe(city, rects, centres, rng)


def _ward_density(city: City, points: np.ndarray) -> np.ndarray:
    density_by_ward = {spec["ten"]: spec["mat_do"] for spec in city.places["wards"]}
    return np.array([density_by_ward.get(name, 0.0) for name in city.ward_names(points)])


def _settings(city: City, points: np.ndarray) -> np.ndarray:
    main = [f.geom for f in city.named_streets if f.attributes["cap"] == "Đường chính"]
    near_main = shapely.STRtree(main).query(points, predicate="dwithin", distance=MAIN_STREET_M)[0]
    setting = np.full(len(points), "other", dtype=object)
    setting[np.unique(near_main)] = "main"
    shapely.prepare(city.citadel_area)
    setting[shapely.contains(city.citadel_area, points)] = "citadel"
    return setting


def _uses_and_floors(
    settings: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each building's use and floors from the odds of its setting."""
    uses = np.empty(len(settings), dtype=object)
    floors = np.zeros(len(settings), dtype=int)
    for setting, ((use_names, use_odds), (floor_counts, floor_odds)) in PROFILES.items():
        here = np.flatnonzero(settings == setting)
        uses[here] = np.array(use_names, dtype=object)[
            rng.choice(len(use_names), size=len(here), p=use_odds)
        ]
        floors[here] = rng.choice(floor_counts, size=len(here), p=floor_odds)
    # Halls and pagodas stay low wherever they stand.
    floors = np.where(uses == "public", np.minimum(floors, 3), floors)
    floors = np.where(uses == "religious", np.minimum(floors, 2), floors)
    return uses, floors


def _describe(
    city: City, rects: np.ndarray, centres: np.ndarray, rng: np.random.Generator
) -> list[MetricFeature]:
    uses, floors = _uses_and_floors(_settings(city, centres), rng)
    heights = np.round(floors * STOREY_M + rng.uniform(0.3, 1.8, len(rects)), 1)
    areas = np.round(shapely.area(rects)).astype(int)
    wards = city.ward_names(centres)
    addresses = _addresses(city, centres)
    counters: dict[tuple[str, str], int] = {}
    features = []
    for k, rect in enumerate(rects):
        use, floor_count = str(uses[k]), int(floors[k])
        attributes = {
            "use": use,
            "cong_nang": USES[use],
            "floors": floor_count,
            "height_m": float(heights[k]),
            "dia_chi": addresses[k],
            "phuong": wards[k],
            "dien_tich_m2": int(areas[k]),
        }
        name = _name(use, floor_count, wards[k], addresses[k], counters)
        if name:
            attributes["ten"] = name
        features.append(MetricFeature(rect, attributes))
    return features


def _name(use: str, floors: int, ward: str, address: str, counters: dict) -> str | None:
    """Return a name for the buildings people would name: halls, pagodas and towers."""
    if use == "commercial" and floors >= 7:
        return f"Tòa nhà {address.removeprefix('Số ')}"
    if use not in ("public", "religious"):
        return None
    counters[(use, ward)] = counters.get((use, ward), 0) + 1
    place = ward_short(ward) if ward else "Huế"
    number = counters[(use, ward)]
    if use == "public":
        return f"Nhà văn hóa tổ dân phố {number}, {place}"
    return f"Niệm Phật đường {place} {number}"


def _addresses(city: City, points: np.ndarray) -> list[str]:
    """Return "Số n <street>" for each point: its nearest street and the house number there."""
    streets = city.streets
    lines = np.array([f.geom for f in streets], dtype=object)
    point_index, street_index = shapely.STRtree(lines).query_nearest(points, all_matches=False)
    nearest = np.empty(len(points), dtype=int)
    nearest[point_index] = street_index
    numbers = house_numbers(lines[nearest], points)
    return [
        f"Số {number} {streets[k].attributes['ten']}"
        for number, k in zip(numbers, nearest, strict=True)
    ]


def buildings_layer(city: City) -> list[DemoFeature]:
    """Return the building footprints."""
    return city.lonlat(footprints(city))
