"""Exports (GeoJSON, CSV, GeoPackage, zipped Shapefile) read back with GDAL: same features, same
Vietnamese text; bbox and filters narrow them."""

import json
import subprocess
import zipfile

import pytest
from django.test import TestCase

from tests.api.conftest import HUE_PLACES

pytestmark = pytest.mark.django_db


def download(api, url, tmp_path, **params):
    """Download an export; one made by a worker (303 to its file) is followed, as curl -L does."""
    client = api()
    # The job's task is sent once the request's transaction commits, and runs in-process.
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.get(url, params)
    if response.status_code == 303:
        response = client.get(response["Location"])
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content) if response.streaming else response.content
    filename = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    path = tmp_path / filename
    path.write_bytes(content)
    return response, path


def read_with_gdal(source: str, *layers: str) -> list[dict]:
    """Return the features GDAL reads from a file (all its layers, or those named)."""
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", source, *layers],
        check=True,
        capture_output=True,
    )
    return json.loads(result.stdout)["features"]


def place_names(features):
    return sorted(f["properties"]["ten"] for f in features)


ALL_NAMES = sorted(place[0] for place in HUE_PLACES)


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg", "shp.zip"])
def test_an_export_reads_back_the_same_features_and_text(api, hue_places, tmp_path, fmt):
    _, path = download(api, f"/api/v1/layers/{hue_places.slug}/export.{fmt}", tmp_path)
    assert path.name == f"{hue_places.slug}.{fmt}"
    source = f"/vsizip/{path}" if fmt == "shp.zip" else str(path)
    features = read_with_gdal(source)
    assert place_names(features) == ALL_NAMES
    by_name = {f["properties"]["ten"]: f for f in features}
    hospital = by_name["Bệnh viện Trung ương Huế"]
    assert hospital["geometry"]["type"] == "Point"
    assert hospital["geometry"]["coordinates"] == pytest.approx([107.5885, 16.4620])
    assert hospital["properties"]["loai"] == "bệnh viện"
    floors = hospital["properties"]["so_tang"]
    assert int(floors) == 9
    assert float(hospital["properties"]["dien_tich"]) == 120000.5


def test_a_shapefile_carries_prj_and_cpg(api, hue_places, tmp_path):
    response, path = download(api, f"/api/v1/layers/{hue_places.slug}/export.shp.zip", tmp_path)
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        assert names == [f"{hue_places.slug}.{ext}" for ext in ("cpg", "dbf", "prj", "shp", "shx")]
        assert archive.read(f"{hue_places.slug}.cpg").decode().strip() == "UTF-8"
        assert "WGS" in archive.read(f"{hue_places.slug}.prj").decode()
        # The text in the table is UTF-8, not a legacy code page.
        assert "Đại Nội".encode() in archive.read(f"{hue_places.slug}.dbf")


def test_a_mixed_layer_gives_a_shapefile_per_kind(api, river_and_citadel, tmp_path):
    _, path = download(api, f"/api/v1/layers/{river_and_citadel.slug}/export.shp.zip", tmp_path)
    slug = river_and_citadel.slug
    with zipfile.ZipFile(path) as archive:
        assert {name.rsplit(".", 1)[0] for name in archive.namelist()} == {
            f"{slug}_lines", f"{slug}_polygons"
        }  # fmt: skip
    lines = read_with_gdal(f"/vsizip/{path}/{slug}_lines.shp")
    polygons = read_with_gdal(f"/vsizip/{path}/{slug}_polygons.shp")
    assert [f["properties"]["ten"] for f in lines] == ["Sông Hương"]
    assert [f["properties"]["ten"] for f in polygons] == ["Kinh thành Huế"]
    assert polygons[0]["geometry"]["type"] == "Polygon"


def test_a_geopackage_keeps_field_types(api, hue_places, tmp_path):
    _, path = download(api, f"/api/v1/layers/{hue_places.slug}/export.gpkg", tmp_path)
    info = subprocess.run(
        ["ogrinfo", "-so", str(path), hue_places.slug], check=True, capture_output=True, text=True
    ).stdout
    assert "Feature Count: 8" in info
    assert "so_tang: Integer" in info
    assert "dien_tich: Real" in info
    assert "ten: String" in info


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg", "shp.zip"])
def test_bbox_and_filters_narrow_an_export(api, hue_places, tmp_path, fmt):
    _, path = download(
        api,
        f"/api/v1/layers/{hue_places.slug}/export.{fmt}",
        tmp_path,
        bbox="107.57,16.44,107.60,16.48",
        loai="bệnh viện",
    )
    source = f"/vsizip/{path}" if fmt == "shp.zip" else str(path)
    assert place_names(read_with_gdal(source)) == [
        "Bệnh viện Trung ương Huế",
        "Bệnh viện Đại học Y Dược Huế",
    ]


def test_csv_opens_in_a_spreadsheet(api, hue_places, tmp_path):
    _, path = download(
        api, f"/api/v1/layers/{hue_places.slug}/export.csv", tmp_path, properties="ten"
    )
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeffid,ten,WKT\r\n")
    assert "Chùa Thiên Mụ,POINT(107.5454 16.4535)" in text


def test_export_errors(api, hue_places, settings):
    url = f"/api/v1/layers/{hue_places.slug}/export"
    assert api().get(f"{url}.gpx").status_code == 404  # not a format we write
    bad = api().get(f"{url}.csv", {"bbox": "x"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "bbox"
    settings.EXPORT_MAX_FEATURES = 5
    too_many = api().get(f"{url}.gpkg")
    assert too_many.status_code == 413
    assert "bbox" in too_many.json()["detail"]
    # Within the cap, a GeoPackage is made by a worker: See Other, to its job.
    assert api().get(f"{url}.gpkg", {"limit": 5}).status_code == 303
