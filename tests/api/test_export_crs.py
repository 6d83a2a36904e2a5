"""REST features and exports in another CRS (`crs`): a surveyor's VN-2000 / TM-3 107-00
GeoPackage and Shapefile, whose CRS pyogrio reads back as EPSG:9214 and whose coordinates are
PostGIS's own ST_Transform of the stored geometry (east first, as files keep it)."""

import json
import zipfile

import pyogrio
import pytest
import shapely
from django.db import connection

from tests.api.test_exports import download

pytestmark = pytest.mark.django_db
HUE_URI = "http://www.opengis.net/def/crs/EPSG/0/9214"


def transformed(layer_id: int, srid: int) -> dict[str, tuple[float, float]]:
    """Return each place's coordinates as PostGIS transforms them (the oracle), by name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attributes ->> 'ten', ST_X(g), ST_Y(g) FROM (SELECT attributes,"
            " ST_Transform(geom, %s) AS g FROM layers_feature WHERE layer_id = %s) AS t",
            [srid, layer_id],
        )
        return {name: (x, y) for name, x, y in cursor.fetchall()}


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip"])
def test_file_in_vn2000_tm3_reads_back_as_epsg_9214(api, hue_places, tmp_path, fmt):
    _, path = download(
        api, f"/api/v1/layers/{hue_places.slug}/export.{fmt}", tmp_path, crs="EPSG:9214"
    )
    source = f"/vsizip/{path}" if fmt == "shp.zip" else str(path)
    info = pyogrio.read_info(source)
    assert info["crs"] == "EPSG:9214"
    meta, _, geometry, fields = pyogrio.raw.read(source)
    names = fields[list(meta["fields"]).index("ten")]
    expected = transformed(hue_places.pk, 9214)
    assert len(names) == 8
    for name, point in zip(names, shapely.from_wkb(geometry), strict=True):
        assert (point.x, point.y) == pytest.approx(expected[name], abs=1e-3)
    if fmt == "shp.zip":
        prj = zipfile.ZipFile(path).read(f"{hue_places.slug}.prj").decode()
        assert "VN-2000" in prj.replace("_", "-") and "107" in prj


def test_geojson_and_csv_exports_in_vn2000(api, hue_places, tmp_path):
    _, path = download(
        api, f"/api/v1/layers/{hue_places.slug}/export.geojson", tmp_path, crs=HUE_URI
    )
    document = json.loads(path.read_text())
    assert document["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::9214"
    expected = transformed(hue_places.pk, 9214)
    for feature in document["features"]:
        coordinates = feature["geometry"]["coordinates"]
        assert coordinates == pytest.approx(expected[feature["properties"]["ten"]], abs=1e-3)
    assert pyogrio.read_info(str(path))["crs"] == "EPSG:9214"  # GDAL reads the crs member
    _, csv_path = download(
        api, f"/api/v1/layers/{hue_places.slug}/export.csv", tmp_path, crs="EPSG:9214"
    )
    assert "POINT(561" in csv_path.read_text(encoding="utf-8-sig")


def test_export_job_keeps_the_crs(api, hue_places, tmp_path):
    from django.test import TestCase

    client = api()
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = client.post(
            f"/api/v1/layers/{hue_places.slug}/exports/",
            {"format": "gpkg", "crs": HUE_URI},
            format="json",
        )
    assert answer.status_code == 202, answer.content
    assert answer.json()["params"]["crs"] == "EPSG:9214"
    job = client.get(answer.json()["url"]).json()
    assert job["status"] == "succeeded", job
    file = client.get(job["download_url"])
    path = tmp_path / "job.gpkg"
    path.write_bytes(b"".join(file.streaming_content))
    assert pyogrio.read_info(str(path))["crs"] == "EPSG:9214"


def test_rest_features_take_crs(api, hue_places):
    url = f"/api/v1/layers/{hue_places.slug}/features/"
    answer = api().get(url, {"crs": "EPSG:9214"})
    assert answer.status_code == 200
    document = json.loads(answer.content)
    assert document["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::9214"
    expected = transformed(hue_places.pk, 9214)
    for feature in document["features"]:
        coordinates = feature["geometry"]["coordinates"]
        assert coordinates == pytest.approx(expected[feature["properties"]["ten"]], abs=1e-3)
    one = document["features"][0]
    single = api().get(f"{url}{one['id']}/", {"crs": HUE_URI})
    assert json.loads(single.content)["geometry"] == one["geometry"]
    # The REST API keeps longitude first even in EPSG:4756 (GeoJSON readers expect it).
    vn = json.loads(api().get(url, {"crs": "EPSG:4756"}).content)["features"][0]
    assert 107 < vn["geometry"]["coordinates"][0] < 108
    plain = json.loads(api().get(url).content)
    assert "crs" not in plain


@pytest.mark.parametrize("value", ["EPSG:2193", "EPSG:99999999", "lat-long"])
def test_unknown_crs_is_a_400_naming_it(api, hue_places, value):
    for url in (
        f"/api/v1/layers/{hue_places.slug}/features/",
        f"/api/v1/layers/{hue_places.slug}/export.geojson",
    ):
        answer = api().get(url, {"crs": value})
        assert answer.status_code == 400, (url, value)
        assert answer.json()["parameter"] == "crs"
        assert "EPSG:9214" in answer.json()["detail"]
