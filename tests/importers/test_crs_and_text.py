"""Coordinate systems (VN-2000 among them) and text encodings (CP1258, Latin-1, declared, chosen)"""

from __future__ import annotations

import struct
import unicodedata

import pytest
import shapely
from django.contrib.gis.gdal import AxisOrder, CoordTransform, OGRGeometry, SpatialReference

from layers.models import Feature

from .conftest import run, shapefile_parts, warnings, write_layer, zip_files

pytestmark = pytest.mark.django_db

# Points in VN-2000 / TM-3 107-00 (EPSG:9214), Thua Thien Hue's own grid: easting, northing (m).
TM3_POINTS = [(556000.0, 1821000.0), (562500.5, 1815250.25), (549000.0, 1830000.0)]


def proj_says(x: float, y: float, srid: int) -> tuple[float, float]:
    """Return where PROJ (through GDAL) puts a point of this CRS in WGS 84 longitude/latitude."""
    source = SpatialReference(srid, axis_order=AxisOrder.TRADITIONAL)
    target = SpatialReference(4326, axis_order=AxisOrder.TRADITIONAL)
    point = OGRGeometry(f"POINT ({x} {y})", source)
    point.transform(CoordTransform(source, target))
    return point.x, point.y


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the distance between two lon/lat points in metres (equirectangular, fine at 1 km)."""
    import math

    dx = math.radians(a[0] - b[0]) * math.cos(math.radians(a[1])) * 6371000
    dy = math.radians(a[1] - b[1]) * 6371000
    return math.hypot(dx, dy)


def stored_points(layer) -> list[tuple[float, float]]:
    return [(f.geom.x, f.geom.y) for f in Feature.objects.filter(layer=layer).order_by("id")]


def vn2000_shapefile(tmp_path, *, with_prj: bool = True):
    shp = write_layer(
        tmp_path / "moc_toa_do.shp",
        [shapely.Point(x, y) for x, y in TM3_POINTS],
        {"ten": ["Mốc 1", "Mốc 2", "Mốc 3"]},
        driver="ESRI Shapefile",
        crs="EPSG:9214",
    )
    parts = [p for p in shapefile_parts(shp) if with_prj or p.suffix != ".prj"]
    return zip_files(tmp_path / "moc_toa_do.zip", *parts)


def test_vn2000_tm3_points_land_where_proj_says(layer, tmp_path):
    job = run(vn2000_shapefile(tmp_path), layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["srid"] == 9214
    for stored, (x, y) in zip(stored_points(layer), TM3_POINTS, strict=True):
        assert metres_apart(stored, proj_says(x, y, 9214)) < 1.0
    assert not warnings(job)  # in the city's region


def test_missing_prj_is_fine_once_the_uploader_gives_the_epsg_code(layer, tmp_path):
    job = run(vn2000_shapefile(tmp_path, with_prj=False), layer=layer, srid="9214")
    assert job.status == "succeeded", job.messages
    for stored, (x, y) in zip(stored_points(layer), TM3_POINTS, strict=True):
        assert metres_apart(stored, proj_says(x, y, 9214)) < 1.0


def test_vn2000_geographic_csv_with_srid(layer):
    text = "ten,kinh_do,vi_do\nĐại Nội,107.5786,16.4698\n"
    job = run(text.encode(), layer=layer, name="vn2000.csv", srid="EPSG:4756")
    assert job.status == "succeeded", job.messages
    assert metres_apart(stored_points(layer)[0], proj_says(107.5786, 16.4698, 4756)) < 1.0


def test_data_far_from_the_city_is_imported_with_a_warning(layer, data):
    files = sorted(data.glob("two_states_mercator.*"))
    job = run(zip_files(data / "states.zip", *files), layer=layer)
    assert job.status == "succeeded", job.messages
    assert "The data lands around" in warnings(job)
    assert "check the CRS" in warnings(job)


def test_projected_coordinates_without_a_crs_fail_clearly(layer):
    text = "ten,x,y\nMốc 1,556000,1821000\n"
    job = run(text.encode(), layer=layer, name="moc.csv")
    assert job.status == "failed"
    assert "not longitude/latitude" in job.messages[-1]["message"]


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def to_cp1258(text: str) -> bytes:
    """Encode as CP1258 does: letters with ^, ˘, ' precomposed, the five tone marks combining."""
    out = b""
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
            out += base.encode("cp1258") + "".join(c for c in parts if c in TONE_MARKS).encode(
                "cp1258"
            )
    return out


def cp1258_dbf(path, values: list[str], field: str = "TEN") -> None:
    """Write a DBF of one text field with values encoded in CP1258 (tone marks combining)."""
    encoded = [to_cp1258(v) for v in values]
    width = max(len(v) for v in encoded)
    header = struct.pack("<BBBBIHH20x", 3, 126, 1, 1, len(values), 32 + 32 + 1, 1 + width)
    descriptor = struct.pack("<11sc4xBB14x", field.encode(), b"C", width, 0)
    records = b"".join(b" " + v.ljust(width, b" ") for v in encoded)
    path.write_bytes(header + descriptor + b"\r" + records + b"\x1a")


def cp1258_shapefile(tmp_path, values, *, cpg: str | None = None):
    shp = write_layer(
        tmp_path / "dia_danh.shp",
        [shapely.Point(107.58 + i / 100, 16.46) for i in range(len(values))],
        {"TEN": ["x"] * len(values)},
        driver="ESRI Shapefile",
    )
    cp1258_dbf(shp.with_suffix(".dbf"), values)
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    if cpg:
        shp.with_suffix(".cpg").write_text(cpg)
    return zip_files(tmp_path / "dia_danh.zip", *shapefile_parts(shp))


VIETNAMESE = ["Đại Nội", "Huế", "Chùa Thiên Mụ", "Lăng Tự Đức", "Cầu Trường Tiền", "Phường Đông Ba"]


def test_cp1258_shapefile_without_cpg_is_detected(layer, tmp_path):
    job = run(cp1258_shapefile(tmp_path, VIETNAMESE), layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["encoding"] == "cp1258"
    stored = [f.attributes["ten"] for f in Feature.objects.filter(layer=layer).order_by("id")]
    assert stored == VIETNAMESE  # NFC, last letters kept
    assert Feature.objects.filter(layer=layer, search_text="dai noi").exists()


def test_cp1258_declared_by_cpg(layer, tmp_path):
    job = run(cp1258_shapefile(tmp_path, VIETNAMESE, cpg="1258"), layer=layer)
    assert job.status == "succeeded", job.messages
    assert [f.name for f in Feature.objects.filter(layer=layer).order_by("id")] == VIETNAMESE


def test_encoding_chosen_by_the_uploader_wins(layer, tmp_path):
    # A wrong .cpg: the officer sees broken letters and imports again, choosing CP1258.
    job = run(cp1258_shapefile(tmp_path, VIETNAMESE, cpg="UTF-8"), layer=layer, encoding="cp1258")
    assert job.status == "succeeded", job.messages
    assert [f.name for f in Feature.objects.filter(layer=layer).order_by("id")] == VIETNAMESE


def test_latin1_shapefile_without_cpg(layer, data):
    files = sorted(data.glob("latin1-property.*"))
    job = run(zip_files(data / "latin1.zip", *files), layer=layer)
    assert job.status == "succeeded", job.messages
    assert Feature.objects.get(layer=layer).attributes["name"] == "México"


def test_codepage_declared_by_cpg(layer, data):
    job = run(data / "codepage.zip", layer=layer)
    assert job.status == "succeeded", job.messages
    values = [f.attributes["field"] for f in Feature.objects.filter(layer=layer)]
    assert "Hněvošický háj" in values


def test_cp1258_csv(layer):
    text = "ten,kinh_do,vi_do\n" + "".join(f"{v},107.58,16.46\n" for v in VIETNAMESE)
    job = run(to_cp1258(text), layer=layer, name="a.csv")
    assert job.status == "succeeded", job.messages
    assert [f.name for f in Feature.objects.filter(layer=layer).order_by("id")] == VIETNAMESE


# VN-2000 / TM-3 107-45 (Đà Nẵng's zone), which has no EPSG code: its .prj names none.
DA_NANG_TM3 = (
    "+proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
    "+towgs84=-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,-0.00427372,"
    "0.252906278 +units=m +no_defs"
)


def test_a_prj_without_epsg_code_gets_a_private_srid(layer, tmp_path):
    from django.db import connection

    shp = write_layer(
        tmp_path / "da_nang.shp",
        [shapely.Point(x, y) for x, y in TM3_POINTS],
        {"ten": ["A", "B", "C"]},
        driver="ESRI Shapefile",
        crs=DA_NANG_TM3,
    )
    job = run(zip_files(tmp_path / "da_nang.zip", *shapefile_parts(shp)), layer=layer)
    assert job.status == "succeeded", job.messages
    srid = job.report["source"]["srid"]
    assert srid >= 910000
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_name FROM spatial_ref_sys WHERE srid = %s", [srid])
        assert cursor.fetchone() == (None,)
    source = SpatialReference(shp.with_suffix(".prj").read_text(), axis_order=AxisOrder.TRADITIONAL)
    target = SpatialReference(4326, axis_order=AxisOrder.TRADITIONAL)
    for stored, (x, y) in zip(stored_points(layer), TM3_POINTS, strict=True):
        point = OGRGeometry(f"POINT ({x} {y})", source)
        point.transform(CoordTransform(source, target))
        assert metres_apart(stored, (point.x, point.y)) < 1.0

    # The same CRS again reuses its SRID.
    again = run(zip_files(tmp_path / "again.zip", *shapefile_parts(shp)), layer=layer)
    assert again.report["source"]["srid"] == srid
