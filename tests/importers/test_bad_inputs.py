"""Bad inputs: each gives a failed job that says why in plain words, and the layer is unchanged."""

from __future__ import annotations

import io
import zipfile

import pytest
import shapely

from .conftest import errors, run, shapefile_parts, snapshot, write_layer, zip_files

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def shapefile_without_prj(tmp_path) -> bytes:
    shp = write_layer(
        tmp_path / "ranh_gioi.shp",
        [shapely.Point(556000, 1821000)],
        {"ten": ["Mốc"]},
        driver="ESRI Shapefile",
        crs=None,
    )
    parts = [p for p in shapefile_parts(shp) if p.suffix != ".prj"]
    return zip_files(tmp_path / "ranh_gioi.zip", *parts).read_bytes()


def shapefile_missing(tmp_path, suffix: str) -> bytes:
    shp = write_layer(
        tmp_path / "thieu.shp",
        [shapely.Point(107.5, 16.4)],
        {"ten": ["x"]},
        driver="ESRI Shapefile",
    )
    parts = [p for p in shapefile_parts(shp) if p.suffix != suffix]
    return zip_files(tmp_path / "thieu.zip", *parts).read_bytes()


def traversal_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("data/ok.geojson", b'{"type": "FeatureCollection", "features": []}')
        bundle.writestr("../../evil.geojson", b"{}")
    return buffer.getvalue()


def symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        link = zipfile.ZipInfo("data.geojson")
        link.external_attr = 0o120777 << 16  # a symbolic link
        bundle.writestr(link, "/etc/passwd")
    return buffer.getvalue()


CASES = {
    "corrupt zip": (
        lambda tmp: zipped(**{"a.geojson": b'{"type": "FeatureCollection"}' * 50})[:-60],
        "ranh_gioi.zip",
        "damaged or incomplete",
    ),
    "zip with ../ paths": (lambda tmp: traversal_zip(), "a.zip", "points outside the archive"),
    "zip with a link": (lambda tmp: symlink_zip(), "a.zip", "a link or a special file"),
    "Shapefile without .prj": (shapefile_without_prj, "ranh_gioi.zip", "has no .prj file"),
    "empty file": (lambda tmp: b"", "empty.geojson", "is empty (0 bytes)"),
    "PNG named .geojson": (lambda tmp: PNG, "ban_do.geojson", "is a PNG image, not map data"),
    "CSV without coordinates": (
        lambda tmp: "ten,dia_chi\nĐại Nội,Huế\n".encode(),
        "diem.csv",
        "The CSV has no coordinates",
    ),
    "GeoJSON with no features": (
        lambda tmp: b'{"type": "FeatureCollection", "features": []}',
        "a.geojson",
        "no features",
    ),
    "broken GeoJSON": (
        lambda tmp: b'{"type": "FeatureCollection", "features": [{"type": "Feat',
        "a.geojson",
        "GDAL cannot read it",
    ),
    "Shapefile without .shx": (
        lambda tmp: shapefile_missing(tmp, ".shx"),
        "a.zip",
        "GDAL cannot read it",
    ),
    "Shapefile without .dbf": (
        lambda tmp: shapefile_missing(tmp, ".dbf"),
        "a.zip",
        "has no .dbf file",
    ),
    "zip without map data": (
        lambda tmp: zipped(**{"a.pdf": b"%PDF-1.4"}),
        "a.zip",
        "no map data",
    ),
    "loose .shp": (
        lambda tmp: b"\x00\x00\x27\x0a" + b"\x00" * 96,
        "a.shp",
        "A Shapefile is several files",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_clearly_and_leaves_the_layer_unchanged(case, layer, tmp_path):
    make, name, expected = CASES[case]
    before = snapshot(layer)
    job = run(make(tmp_path), layer=layer, name=name)
    assert job.status == "failed", job.messages
    assert expected in errors(job)
    assert job.finished_at is not None
    assert snapshot(layer) == before
    assert not job.upload  # the stored upload is removed


def test_archive_bounds(layer, settings):
    settings.IMPORT_MAX_UNPACKED_BYTES = 1000
    before = snapshot(layer)
    job = run(zipped(**{"big.geojson": b" " * 5000}), layer=layer, name="big.zip")
    assert job.status == "failed"
    assert "at most" in errors(job)
    settings.IMPORT_MAX_UNPACKED_BYTES = 10**9
    settings.IMPORT_MAX_ARCHIVE_FILES = 3
    job = run(zipped(**{f"{i}.txt": b"x" for i in range(5)}), layer=layer, name="many.zip")
    assert "holds 5 files" in errors(job)
    assert snapshot(layer) == before


def test_gpkg_layer_that_does_not_exist(layer, tmp_path):
    path = write_layer(tmp_path / "a.gpkg", [shapely.Point(107.5, 16.4)], {"ten": ["x"]},
                       driver="GPKG", layer="truong")  # fmt: skip
    job = run(path, layer=layer, source_layer="benh_vien")
    assert job.status == "failed"
    assert "no layer “benh_vien”" in errors(job) and "truong" in errors(job)


def test_no_work_files_are_left_behind(layer, tmp_path, settings):
    settings.IMPORT_WORK_DIR = str(tmp_path / "work")
    (tmp_path / "work").mkdir()
    run(traversal_zip(), layer=layer, name="a.zip")
    point = b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [107.5, 16.4]}}'
    run(b'{"type": "FeatureCollection", "features": [' + point + b"]}", layer=layer, name="a.json")
    assert list((tmp_path / "work").iterdir()) == []
    assert list((settings.MEDIA_ROOT / "imports").iterdir()) == []  # uploads deleted
    assert not (tmp_path / "evil.geojson").exists()
