"""The real layers, read from the fixtures derived from public data (fixtures/real/SOURCES.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import shapely
from django.conf import settings
from shapely.geometry import Point, shape

from .places import HUE_FRAME
from .records import DemoFeature

REAL_DIR = Path(settings.BASE_DIR) / "fixtures" / "real"

PLACE_KINDS = {"city": "Thành phố", "town": "Thị trấn, thị tứ", "village": "Làng, thôn"}
LANDMARK_KINDS = {
    "heritage": "Di tích lịch sử - văn hóa",
    "religion": "Cơ sở tôn giáo",
    "park": "Cảnh quan - công viên",
    "market": "Chợ",
    "transport": "Công trình giao thông",
    "tourism": "Điểm du lịch",
    "health": "Y tế",
    "education": "Giáo dục",
}
HERITAGE_KINDS = {"heritage", "religion"}
RAILWAY = "Đường sắt"


def read_collection(name: str) -> list[tuple[shapely.Geometry, dict]]:
    """Return (geometry, properties) for each feature of a fixture GeoJSON file."""
    with (REAL_DIR / f"{name}.geojson").open(encoding="utf-8") as handle:
        features = json.load(handle)["features"]
    return [(shape(feature["geometry"]), _cleaned(feature["properties"])) for feature in features]


def read_landmarks() -> list[dict]:
    """Return the rows of the landmarks CSV."""
    with (REAL_DIR / "hue_landmarks.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _cleaned(properties: dict) -> dict:
    # Some source text ends in "\r\n"; nothing else is changed.
    return {k: v.strip() if isinstance(v, str) else v for k, v in properties.items()}


def _without_nulls(attributes: dict) -> dict:
    return {key: value for key, value in attributes.items() if value not in (None, "")}


def _length_m(geom: shapely.Geometry) -> int:
    return round(HUE_FRAME.to_metric(geom).length)


def _area_km2(geom: shapely.Geometry) -> float:
    return round(HUE_FRAME.to_metric(geom).area / 1e6, 2)


def province(city) -> list[DemoFeature]:
    """Return Thua Thien Hue province's boundary."""
    return [
        DemoFeature(
            geom, {"ma_tinh": p["ma_tinh"], "ten": p["ten"], "dien_tich_km2": _area_km2(geom)}
        )
        for geom, p in read_collection("tth_province")
    ]


def districts(city) -> list[DemoFeature]:
    """Return the province's nine districts (before the 2025 reforms)."""
    return [
        DemoFeature(
            geom,
            {
                "ma_huyen": p["ma_huyen"],
                "ten": p["ten"],
                "ten_tinh": p["ten_tinh"],
                "dien_tich_km2": _area_km2(geom),
            },
        )
        for geom, p in read_collection("tth_districts")
    ]


def settlements(city) -> list[DemoFeature]:
    """Return the OpenStreetMap places inside the province."""
    return [
        DemoFeature(
            geom,
            _without_nulls(
                {
                    "ten": p.get("name"),
                    "ten_en": p.get("name_en"),
                    "loai": PLACE_KINDS.get(p.get("place"), p.get("place")),
                    "osm_id": p.get("osm_id"),
                    "wikidata": p.get("wikidata"),
                }
            ),
        )
        for geom, p in read_collection("osm_places")
    ]


def _transport(*, railway: bool) -> list[DemoFeature]:
    return [
        DemoFeature(
            geom,
            {
                "ten": p["ten"],
                "ma": p["ma"],
                "loai_duong": p["loai_duong"],
                "cap_duong": p["cap_duong"],
                "chieu_dai_trong_vung_m": _length_m(geom),
                "chieu_dai_toan_tuyen_m": round(p["chieu_dai"]),
            },
        )
        for geom, p in read_collection("giao_thong_quoc_gia")
        if (p["loai_duong"] == RAILWAY) == railway
    ]


def national_roads(city) -> list[DemoFeature]:
    """Return the national and provincial roads in and near the province."""
    return _transport(railway=False)


def railways(city) -> list[DemoFeature]:
    """Return the North-South railway where it crosses the province."""
    return _transport(railway=True)


def hydropower(city) -> list[DemoFeature]:
    """Return the hydropower plants in and near the province."""
    features = []
    for geom, p in read_collection("thuy_dien"):
        # Stored as one-point MultiPoints; a plant is one point.
        point = shapely.get_geometry(geom, 0) if geom.geom_type == "MultiPoint" else geom
        attributes = {
            "ten": f"Thủy điện {p['Name']}",
            "trang_thai": p.get("Status"),
            "quy_mo": p.get("Quy_Mo"),
            "cong_suat_mw": p.get("CSuat_MW"),
            "san_luong_trieu_kwh_nam": p.get("SL_nam_TrK"),
            "loai": p.get("Loai"),
            "dung_tich_trieu_m3": p.get("Dung_Tich"),
            "luu_vuc": p.get("Luu_Vuc"),
            "xa_phuong": p.get("Xa_Phuong"),
            "huyen": p.get("Huyen"),
            "chu_dau_tu": p.get("Chu_DT"),
            "von_dau_tu_ty_vnd": p.get("Von_ti_VND"),
            "nam_khoi_cong": p.get("Khoi_Cong"),
            "nam_van_hanh": p.get("Van_hanh"),
        }
        features.append(DemoFeature(point, _without_nulls(attributes)))
    return features


def protected_areas(city) -> list[DemoFeature]:
    """Return the part of the national protected areas that lies in the region."""
    return [
        DemoFeature(
            geom,
            _without_nulls(
                {
                    "ten": p.get("Ten"),
                    "kieu_bao_ton": p.get("Kieu_BT"),
                    "cap_bao_ton": p.get("Cap_BT"),
                    "vi_tri": p.get("Vitri"),
                    "nam_de_xuat": p.get("Nam_Dexuat"),
                    "dien_tich_trong_vung_km2": _area_km2(geom),
                }
            ),
        )
        for geom, p in read_collection("khu_bao_ton")
    ]


def _landmarks(kinds: set[str]) -> list[DemoFeature]:
    return [
        DemoFeature(
            Point(float(row["lon"]), float(row["lat"])),
            {
                "ten": row["name"],
                "ten_en": row["name_en"],
                "loai": LANDMARK_KINDS.get(row["category"], row["category"]),
                "vi_tri_gan_dung": True,
            },
        )
        for row in read_landmarks()
        if row["category"] in kinds
    ]


def heritage_sites(city) -> list[DemoFeature]:
    """Return the landmarks that are monuments, tombs, temples and pagodas."""
    return _landmarks(HERITAGE_KINDS)
