"""Utility networks along the streets — water supply, drainage, power — and the critical sites
that feed them (sample data: no real network is shown)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.ops import nearest_points

from ..geometry import line_parts
from ..records import DemoFeature, MetricFeature
from . import seeded_rng

if TYPE_CHECKING:
    from ..city import City

WATER_COMPANY = "Công ty CP Cấp nước Thừa Thiên Huế (dữ liệu mẫu)"
POWER_COMPANY = "Công ty Điện lực Thừa Thiên Huế (dữ liệu mẫu)"
# Water mains run under one pavement, drains under the other, power cables a little further out.
MAIN_OFFSET_M, DRAIN_OFFSET_M, CABLE_OFFSET_M = 5, -5, 9
MIN_RUN_M = 15
# Not every lane has its own main; the rest are served from the street they leave.
LANES_WITH_MAINS = 0.6
PIPES = {
    "Đường chính": ("Ống phân phối chính", [300, 400, 500], "Gang dẻo"),
    "Cầu": ("Ống phân phối chính", [300, 400], "Thép"),
    "Đường nội thị": ("Ống phân phối", [160, 200, 250], "HDPE"),
    "Kiệt": ("Ống dịch vụ", [63, 90, 110], "HDPE"),
}
DRAINS = {
    "Đường chính": [("Cống hộp", "B1600xH1200"), ("Cống hộp", "B2000xH1500")],
    "Cầu": [("Cống tròn", "D600")],
    "Đường nội thị": [("Cống tròn", "D800"), ("Cống tròn", "D1000")],
    "Kiệt": [("Cống tròn", "D400"), ("Cống tròn", "D600"), ("Mương hở", "B500")],
}
DRAIN_STATES, DRAIN_STATE_ODDS = ["Tốt", "Cần nạo vét", "Xuống cấp"], [0.6, 0.3, 0.1]


def _beside(line: LineString, offset_m: float) -> list[LineString]:
    return line_parts(shapely.offset_curve(line, offset_m), MIN_RUN_M)


def _sites(city: City, kind: str) -> list[dict]:
    return [item for item in city.places["critical_sites"] if item["loai"] == kind]


def water_mains_layer(city: City) -> list[DemoFeature]:
    """Return the water mains: trunk mains from the treatment plants, then along the streets."""
    rng = seeded_rng("water-mains")
    features = []
    main_streets = shapely.union_all(
        [f.geom for f in city.named_streets if f.attributes["cap"] == "Đường chính"]
    )
    for plant in _sites(city, "Nhà máy nước"):
        start = city.places.point(plant["at"])
        trunk = LineString([start, nearest_points(main_streets, start)[0]])
        attributes = {
            "loai": "Ống truyền tải",
            "duong_kinh_mm": 800,
            "vat_lieu": "Thép",
            "nam_lap_dat": int(rng.integers(1995, 2015)),
            "tu_nha_may": plant["ten"],
        }
        features.append(MetricFeature(trunk, attributes))
    for street in city.streets:
        cap = street.attributes["cap"]
        if cap == "Kiệt" and rng.random() > LANES_WITH_MAINS:
            continue
        kind, diameters, material = PIPES[cap]
        for part in _beside(street.geom, MAIN_OFFSET_M):
            attributes = {
                "loai": kind,
                "duong_kinh_mm": int(rng.choice(diameters)),
                "vat_lieu": material,
                "nam_lap_dat": int(rng.integers(1990, 2024)),
                "tuyen_duong": street.attributes["ten"],
            }
            features.append(MetricFeature(part, attributes))
    for number, feature in enumerate(features, start=1):
        feature.attributes.update(
            {"ma_tuyen": f"CN-{number:04d}", "chieu_dai_m": round(feature.geom.length)}
        )
        feature.attributes["don_vi_quan_ly"] = WATER_COMPANY
    return city.lonlat(features)


def drainage_layer(city: City) -> list[DemoFeature]:
    """Return the drains under the streets, each with the water body it empties into."""
    rng = seeded_rng("drainage")
    water_names = [f.attributes["ten"] for f in city.water]
    water_tree = shapely.STRtree([f.geom for f in city.water])
    features = []
    for street in city.streets:
        choices = DRAINS[street.attributes["cap"]]
        for part in _beside(street.geom, DRAIN_OFFSET_M):
            kind, size = choices[int(rng.integers(len(choices)))]
            outfall = water_names[int(water_tree.nearest(shapely.get_point(part, -1)))]
            attributes = {
                "ma_tuyen": f"TN-{len(features) + 1:04d}",
                "loai": kind,
                "kich_thuoc": size,
                "chieu_dai_m": round(part.length),
                "huong_thoat": outfall,
                "tinh_trang": DRAIN_STATES[int(rng.choice(3, p=DRAIN_STATE_ODDS))],
                "nam_xay_dung": int(rng.integers(1985, 2024)),
                "tuyen_duong": street.attributes["ten"],
            }
            features.append(MetricFeature(part, attributes))
    return city.lonlat(features)


def power_lines_layer(city: City) -> list[DemoFeature]:
    """Return the 110 kV lines between substations and the 22 kV feeders along the streets."""
    rng = seeded_rng("power-lines")
    substations = _sites(city, "Trạm biến áp")
    hub = next(s for s in substations if s["cap_dien_ap_kv"] == 220)
    hub_point = city.places.point(hub["at"])
    features = []
    for substation in substations:
        if substation is hub:
            continue
        end = city.places.point(substation["at"])
        bend = shapely.Point(
            (hub_point.x + end.x) / 2 + rng.uniform(-300, 300),
            (hub_point.y + end.y) / 2 + rng.uniform(-300, 300),
        )
        attributes = {
            "ten": f"Đường dây 110kV {hub['ten'].removeprefix('Trạm biến áp ')} - "
            f"{substation['ten'].removeprefix('Trạm biến áp ')}",
            "cap_dien_ap_kv": 110,
            "loai": "Đường dây trên không",
            "nam_van_hanh": int(rng.integers(1998, 2020)),
        }
        features.append(MetricFeature(LineString([hub_point, bend, end]), attributes))
    feeders = [s for s in substations if s["cap_dien_ap_kv"] == 110]
    feeder_points = [city.places.point(s["at"]) for s in feeders]
    shapely.prepare(city.core)
    for street in city.named_streets:
        for part in _beside(street.geom, CABLE_OFFSET_M):
            middle = part.interpolate(0.5, normalized=True)
            source = feeders[int(np.argmin([middle.distance(p) for p in feeder_points]))]
            underground = city.core.contains(middle)
            attributes = {
                "ten": f"Xuất tuyến 22kV {street.attributes['ten']}",
                "cap_dien_ap_kv": 22,
                "loai": "Cáp ngầm" if underground else "Đường dây trên không",
                "nam_van_hanh": int(rng.integers(2000, 2024)),
                "tu_tram": source["ten"],
            }
            features.append(MetricFeature(part, attributes))
    for feature in features:
        feature.attributes["chieu_dai_m"] = round(feature.geom.length)
        feature.attributes["don_vi_quan_ly"] = POWER_COMPANY
    return city.lonlat(features)


def critical_sites_layer(city: City) -> list[DemoFeature]:
    """Return the substations, water plants and pumping stations."""
    features = []
    for item in city.places["critical_sites"]:
        point = city.on_land(city.places.point(item["at"]))
        attributes = {
            "ten": item["ten"],
            "loai": item["loai"],
            "don_vi_quan_ly": POWER_COMPANY if item["loai"] == "Trạm biến áp" else WATER_COMPANY,
            "muc_bao_ve": "Công trình trọng yếu - hạn chế tiếp cận",
        }
        for key in ("cap_dien_ap_kv", "cong_suat_m3_ngay"):
            if key in item:
                attributes[key] = item[key]
        features.append(MetricFeature(point, attributes))
    return city.lonlat(features)
