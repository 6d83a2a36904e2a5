"""The city benchmark's data: synthetic buildings over Huế's real 4,947 km², made once per count.

Buildings fall on the province's dry land (the demo's boundary less its water, `layers.demo.city`):
a third around the city centre, a third around the district towns, the rest in villages scattered
over the countryside, so the core is dense and the mountains nearly empty, as in the real city.
Footprints are rotated rectangles of 30-300 m² (more small than large), with floors, heights, a use
and a Vietnamese name and address. The fields are those of the demo's buildings layer (`toa-nha`),
so its style applies. Written to a GeoPackage (EPSG:4326) under var/bench/city/ and reused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write

from layers.demo import real
from layers.demo.city import City
from layers.demo.geometry import M_PER_DEG
from layers.demo.synth.buildings import STOREY_M, USES  # the demo's own, so its style applies

# The centre of the city (Đông Ba, near the Trường Tiền bridge) and the district towns (the
# centroids of the other districts, lon/lat), each a cluster of buildings.
CITY_CENTRE = (107.5905, 16.4637)
CORE_SIGMA_M, TOWN_SIGMA_M, VILLAGE_SIGMA_M = 3_500, 2_500, 350
SHARES = {"core": 0.35, "town": 0.35, "village": 0.30}
VILLAGES = 2_500
MIN_AREA_M2, MAX_AREA_M2 = 30.0, 300.0
# Floors and their odds in each setting: taller in the core, one or two storeys in the villages.
FLOORS = {
    "core": ([1, 2, 3, 4, 5, 6, 8, 10, 12], [0.12, 0.3, 0.25, 0.14, 0.08, 0.05, 0.03, 0.02, 0.01]),
    "town": ([1, 2, 3, 4, 5], [0.3, 0.4, 0.2, 0.07, 0.03]),
    "village": ([1, 2, 3], [0.6, 0.35, 0.05]),
}
USE_ODDS = {
    "core": [0.55, 0.25, 0.12, 0.05, 0.03],
    "town": [0.7, 0.15, 0.08, 0.04, 0.03],
    "village": [0.88, 0.04, 0.02, 0.03, 0.03],
}
STREETS = [
    "Lê Lợi", "Trần Hưng Đạo", "Hùng Vương", "Nguyễn Huệ", "Điện Biên Phủ", "Lý Thường Kiệt",
    "Bà Triệu", "Phan Đình Phùng", "Nguyễn Trãi", "Lê Duẩn", "Mai Thúc Loan", "Đinh Tiên Hoàng",
    "Hai Bà Trưng", "Nguyễn Sinh Cung", "Phạm Văn Đồng", "Tố Hữu", "Võ Văn Kiệt", "An Dương Vương",
    "Trường Chinh", "Nguyễn Tất Thành", "Chi Lăng", "Huỳnh Thúc Kháng", "Ngự Bình", "Kim Long",
]  # fmt: skip
HAMLETS = ["An", "Phú", "Thuận", "Hòa", "Lộc", "Vinh", "Xuân", "Mỹ", "Thanh", "Phước", "Đông"]


def say(text: str) -> None:
    print(text, flush=True)


def _points_on(land: shapely.Geometry, centres: np.ndarray, sigma_m: float, count: int, rng):
    """Return `count` points on land, each near a random centre (normal spread), in metres."""
    kept = np.empty((0, 2))
    while len(kept) < count:
        want = int((count - len(kept)) * 1.3) + 100
        picks = centres[rng.integers(0, len(centres), want)]
        xy = picks + rng.normal(0, sigma_m, (want, 2))
        kept = np.vstack([kept, xy[shapely.contains_xy(land, xy[:, 0], xy[:, 1])]])
    return kept[:count]


def _uniform_on(land: shapely.Geometry, count: int, rng) -> np.ndarray:
    min_x, min_y, max_x, max_y = land.bounds
    kept = np.empty((0, 2))
    while len(kept) < count:
        xy = rng.uniform([min_x, min_y], [max_x, max_y], (count * 3, 2))
        kept = np.vstack([kept, xy[shapely.contains_xy(land, xy[:, 0], xy[:, 1])]])
    return kept[:count]


def _footprints(xy: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Return rotated rectangles (metres, as rings) of 30-300 m² at the points, and their areas."""
    count = len(xy)
    area = np.exp(rng.uniform(np.log(MIN_AREA_M2), np.log(MAX_AREA_M2), count))
    aspect = rng.uniform(1.0, 2.5, count)
    half_w, half_d = np.sqrt(area * aspect) / 2, np.sqrt(area / aspect) / 2
    angle = rng.uniform(0, np.pi / 2, count)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    dx, dy = corners[None, :, 0] * half_w[:, None], corners[None, :, 1] * half_d[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    ring_x = xy[:, 0, None] + dx * cos - dy * sin
    ring_y = xy[:, 1, None] + dx * sin + dy * cos
    return np.stack([ring_x, ring_y], axis=-1), area


def make_buildings(path: Path, count: int, seed: int = 6) -> None:
    """Write `count` synthetic buildings over Huế's dry land to a GeoPackage at path."""
    rng = np.random.default_rng(seed)
    city = City()
    land, frame = city.dry_land, city.frame
    towns = np.array(
        [
            frame.xy(geom.centroid.x, geom.centroid.y)
            for geom, props in real.read_collection("tth_districts")
            if props["ten"] != "Thành phố Huế"
        ]
    )
    sizes = {kind: int(count * share) for kind, share in SHARES.items()}
    sizes["core"] += count - sum(sizes.values())
    villages = _uniform_on(land, VILLAGES, rng)
    centre = np.array([frame.xy(*CITY_CENTRE)])
    parts = {
        "core": _points_on(land, centre, CORE_SIGMA_M, sizes["core"], rng),
        "town": _points_on(land, towns, TOWN_SIGMA_M, sizes["town"], rng),
        "village": _points_on(land, villages, VILLAGE_SIGMA_M, sizes["village"], rng),
    }  # fmt: skip
    xy = np.vstack(list(parts.values()))
    setting = np.concatenate([np.full(len(p), kind, dtype=object) for kind, p in parts.items()])
    rings, area = _footprints(xy, rng)
    # The frame is equirectangular: metres to degrees is a scale and a shift.
    lon = rings[..., 0] / frame.m_per_deg_lon + frame.origin_lon
    lat = rings[..., 1] / M_PER_DEG + frame.origin_lat
    polygons = shapely.polygons(np.stack([lon, lat], axis=-1))

    floors = np.empty(count, dtype=np.int64)
    use = np.empty(count, dtype=object)
    use_keys = np.array(list(USES), dtype=object)
    for kind in parts:
        mask = setting == kind
        values, odds = FLOORS[kind]
        floors[mask] = rng.choice(values, mask.sum(), p=odds)
        use[mask] = rng.choice(use_keys, mask.sum(), p=USE_ODDS[kind])
    height = np.round(floors * STOREY_M + rng.uniform(0.3, 1.5, count), 1)
    ids = np.arange(1, count + 1, dtype=np.int64)
    street = np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), count)]
    hamlet = np.array(HAMLETS, dtype=object)[rng.integers(0, len(HAMLETS), count)]
    number = rng.integers(1, 400, count)
    rural = setting == "village"
    address = np.where(
        rural,
        [f"Thôn {h} {n % 12 + 1}" for h, n in zip(hamlet, number, strict=True)],
        [f"{n} {s}" for n, s in zip(number, street, strict=True)],
    )
    name = np.array([f"{USES[u]} số {i}" for u, i in zip(use, ids, strict=True)], dtype=object)
    write(
        str(path),
        shapely.to_wkb(polygons),
        [
            ids,
            name,
            use,
            np.array([USES[u] for u in use], dtype=object),
            floors,
            height,
            address.astype(object),
            np.round(area).astype(np.int64),
        ],
        ["ma", "ten", "use", "cong_nang", "floors", "height_m", "dia_chi", "dien_tich_m2"],
        driver="GPKG",
        layer="buildings",
        geometry_type="Polygon",
        crs="EPSG:4326",
    )


def buildings_file(data_dir: Path, count: int) -> Path:
    """Return the GeoPackage of `count` buildings, writing it first if it is not there."""
    path = data_dir / f"buildings-{count}.gpkg"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        say(f"Writing {count:,} buildings to {path} (once; reused by later runs)…")
        partial = path.with_suffix(".partial.gpkg")
        partial.unlink(missing_ok=True)
        make_buildings(partial, count)
        partial.rename(path)
    return path
