"""KML exports (GDAL's LIBKML driver): each feature a Placemark named by the layer's naming field,
its other attributes in ExtendedData, WGS 84 only; read back with GDAL and as XML."""

import json
import subprocess
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import HUE_PLACES

pytestmark = pytest.mark.django_db

KML = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Export files go to this test's own folder, never var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def download_kml(client, capture, slug, **params) -> bytes:
    """Ask for the KML as a GIS client does (the file URL, 303 to its job) and download it."""
    with capture(execute=True):
        response = client.get(f"/api/v1/layers/{slug}/export.kml", params)
    assert response.status_code == 303, response.content
    download = client.get(_local(response["Location"]))
    assert download.status_code == 200, download.content
    assert download["Content-Type"] == "application/vnd.google-earth.kml+xml"
    assert download["Content-Disposition"].endswith(f'filename="{slug}.kml"')
    return b"".join(download.streaming_content)


def read_with_gdal(path) -> list[dict]:
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", str(path)], check=True, capture_output=True
    )
    return json.loads(result.stdout)["features"]


def test_a_kml_export_holds_every_place_named_with_its_attributes(
    api, hue_places, tmp_path, django_capture_on_commit_callbacks
):
    content = download_kml(api(), django_capture_on_commit_callbacks, hue_places.slug)
    root = ET.fromstring(content)
    assert root.tag == f"{KML}kml"
    placemarks = root.findall(f".//{KML}Placemark")
    names = sorted(p.findtext(f"{KML}name") for p in placemarks)
    assert names == sorted(place[0] for place in HUE_PLACES)
    # The document carries the layer's title.
    assert "Địa điểm Huế" in [d.findtext(f"{KML}name") for d in root.iter(f"{KML}Document")]
    path = tmp_path / "places.kml"
    path.write_bytes(content)
    by_name = {f["properties"]["Name"]: f for f in read_with_gdal(path)}
    hospital = by_name["Bệnh viện Trung ương Huế"]
    assert hospital["geometry"]["type"] == "Point"
    assert hospital["geometry"]["coordinates"][:2] == pytest.approx([107.5885, 16.4620])
    assert hospital["properties"]["loai"] == "bệnh viện"
    assert int(hospital["properties"]["so_tang"]) == 9
    assert float(hospital["properties"]["dien_tich"]) == 120000.5


def test_a_cql2_filter_narrows_the_kml(api, hue_places, django_capture_on_commit_callbacks):
    content = download_kml(
        api(),
        django_capture_on_commit_callbacks,
        hue_places.slug,
        # Accents left out: LIKE ignores them, as the attribute table's filters do.
        filter=json.dumps({"op": "like", "args": [{"property": "loai"}, "%benh vien%"]}),
        **{"filter-lang": "cql2-json"},
    )
    names = sorted(p.findtext(f"{KML}name") for p in ET.fromstring(content).iter(f"{KML}Placemark"))
    assert names == ["Bệnh viện Trung ương Huế", "Bệnh viện Đại học Y Dược Huế"]


def test_a_mixed_layer_keeps_lines_and_polygons_in_one_kml(
    api, river_and_citadel, tmp_path, django_capture_on_commit_callbacks
):
    content = download_kml(api(), django_capture_on_commit_callbacks, river_and_citadel.slug)
    path = tmp_path / "mixed.kml"
    path.write_bytes(content)
    kinds = {f["properties"]["Name"]: f["geometry"]["type"] for f in read_with_gdal(path)}
    assert kinds == {"Sông Hương": "LineString", "Kinh thành Huế": "Polygon"}


def test_kml_in_another_crs_is_refused_saying_why(api, hue_places):
    client = api()
    response = client.get(f"/api/v1/layers/{hue_places.slug}/export.kml", {"crs": "EPSG:9214"})
    assert response.status_code == 400
    assert response.json()["parameter"] == "crs"
    assert "WGS 84" in response.json()["detail"]
    posted = client.post(
        f"/api/v1/layers/{hue_places.slug}/exports/",
        {"format": "kml", "crs": "EPSG:9214"},
        format="json",
    )
    assert posted.status_code == 400 and posted.json()["parameter"] == "crs"
