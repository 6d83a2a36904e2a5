"""Approximate outlines of the monuments of Huế: the Citadel, the Imperial City, the tombs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..geometry import as_polygonal
from ..records import DemoFeature, MetricFeature

if TYPE_CHECKING:
    from ..city import City

# All of these belong to the Complex of Huế Monuments, on UNESCO's list since 1993.
WORLD_HERITAGE = "Quần thể di tích Cố đô Huế (UNESCO, 1993)"


def heritage_areas_layer(city: City) -> list[DemoFeature]:
    """Return the monuments' approximate outlines."""
    features = []
    for item in city.places["heritage_areas"]:
        geom = as_polygonal(city.places.area(item).intersection(city.province))
        if geom is None:
            continue
        attributes = {
            "ten": item["ten"],
            "ten_en": item["ten_en"],
            "loai": item["loai"],
            "nam_xay_dung": item["nam_xay_dung"],
            "thuoc_quan_the": WORLD_HERITAGE,
            "dien_tich_ha": round(geom.area / 1e4, 1),
        }
        features.append(MetricFeature(geom, attributes))
    return city.lonlat(features)
