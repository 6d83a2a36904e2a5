"""Land-use zoning, investment parcels and industrial parks (sample data around real places)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import shapely

from ..geometry import as_polygonal, polygon_parts
from ..records import DemoFeature, MetricFeature
from . import seeded_rng
from .wards import ward_label

if TYPE_CHECKING:
    from ..city import City


@dataclass(frozen=True)
class Zone:
    """A land-use class of Vietnamese planning (its code and name) and its building rules."""

    name: str
    max_coverage_pct: int
    max_floors: int
    max_floor_area_ratio: float


ZONES = {
    "ODT": Zone("Đất ở tại đô thị", 80, 7, 4.0),
    "ONT": Zone("Đất ở tại nông thôn", 60, 3, 1.5),
    "TMD": Zone("Đất thương mại, dịch vụ", 60, 15, 6.0),
    "DDT": Zone("Đất có di tích lịch sử - văn hóa", 20, 2, 0.4),
    "DKV": Zone("Đất khu vui chơi, giải trí công cộng", 5, 1, 0.1),
    "SON": Zone("Đất sông, ngòi, kênh, rạch, suối", 0, 0, 0.0),
    "MNC": Zone("Đất có mặt nước chuyên dùng", 0, 0, 0.0),
    "CLN": Zone("Đất trồng cây lâu năm", 10, 2, 0.2),
    "NTD": Zone("Đất làm nghĩa trang, nhà tang lễ", 5, 1, 0.1),
    "RSX": Zone("Đất rừng sản xuất", 0, 0, 0.0),
    "DGD": Zone("Đất xây dựng cơ sở giáo dục và đào tạo", 40, 5, 2.0),
    "DYT": Zone("Đất xây dựng cơ sở y tế", 40, 9, 3.0),
    "SKC": Zone("Đất cơ sở sản xuất phi nông nghiệp", 60, 3, 1.8),
    "DGT": Zone("Đất giao thông", 0, 0, 0.0),
}
MIN_ZONE_M2 = 2000
MIN_PARCEL_M2 = 1500
# How deep the commercial strips along main streets reach into their blocks.
COMMERCIAL_STRIP_M = 50
STREET_SETBACK_M = 3
PARCEL_STATUSES = ["Đang kêu gọi đầu tư", "Đang lựa chọn nhà đầu tư", "Đã có nhà đầu tư"]
PARCEL_PROCEDURES = ["Đấu giá quyền sử dụng đất", "Đấu thầu lựa chọn nhà đầu tư"]
# Sample land prices in million VND per m², by zoning, before a random spread.
BASE_PRICE_MVND_M2 = {"TMD": 38, "ODT": 26, "DYT": 18, "DGD": 15, "DKV": 12, "SKC": 8, "DGT": 20}
CONTACT = "Trung tâm Xúc tiến Đầu tư và Hỗ trợ doanh nghiệp (thông tin mẫu)"
CONTACT_EMAIL = "dautu@example.org"


def _zone_attributes(code: str) -> dict:
    zone = ZONES[code]
    return {
        "ma_quy_hoach": code,
        "ten_quy_hoach": zone.name,
        "mat_do_xay_dung_toi_da_pct": zone.max_coverage_pct,
        "tang_cao_toi_da": zone.max_floors,
        "he_so_su_dung_dat": zone.max_floor_area_ratio,
    }


def _street_area(city: City, *, main_only: bool = False) -> shapely.Geometry:
    streets = [
        f.geom.buffer(f.attributes["be_rong_m"] / 2 + STREET_SETBACK_M)
        for f in city.named_streets
        if not main_only or f.attributes["cap"] == "Đường chính"
    ]
    return shapely.union_all(streets)


def investment_sites(city: City) -> list[MetricFeature]:
    """Return the parcels offered to investors: on land, clear of main streets and parks."""
    rng = seeded_rng("investment")
    blocked = shapely.union_all(
        [city.water_area.buffer(10), city.imperial_city, city.park_area, _street_area(city)]
    )
    features = []
    for item in city.places["investment_sites"]:
        free = city.places.area(item).intersection(city.district).difference(blocked)
        parts = polygon_parts(free, MIN_PARCEL_M2)
        if not parts:
            continue
        geom = max(parts, key=lambda p: p.area)
        code = item["ma_quy_hoach"]
        # The ward of today (since the 2025 reform), as an investor reads an address.
        ward = city.ward_names_2025([geom.representative_point()])[0]
        price = BASE_PRICE_MVND_M2[code] * float(rng.uniform(0.7, 1.3))
        attributes = {
            "ma_lo": f"HUE-ĐT-{len(features) + 1:02d}",
            "ten": f"{item['ten']}, {ward_label(ward)}" if ward else item["ten"],
            "muc_dich": item["muc_dich"],
            **_zone_attributes(code),
            "dien_tich_m2": round(geom.area),
            "phuong": ward,
            "trang_thai": PARCEL_STATUSES[int(rng.choice(3, p=[0.6, 0.25, 0.15]))],
            "hinh_thuc_lua_chon": PARCEL_PROCEDURES[int(rng.integers(2))],
            "gia_khoi_diem_trieu_vnd_m2": round(price, 1),
            "tong_von_du_kien_ty_vnd": round(geom.area * price * float(rng.uniform(2, 4)) / 1000),
            "thoi_han_su_dung_nam": 50,
            "han_nop_ho_so": f"2026-{int(rng.integers(3, 13)):02d}-{int(rng.integers(1, 29)):02d}",
            "lien_he": CONTACT,
            "email": CONTACT_EMAIL,
        }
        features.append(MetricFeature(geom, attributes))
    return features


def investment_layer(city: City) -> list[DemoFeature]:
    """Return the investment parcels."""
    return city.lonlat(city.investment_sites)


def _zones(city: City) -> list[tuple[str, str, shapely.Geometry]]:
    """Return (code, name, area) for each zone in the order they claim land."""
    zones = [("DDT", "Khu bảo tồn Kinh thành Huế", city.citadel_area)]
    for f in city.water:
        code = "MNC" if f.attributes["loai"] in ("Hồ", "Hào") else "SON"
        zones.append((code, f.attributes["ten"], f.geom))
    zones += [("DKV", f.attributes["ten"], f.geom) for f in city.parks]
    zones += [("TMD", f.attributes["ten"], f.geom) for f in city.investment_sites]
    for f in city.named_streets:
        if f.attributes["cap"] == "Đường chính":
            strip = f.geom.buffer(f.attributes["be_rong_m"] / 2 + COMMERCIAL_STRIP_M)
            zones.append(("TMD", f"Dải thương mại dịch vụ {f.attributes['ten']}", strip))
    for ward, spec in zip(city.wards, _ward_specs(city), strict=True):
        code = spec["quy_hoach"]
        place = ward_label(ward.attributes["ten"])
        zones.append((code, f"Khu {ZONES[code].name.lower()} {place}", ward.geom))
    return zones


def _ward_specs(city: City) -> list[dict]:
    by_name = {spec["ten"]: spec for spec in city.places["wards"]}
    return [by_name[f.attributes["ten"]] for f in city.wards]


def land_use_layer(city: City) -> list[DemoFeature]:
    """Return the zoning plan: each zone on the city land not claimed by one before it."""
    taken = shapely.Polygon()
    features = []
    for code, name, area in _zones(city):
        geom = as_polygonal(area.intersection(city.district).difference(taken), MIN_ZONE_M2)
        if geom is None:
            continue
        taken = taken.union(geom)
        attributes = {
            "ma_khu": f"{code}-{len(features) + 1:03d}",
            "ten": name,
            **_zone_attributes(code),
            "dien_tich_ha": round(geom.area / 1e4, 2),
        }
        features.append(MetricFeature(geom, attributes))
    return city.lonlat(features)


def industrial_parks_layer(city: City) -> list[DemoFeature]:
    """Return rough outlines of the province's industrial parks."""
    rng = seeded_rng("industrial-parks")
    features = []
    for item in city.places["industrial_zones"]:
        area = city.places.area(item).intersection(city.province).difference(city.water_area)
        geom = as_polygonal(area, MIN_ZONE_M2)
        if geom is None:
            continue
        attributes = {
            "ten": item["ten"],
            "dien_tich_ha": round(geom.area / 1e4),
            "ty_le_lap_day_pct": int(rng.integers(35, 95)),
            "trang_thai": "Đang hoạt động",
            **_zone_attributes("SKC"),
            "lien_he": CONTACT,
        }
        features.append(MetricFeature(geom, attributes))
    return city.lonlat(features)
