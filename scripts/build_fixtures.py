"""Derive the real demo fixtures in fixtures/real/ from the shared data sets (run by hand).

    .venv/bin/python scripts/build_fixtures.py [--data ../shared/data] [--out fixtures/real]

A user's clone has no ../shared, so the small derived files are committed. The pre-2025
boundaries, the 2025 city boundary and the landmarks are copied unchanged; the 2025 wards and
provinces are read from their GeoPackages and simplified as one coverage (shared edges stay
shared: no gaps, no overlaps) to fit the budget; the OpenStreetMap points are copied without their
empty fields; the national data sets are kept only where they fall in or near
Thua Thien Hue (the province buffered a little, and always inside the city's region box), and the
OSM places only inside the province.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import shapely
from shapely.geometry import box, mapping, shape

REPO_DIR = Path(__file__).resolve().parent.parent
# settings.CITY_REGION_BBOX; repeated here so the script runs without Django.
REGION_BBOX = (106.9, 15.9, 108.3, 16.9)
# About 5.5 km: "near" the province, so roads and plants just across the border still show.
NEAR_DEG = 0.05
# Clipped coordinates are rounded to about a centimetre; boundaries are copied untouched.
PRECISION_DIGITS = 7
MAX_FIXTURE_BYTES = 600_000
# The 2025 boundaries as one coverage, simplified (GEOS coverage simplification; the tolerance is in
# degrees, about the size of the details removed): ~20 m for the wards, ~500 m for the provinces.
WARDS_2025_TOLERANCE_DEG = 0.0002
PROVINCES_2025_TOLERANCE_DEG = 0.005
# The 2025 layers' coordinates are rounded to 1e-6° (about 0.1 m), as the source publishes them.
PRECISION_2025_DIGITS = 6

SOURCE_DIRS = (
    "vn_admin_tth_gov",
    "osm_places_hue_region",
    "hue_landmarks",
    "vn_national_open_data",
    "hue_wards_2025",
    "vn_provinces_2025",
    "hue_osm_pois",
)


def read_collection(path: Path) -> list[dict]:
    """Return the features of a GeoJSON FeatureCollection."""
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)["features"]


def write_collection(path: Path, name: str, features: list[dict]) -> None:
    """Write a FeatureCollection with one feature per line (small, readable diffs)."""
    lines = [json.dumps(feature, ensure_ascii=False, separators=(",", ":")) for feature in features]
    body = ",\n".join(lines)
    text = f'{{"type":"FeatureCollection","name":"{name}","features":[\n{body}\n]}}\n'
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    if size > MAX_FIXTURE_BYTES:
        sys.exit(f"{path} is {size} bytes, over the {MAX_FIXTURE_BYTES} byte budget")
    print(f"{path.relative_to(REPO_DIR)}: {len(features)} features, {size // 1024} KB")


def read_gpkg(path: Path) -> list[dict]:
    """Return the features of a GeoPackage's only layer as GeoJSON-like dicts (no empty fields)."""
    import pyogrio  # only this script's 2025 part needs it

    meta, _fids, geometries, columns = pyogrio.raw.read(path)
    features = []
    for index, wkb in enumerate(geometries):
        properties = {}
        for name, column in zip(meta["fields"], columns, strict=True):
            value = column[index]
            if value is None or value == "":
                continue
            properties[name] = value.item() if hasattr(value, "item") else value
        features.append({"type": "Feature", "properties": properties, "geometry": wkb})
    return features


def simplified_coverage(features: list[dict], tolerance_deg: float) -> list[dict]:
    """Return the polygons simplified together (their shared edges alike), rounded and valid."""
    geoms = shapely.from_wkb([feature["geometry"] for feature in features])
    simple = shapely.coverage_simplify(geoms, tolerance_deg, simplify_boundary=True)
    kept = []
    for feature, geom in zip(features, simple, strict=True):
        rounded = shapely.set_precision(geom, 10**-PRECISION_2025_DIGITS)
        if not rounded.is_valid or rounded.is_empty:
            raise ValueError(f"simplifying broke {feature['properties'].get('name')}")
        kept.append({**feature, "geometry": mapping(shapely.force_2d(rounded))})
    return kept


def rounded_geometry(geom: shapely.Geometry) -> dict:
    """Return the GeoJSON geometry with coordinates rounded; keep it valid."""
    rounded = shapely.set_precision(geom, 10**-PRECISION_DIGITS)
    if not rounded.is_valid or rounded.is_empty:
        raise ValueError(f"rounding broke a geometry: {shapely.is_valid_reason(rounded)}")
    return mapping(rounded)


def clipped(features: list[dict], region: shapely.Geometry) -> list[dict]:
    """Return the features that meet the region, cut to it."""
    shapely.prepare(region)
    kept = []
    for feature in features:
        geom = shape(feature["geometry"])
        if not region.intersects(geom):
            continue
        part = shapely.intersection(geom, region)
        # A line touching the edge can leave a stray point behind; keep only the geometry's kind.
        part = shapely.get_parts(part)
        part = [p for p in part if p.geom_type.removeprefix("Multi") in geom.geom_type]
        if not part:
            continue
        merged = shapely.union_all(part) if len(part) > 1 else part[0]
        kept.append({**feature, "geometry": rounded_geometry(merged)})
    return kept


def build(data_dir: Path, out_dir: Path) -> None:
    """Write every real fixture and SOURCES.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    admin = data_dir / "vn_admin_tth_gov"
    national = data_dir / "vn_national_open_data"

    province_features = read_collection(admin / "tth_province.geojson")
    write_collection(out_dir / "tth_province.geojson", "tth_province", province_features)
    write_collection(
        out_dir / "tth_districts.geojson",
        "tth_districts",
        read_collection(admin / "tth_districts.geojson"),
    )

    province = shape(province_features[0]["geometry"])
    region_box = box(*REGION_BBOX)
    near = shapely.intersection(province.buffer(NEAR_DEG), region_box)

    places = [
        feature
        for feature in read_collection(data_dir / "osm_places_hue_region" / "places.geojson")
        if province.contains(shape(feature["geometry"]))
    ]
    write_collection(out_dir / "osm_places.geojson", "osm_places", places)
    shutil.copyfile(data_dir / "hue_landmarks" / "landmarks.csv", out_dir / "hue_landmarks.csv")
    print("fixtures/real/hue_landmarks.csv: copied")

    for name in ("giao_thong_quoc_gia", "thuy_dien"):
        features = clipped(read_collection(national / f"{name}.geojson"), near)
        write_collection(out_dir / f"{name}.geojson", name, features)
    # No protected area of this data set lies in or near the province: keep what the region holds.
    protected = clipped(read_collection(national / "khu_bao_ton.geojson"), region_box)
    write_collection(out_dir / "khu_bao_ton.geojson", "khu_bao_ton", protected)

    build_2025(data_dir, out_dir)
    write_sources(data_dir, out_dir / "SOURCES.md")


def build_2025(data_dir: Path, out_dir: Path) -> None:
    """Write the fixtures of Huế after the July 2025 reform: wards, city, provinces, OSM points."""
    wards_dir = data_dir / "hue_wards_2025"
    wards = read_gpkg(wards_dir / "hue_wards_2025.gpkg")
    write_collection(
        out_dir / "hue_wards_2025.geojson",
        "hue_wards_2025",
        simplified_coverage(wards, WARDS_2025_TOLERANCE_DEG),
    )
    shutil.copyfile(
        wards_dir / "hue_city_boundary_2025.geojson", out_dir / "hue_city_boundary_2025.geojson"
    )
    print("fixtures/real/hue_city_boundary_2025.geojson: copied")
    provinces = read_gpkg(data_dir / "vn_provinces_2025" / "vn_provinces_2025.gpkg")
    write_collection(
        out_dir / "vn_provinces_2025.geojson",
        "vn_provinces_2025",
        simplified_coverage(provinces, PROVINCES_2025_TOLERANCE_DEG),
    )
    points = read_gpkg(data_dir / "hue_osm_pois" / "hue_osm_pois.gpkg")
    for point in points:
        point["geometry"] = mapping(shapely.force_2d(shapely.from_wkb(point["geometry"])))
    write_collection(out_dir / "hue_osm_pois.geojson", "hue_osm_pois", points)


def write_sources(data_dir: Path, path: Path) -> None:
    """Gather each data set's SOURCE.md, with how the fixtures were derived from it."""
    parts = [
        "# Sources of the real demo fixtures\n",
        "Derived by `scripts/build_fixtures.py` from the shared data sets below; their",
        "licences and attribution apply to the files derived from them and to the demo layers",
        "built on them.",
        "",
        "| fixture | from | derivation |",
        "|---|---|---|",
        "| `tth_province.geojson`, `tth_districts.geojson` | vn_admin_tth_gov | copied unchanged |",
        "| `osm_places.geojson` | osm_places_hue_region | the places inside the province |",
        "| `hue_landmarks.csv` | hue_landmarks | copied unchanged |",
        f"| `giao_thong_quoc_gia.geojson`, `thuy_dien.geojson` | vn_national_open_data | "
        f"clipped to the province buffered by {NEAR_DEG}° (about 5.5 km) and to the region box "
        f"{REGION_BBOX}; coordinates rounded to 1e-{PRECISION_DIGITS}° |",
        "| `khu_bao_ton.geojson` | vn_national_open_data | clipped to the region box: no protected "
        "area of the data set lies in or near the province; only the north-west tip of "
        "Cù Lao Chàm - Hội An reaches into the box |",
        "| `hue_city_boundary_2025.geojson` | hue_wards_2025 | copied unchanged |",
        f"| `hue_wards_2025.geojson` | hue_wards_2025 | read from the GeoPackage; simplified as "
        f"one coverage (shared edges alike, no gaps) with a tolerance of "
        f"{WARDS_2025_TOLERANCE_DEG}° (about 20 m); coordinates rounded to "
        f"1e-{PRECISION_2025_DIGITS}°; fields unchanged |",
        f"| `vn_provinces_2025.geojson` | vn_provinces_2025 | read from the GeoPackage; simplified "
        f"as one coverage with a tolerance of {PROVINCES_2025_TOLERANCE_DEG}° (about 500 m), for "
        f"the national view; coordinates rounded to 1e-{PRECISION_2025_DIGITS}°; "
        "fields unchanged |",
        "| `hue_osm_pois.geojson` | hue_osm_pois | read from the GeoPackage; all 2,088 points, "
        "empty fields left out |",
        "",
    ]
    for name in SOURCE_DIRS:
        text = (data_dir / name / "SOURCE.md").read_text(encoding="utf-8").strip()
        # Nest each SOURCE.md's headings (its level-1 title, any level-2 parts) two levels under
        # the data set's heading, so a "## " line always starts a data set here.
        lines = text.split("\n")
        nested = "\n".join("##" + line if line.startswith("#") else line for line in lines)
        parts += [f"## {name}\n", nested, ""]
    path.write_text("\n".join(parts), encoding="utf-8")
    print(f"{path.relative_to(REPO_DIR)}: written")


def main() -> None:
    """Parse the arguments and build the fixtures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_DIR.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "fixtures" / "real")
    arguments = parser.parse_args()
    if not arguments.data.is_dir():
        sys.exit(f"No shared data at {arguments.data}; pass --data")
    build(arguments.data, arguments.out.resolve())


if __name__ == "__main__":
    main()
