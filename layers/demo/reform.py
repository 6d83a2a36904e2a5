"""Huế after the July 2025 reform: its 40 wards and communes, the city, the 34 provinces.

Read from the fixtures derived from hue_wards_2025 and vn_provinces_2025 (fixtures/real/SOURCES.md).
Each unit keeps what the source says it was formed from (`before_merger`, as a list of names), and
each ward gains the pre-2025 districts it lies in (`huyen_cu`, from an overlay with the districts
fixture: an approximation, as its label says), so a search by a former ward's or district's name
finds the unit it became.
"""

from __future__ import annotations

import re

import shapely

from .places import HUE_FRAME
from .real import read_collection
from .records import DemoFeature

# A pre-2025 district counts as a ward's former district when this share of the ward lies in it:
# the two sources draw the common edges differently (the districts fixture still draws Huế's old
# city before its 2021 extension, and the lagoon its own way), so slivers and strips must not count.
FORMER_DISTRICT_SHARE = 0.2
NOT_MERGED = "không sáp nhập"
# "tỉnh Hà Nam, tỉnh Nam Định và tỉnh Ninh Bình": the names are split at commas and "và".
NAME_SEPARATORS = re.compile(r",\s*|\s+và\s+")
UNIT_TYPES = {"phường": "Phường", "xã": "Xã"}


def merged_from(text: str | None) -> list[str]:
    """Return the former units a merger list names, or [] for a unit that was not merged."""
    text = (text or "").strip()
    if not text or text.lower() == NOT_MERGED:
        return []
    return [name for name in NAME_SEPARATORS.split(text) if name]


def _merger(text: str | None) -> dict:
    former = merged_from(text)
    return {"sap_nhap": bool(former), **({"before_merger": former} if former else {})}


def former_districts(geom: shapely.Geometry, districts: list[tuple]) -> list[str]:
    """Return the pre-2025 districts that hold a real share of this ward, largest share first."""
    ward = HUE_FRAME.to_metric(geom)
    shares = []
    for district, name in districts:
        share = ward.intersection(district).area / ward.area
        if share >= FORMER_DISTRICT_SHARE:
            shares.append((share, name))
    return [name for _share, name in sorted(shares, reverse=True)]


def wards_2025(city) -> list[DemoFeature]:
    """Return the 40 wards and communes of Thành phố Huế from 1 July 2025."""
    districts = [
        (HUE_FRAME.to_metric(geom), properties["ten"])
        for geom, properties in read_collection("tth_districts")
    ]
    features = []
    for geom, p in read_collection("hue_wards_2025"):
        attributes = {
            "ma": p["code"],
            "ten": p["fullName"],
            "ten_en": p["fullNameEn"],
            "loai": UNIT_TYPES.get(p["unit_type"], p["unit_type"]),
            "dan_so": p["population"],
            "dien_tich_km2": p["areaKm2"],
            "mat_do_dan_so": p["density_per_km2"],
            "tru_so": p["admin_center"],
            **_merger(p.get("before_merger")),
            "huyen_cu": former_districts(geom, districts),
        }
        features.append(DemoFeature(geom, attributes))
    return features


def city_boundary_2025(city) -> list[DemoFeature]:
    """Return the boundary of Thành phố Huế, a centrally governed city, from 1 July 2025."""
    return [
        DemoFeature(
            geom,
            {
                "ma": p["code"],
                "ten": p["fullName"],
                "ten_en": p["fullNameEn"],
                "dan_so": p["population"],
                "dien_tich_km2": p["areaKm2"],
                "don_vi_hanh_chinh": p["admin_units"].strip(),
            },
        )
        for geom, p in read_collection("hue_city_boundary_2025")
    ]


def provinces_2025(city) -> list[DemoFeature]:
    """Return Vietnam's 34 provincial-level units from 1 July 2025."""
    return [
        DemoFeature(
            geom,
            {
                "ma": p["code"],
                "ten": p["fullName"],
                "ten_en": p["fullNameEn"],
                "dan_so": p["population"],
                "dien_tich_km2": p["areaKm2"],
                "trung_tam_hanh_chinh": p["admin_center"].strip(),
                "don_vi_hanh_chinh": p["admin_units"].strip(),
                **_merger(p.get("before_merger")),
            },
        )
        for geom, p in read_collection("vn_provinces_2025")
    ]
