"""Bus routes along the main streets and their stops (sample data; not the real network)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import Point

from ..records import DemoFeature, MetricFeature
from . import seeded_rng

if TYPE_CHECKING:
    from ..city import City

STOP_SPACING_M = 450
FIRST_STOP_M = 60
# Stops stand at the kerb, to the right of the direction of travel.
KERB_OFFSET_M = 12
# Stops of different routes closer than this are one stop served by both.
SHARED_STOP_M = 80


def routes(city: City) -> list[MetricFeature]:
    """Return the bus routes."""
    rng = seeded_rng("bus-routes")
    features = []
    for item in city.places["bus_routes"]:
        line = city.places.line(item["line"])
        attributes = {
            "so_hieu": item["so_hieu"],
            "ten": item["ten"],
            "chieu_dai_km": round(line.length / 1000, 1),
            "tan_suat_phut": int(rng.choice([10, 15, 20, 30])),
            "gio_hoat_dong": "05:30-19:00",
            "gia_ve_vnd": 7000,
        }
        features.append(MetricFeature(line, attributes))
    return features


def routes_layer(city: City) -> list[DemoFeature]:
    """Return the bus routes."""
    return city.lonlat(routes(city))


def _kerb_points(line: shapely.LineString) -> list[Point]:
    points = []
    for along in np.arange(FIRST_STOP_M, line.length, STOP_SPACING_M):
        here, ahead = line.interpolate(along), line.interpolate(min(along + 1, line.length))
        dx, dy = ahead.x - here.x, ahead.y - here.y
        norm = np.hypot(dx, dy) or 1.0
        points.append(Point(here.x + dy / norm * KERB_OFFSET_M, here.y - dx / norm * KERB_OFFSET_M))
    return points


def stops_layer(city: City) -> list[DemoFeature]:
    """Return the stops along every route, shared where routes meet."""
    stops: list[tuple[Point, list[str]]] = []
    for route in routes(city):
        for point in _kerb_points(route.geom):
            point = city.on_land(point)
            shared = next((s for s in stops if s[0].distance(point) < SHARED_STOP_M), None)
            if shared is None:
                stops.append((point, [route.attributes["so_hieu"]]))
            elif route.attributes["so_hieu"] not in shared[1]:
                shared[1].append(route.attributes["so_hieu"])
    named = [f for f in city.named_streets if f.attributes["cap"] != "Cầu"]
    tree = shapely.STRtree([f.geom for f in named])
    nearest = tree.nearest([point for point, _ in stops])
    wards = city.ward_names([point for point, _ in stops])
    rng = seeded_rng("bus-stops")
    counters: dict[str, int] = {}
    features = []
    for number, ((point, served), street, ward) in enumerate(
        zip(stops, nearest, wards, strict=True), start=1
    ):
        street_name = named[street].attributes["ten"]
        counters[street_name] = counters.get(street_name, 0) + 1
        attributes = {
            "ma": f"BS-{number:03d}",
            "ten": f"Điểm dừng {street_name} {counters[street_name]}",
            "tuyen": ", ".join(sorted(served)),
            "co_mai_che": bool(rng.random() < 0.4),
        }
        if ward:
            attributes["phuong"] = ward
        features.append(MetricFeature(point, attributes))
    return city.lonlat(features)
