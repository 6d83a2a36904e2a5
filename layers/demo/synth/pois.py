"""Points of interest: real hospitals, schools and offices at approximate positions, and one
health station, school and people's committee per ward (sample data). Hotels and markets come from
OpenStreetMap now (layers/demo/osm.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shapely import affinity
from shapely.geometry import Point

from ..records import DemoFeature, MetricFeature
from . import seeded_rng
from .wards import ward_label, ward_short

if TYPE_CHECKING:
    from ..city import City

# Where each per-ward service stands from the ward's centre (metres east, north): apart, not piled.
WARD_OFFSETS_M = {
    "tram-y-te": (60, 40),
    "ubnd": (-50, 30),
    "tieu-hoc": (120, -90),
    "thcs": (-130, -110),
}
OPENING_HOURS = "07:00-11:30, 13:30-17:00"


def _placed(city: City, items: list[dict], describe) -> list[DemoFeature]:
    """Return a point for each item at its `at` position (moved off water), described."""
    points = [city.on_land(city.places.point(item["at"])) for item in items]
    wards = city.ward_names(points)
    features = []
    for item, point, ward in zip(items, points, wards, strict=True):
        attributes = describe(item)
        if ward:
            attributes["phuong"] = ward
        features.append(MetricFeature(point, attributes))
    return city.lonlat(features)


def _per_ward(city: City, kind: str) -> list[tuple[MetricFeature, Point]]:
    """Return each ward with the spot for one of its services, inside the ward and on land."""
    centres = {spec["ten"]: city.places.point(spec["center"]) for spec in city.places["wards"]}
    dx, dy = WARD_OFFSETS_M[kind]
    spots = []
    for ward in city.wards:
        spot = affinity.translate(centres[ward.attributes["ten"]], dx, dy)
        spot = city.on_land(spot)
        if not ward.geom.contains(spot):
            spot = city.on_land(ward.geom.representative_point())
        spots.append((ward, spot))
    return spots


def hospitals_layer(city: City) -> list[DemoFeature]:
    """Return the hospitals and district medical centres."""
    return _placed(
        city,
        city.places["hospitals"],
        lambda item: {
            "ten": item["ten"],
            "loai": item["loai"],
            "dia_chi": item["dia_chi"],
            "cap_quan_ly": item["cap_quan_ly"],
            "cap_cuu_24h": True,
        },
    )


def health_stations_layer(city: City) -> list[DemoFeature]:
    """Return one health station per ward."""
    rng = seeded_rng("health-stations")
    features = [
        MetricFeature(
            spot,
            {
                "ten": f"Trạm Y tế {ward_label(ward.attributes['ten'])}",
                "loai": "Trạm y tế phường, xã",
                "phuong": ward.attributes["ten"],
                "so_nhan_vien": int(rng.integers(5, 12)),
                "gio_lam_viec": OPENING_HOURS,
            },
        )
        for ward, spot in _per_ward(city, "tram-y-te")
    ]
    return city.lonlat(features)


def schools_layer(city: City) -> list[DemoFeature]:
    """Return the real high schools and a primary and a lower-secondary school per ward."""
    rng = seeded_rng("schools")
    high_schools = _placed(
        city,
        city.places["high_schools"],
        lambda item: {
            "ten": item["ten"],
            "cap_hoc": "Trung học phổ thông",
            "loai_hinh": "Công lập",
            "dia_chi": item["dia_chi"],
            "so_hoc_sinh": int(rng.integers(900, 1600)),
        },
    )
    levels = {"tieu-hoc": ("Tiểu học", 300, 800), "thcs": ("Trung học cơ sở", 400, 1000)}
    features = []
    for kind, (level, low, high) in levels.items():
        for ward, spot in _per_ward(city, kind):
            attributes = {
                "ten": f"Trường {level} {ward_short(ward.attributes['ten'])}",
                "cap_hoc": level,
                "loai_hinh": "Công lập",
                "phuong": ward.attributes["ten"],
                "so_hoc_sinh": int(rng.integers(low, high)),
            }
            features.append(MetricFeature(spot, attributes))
    return high_schools + city.lonlat(features)


def universities_layer(city: City) -> list[DemoFeature]:
    """Return the universities and academies."""
    return _placed(
        city,
        city.places["universities"],
        lambda item: {
            "ten": item["ten"],
            "loai": "Học viện" if item["ten"].startswith("Học viện") else "Đại học",
            "dia_chi": item["dia_chi"],
        },
    )


def offices_layer(city: City) -> list[DemoFeature]:
    """Return the province and city offices and each ward's people's committee."""
    offices = _placed(
        city,
        city.places["offices"],
        lambda item: {
            "ten": item["ten"],
            "loai": item["loai"],
            "dia_chi": item["dia_chi"],
            "gio_lam_viec": OPENING_HOURS,
        },
    )
    committees = [
        MetricFeature(
            spot,
            {
                "ten": f"Ủy ban nhân dân {ward_label(ward.attributes['ten'])}",
                "loai": "Cơ quan hành chính cấp xã",
                "phuong": ward.attributes["ten"],
                "gio_lam_viec": OPENING_HOURS,
            },
        )
        for ward, spot in _per_ward(city, "ubnd")
    ]
    return offices + city.lonlat(committees)
