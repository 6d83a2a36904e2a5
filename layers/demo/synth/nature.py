"""Parks, water bodies and protected forests: approximate outlines of real places (sample data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shapely

from ..geometry import as_polygonal
from ..places import Places
from ..records import DemoFeature, MetricFeature

if TYPE_CHECKING:
    from ..city import City

MIN_PARK_M2 = 500


def _park_kind(name: str) -> str:
    return " ".join(name.split()[:2])


def parks(places: Places, water_area: shapely.Geometry) -> list[MetricFeature]:
    """Return the parks, less any water they overlap."""
    features = []
    for item in places["parks"]:
        geom = as_polygonal(places.area(item).difference(water_area), MIN_PARK_M2)
        if geom is not None:
            attributes = {"ten": item["ten"], "loai": _park_kind(item["ten"])}
            features.append(MetricFeature(geom, attributes))
    return features


def parks_layer(city: City) -> list[DemoFeature]:
    """Return the parks with their area and ward."""
    wards = city.ward_names([f.geom.representative_point() for f in city.parks])
    features = [
        MetricFeature(f.geom, {**f.attributes, "dien_tich_m2": round(f.geom.area), "phuong": ward})
        for f, ward in zip(city.parks, wards, strict=True)
    ]
    return city.lonlat(features)


def water_layer(city: City) -> list[DemoFeature]:
    """Return the rivers, moat, lakes and lagoon."""
    return city.lonlat(city.water)


def protected_forests_layer(city: City) -> list[DemoFeature]:
    """Return rough outlines of the province's national park and nature reserves."""
    features = []
    for item in city.places["protected_areas"]:
        geom = as_polygonal(city.places.area(item).intersection(city.province))
        if geom is None:
            continue
        attributes = {
            "ten": item["ten"],
            "loai": item["loai"],
            "nam_thanh_lap": item["nam_thanh_lap"],
            "dien_tich_km2": round(geom.area / 1e6, 1),
        }
        features.append(MetricFeature(geom, attributes))
    return city.lonlat(features)
