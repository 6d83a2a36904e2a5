"""Huế's points of interest from OpenStreetMap (hue_osm_pois: 2,088 nodes, © OpenStreetMap
contributors, ODbL), one demo layer per kind of place.

Each point belongs to exactly one layer: the first kind whose tags it carries (`KINDS`, in order);
the points of no listed kind make the layer of other amenities, so all 2,088 are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from .real import read_collection
from .records import DemoFeature

OSM_FIXTURE = "hue_osm_pois"
OSM_KEYS = ("tourism", "amenity", "shop", "man_made")
OTHER = "other"


@dataclass(frozen=True)
class Kind:
    """A kind of place: the OSM tags (key, values) that make a point one."""

    name: str
    tags: tuple[tuple[str, frozenset[str]], ...]

    def holds(self, properties: dict) -> bool:
        return any(properties.get(key) in values for key, values in self.tags)


# In order: a point is the first kind it matches.
KINDS = (
    Kind(
        "hotels",
        (("tourism", frozenset({"hotel", "guest_house", "hostel", "motel", "apartment"})),),
    ),
    Kind(
        "sights",
        (("tourism", frozenset({"attraction", "viewpoint", "museum", "gallery", "artwork"})),),
    ),
    Kind("worship", (("amenity", frozenset({"place_of_worship"})),)),
    Kind("markets", (("amenity", frozenset({"marketplace"})),)),
    Kind(
        "food",
        (
            (
                "amenity",
                frozenset(
                    {"restaurant", "cafe", "fast_food", "bar", "pub", "ice_cream", "biergarten"}
                ),
            ),
        ),
    ),
    Kind("fuel", (("amenity", frozenset({"fuel"})), ("shop", frozenset({"fuel"})))),
    Kind("atm", (("amenity", frozenset({"atm", "bank"})),)),
)

# What a tag value is called on the map (Vietnamese, as the other layers' values are).
TAG_LABELS = {
    "hotel": "Khách sạn",
    "guest_house": "Nhà nghỉ",
    "hostel": "Nhà trọ (hostel)",
    "motel": "Nhà nghỉ (motel)",
    "apartment": "Căn hộ du lịch",
    "attraction": "Điểm tham quan",
    "viewpoint": "Điểm ngắm cảnh",
    "museum": "Bảo tàng",
    "gallery": "Phòng tranh",
    "artwork": "Tác phẩm nghệ thuật",
    "place_of_worship": "Cơ sở tôn giáo",
    "marketplace": "Chợ",
    "restaurant": "Nhà hàng",
    "cafe": "Quán cà phê",
    "fast_food": "Quán ăn nhanh",
    "bar": "Quán bar",
    "pub": "Quán rượu (pub)",
    "ice_cream": "Quán kem",
    "biergarten": "Quán bia",
    "fuel": "Cây xăng",
    "atm": "ATM",
    "bank": "Ngân hàng",
    "toilets": "Nhà vệ sinh công cộng",
    "pharmacy": "Nhà thuốc",
    "school": "Trường học",
    "hospital": "Bệnh viện",
    "clinic": "Phòng khám",
    "doctors": "Phòng khám",
    "post_office": "Bưu điện",
    "bus_station": "Bến xe",
    "ferry_terminal": "Bến đò, bến phà",
    "police": "Công an",
    "townhall": "Trụ sở UBND",
    "information": "Thông tin du lịch",
    "convenience": "Cửa hàng tiện lợi",
    "supermarket": "Siêu thị",
}


def kind_of(properties: dict) -> str:
    """Return the name of the kind a point is, or OTHER."""
    for kind in KINDS:
        if kind.holds(properties):
            return kind.name
    return OTHER


def osm_tag(properties: dict) -> str:
    """Return the point's main tag as OSM writes it ("amenity=cafe"), or ""."""
    for key in OSM_KEYS:
        if value := properties.get(key):
            return f"{key}={value}"
    return ""


def _address(p: dict) -> str | None:
    if p.get("addr_full"):
        return p["addr_full"]
    parts = [p.get("addr_housenumber"), p.get("addr_street"), p.get("addr_city")]
    return " ".join(part for part in parts[:2] if part) or p.get("addr_city")


def _attributes(p: dict) -> dict:
    tag = osm_tag(p)
    value = tag.partition("=")[2]
    attributes = {
        "ten": p.get("name") or p.get("name_vi") or p.get("name_en"),
        "ten_en": p.get("name_en"),
        "loai": TAG_LABELS.get(value, value.replace("_", " ")) or None,
        "the_osm": tag or None,
        "gio_mo_cua": p.get("opening_hours"),
        "so_giuong": p.get("beds"),
        "so_phong": p.get("rooms"),
        "dia_chi": _address(p),
        "phuong": p.get("ward_name"),
        "osm_id": f"{p['osm_type'].removesuffix('s')}/{p['osm_id']}",
    }
    return {key: value for key, value in attributes.items() if value not in (None, "")}


def osm_points(kind: str) -> list[DemoFeature]:
    """Return the OSM points of one kind (a `Kind.name`, or OTHER)."""
    return [
        DemoFeature(geom, _attributes(p))
        for geom, p in read_collection(OSM_FIXTURE)
        if kind_of(p) == kind
    ]


def hotels(city) -> list[DemoFeature]:
    """Return the hotels, guest houses, hostels, motels and holiday flats."""
    return osm_points("hotels")


def sights(city) -> list[DemoFeature]:
    """Return the attractions, viewpoints, museums, galleries and artworks."""
    return osm_points("sights")


def worship(city) -> list[DemoFeature]:
    """Return the pagodas, temples, churches and other places of worship."""
    return osm_points("worship")


def markets(city) -> list[DemoFeature]:
    """Return the marketplaces."""
    return osm_points("markets")


def food(city) -> list[DemoFeature]:
    """Return the restaurants, cafés, fast food, bars and pubs."""
    return osm_points("food")


def fuel(city) -> list[DemoFeature]:
    """Return the fuel stations."""
    return osm_points("fuel")


def atms(city) -> list[DemoFeature]:
    """Return the ATMs and banks."""
    return osm_points("atm")


def other(city) -> list[DemoFeature]:
    """Return the points of every other kind: shops, toilets, pharmacies, schools…"""
    return osm_points(OTHER)
