"""Rivers, the Citadel's moat, lakes and the lagoon: approximate polygons (sample data)."""

from __future__ import annotations

import shapely
from shapely import affinity
from shapely.geometry import Polygon

from ..geometry import as_polygonal
from ..places import Places
from ..records import MetricFeature

HUONG = "Sông Hương"
# The channels either side of Cồn Hến, and the moat's distance outside the Citadel wall.
ISLAND_CHANNEL_M = 110
MOAT_INNER_M, MOAT_OUTER_M = 40, 75
MIN_AREA_M2 = 200


def island(places: Places) -> Polygon:
    """Return Cồn Hến, an island in the Perfume River, as an ellipse."""
    spec = places["island"]
    x, y = places.xy(spec["center"])
    circle = shapely.Point(0, 0).buffer(1, quad_segs=16)
    ellipse = affinity.scale(circle, spec["length_m"] / 2, spec["width_m"] / 2)
    # A compass bearing turns clockwise from north; shapely rotates anticlockwise from east.
    ellipse = affinity.rotate(ellipse, 90 - spec["bearing_deg"], origin=(0, 0))
    return affinity.translate(ellipse, x, y)


def moat(places: Places) -> Polygon:
    """Return the Citadel's moat, a ring just outside its walls."""
    half = places.citadel_side_m / 2
    square = places.citadel.rect(0, half, places.citadel_side_m, places.citadel_side_m)
    return square.buffer(MOAT_OUTER_M, join_style="mitre").difference(
        square.buffer(MOAT_INNER_M, join_style="mitre")
    )


def _body(places: Places, item: dict) -> shapely.Geometry:
    if "line" in item:
        return places.line(item["line"]).buffer(item["width_m"] / 2, quad_segs=4)
    return places.area(item)


def water_bodies(places: Places, province: shapely.Geometry) -> list[MetricFeature]:
    """Return the water bodies, each minus those before it, cut to the province."""
    cay = island(places)
    features, taken = [], shapely.Polygon()
    items = [*places["water"], {"ten": "Hộ Thành Hào", "ten_en": "Citadel moat", "loai": "Hào"}]
    for item in items:
        geom = moat(places) if item["loai"] == "Hào" else _body(places, item)
        if item["ten"] == HUONG:
            geom = geom.union(cay.buffer(ISLAND_CHANNEL_M)).difference(cay)
        geom = as_polygonal(geom.intersection(province).difference(taken), MIN_AREA_M2)
        if geom is None:
            continue
        taken = taken.union(geom)
        attributes = {
            "ten": item["ten"],
            "ten_en": item["ten_en"],
            "loai": item["loai"],
            "dien_tich_ha": round(geom.area / 1e4, 1),
        }
        features.append(MetricFeature(geom, attributes))
    return features
