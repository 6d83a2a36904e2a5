"""Ward boundaries: Voronoi cells of approximate real ward centres, cut to the real city limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shapely

from ..geometry import as_polygonal
from ..places import Places
from ..records import DemoFeature, MetricFeature

if TYPE_CHECKING:
    from ..city import City

# Sample population density (people per km²) of a fully built-up ward; `mat_do` scales it.
DENSE_WARD_PEOPLE_PER_KM2 = 16000
CITY_NAME = "Thành phố Huế"


def ward_label(name: str) -> str:
    """Return "phường Phú Hội" for "Phường Phú Hội", as it reads inside a longer name."""
    return name[:1].lower() + name[1:]


def ward_short(name: str) -> str:
    """Return "Phú Hội" for "Phường Phú Hội", but "Phường Đúc" whole: its name is one word."""
    rest = name.partition(" ")[2]
    return rest if " " in rest else name


def ward_cells(places: Places, district: shapely.Geometry) -> list[MetricFeature]:
    """Return one polygon per ward centre that lies in the district: its Voronoi cell."""
    specs = [w for w in places["wards"] if district.contains(places.point(w["center"]))]
    centres = shapely.MultiPoint([places.xy(w["center"]) for w in specs])
    frame = district.envelope.buffer(2000)
    cells = shapely.get_parts(shapely.voronoi_polygons(centres, extend_to=frame, ordered=True))
    features = []
    for number, (spec, cell) in enumerate(zip(specs, cells, strict=True), start=1):
        geom = as_polygonal(cell.intersection(district))
        if geom is None:
            continue
        area_km2 = geom.area / 1e6
        kind = spec["ten"].split()[0]
        attributes = {
            "ma": f"P{number:02d}",
            "ten": spec["ten"],
            "loai": kind,
            "don_vi_cap_tren": CITY_NAME,
            "dien_tich_km2": round(area_km2, 2),
            "dan_so": int(round(area_km2 * spec["mat_do"] * DENSE_WARD_PEOPLE_PER_KM2, -2)),
            "noi_thi": spec["noi_thi"],
        }
        features.append(MetricFeature(geom, attributes))
    return features


def wards_layer(city: City) -> list[DemoFeature]:
    """Return the ward boundaries."""
    return city.lonlat(city.wards)
