"""Uploads as an attacker makes them: CRSs that reach out, zip bombs, leaked paths, lying sizes.

Each test fails on a server that follows the upload's lead: the HTTP server the GeoJSON links to
counts the requests it gets, spatial_ref_sys is counted before and after, and the oversized bodies
go through a real socket to a live server, so nothing but the server's own checks stops them.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import socket
import threading
import zipfile

import pytest
import shapely
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from knox.models import AuthToken

from layers.models import ImportJob

from .conftest import errors, run, shapefile_parts, snapshot, write_layer, zip_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener():
    """A local HTTP server that records every request it gets (and answers a WGS 84 CRS)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"+proj=longlat +datum=WGS84 +no_defs SECRET-FROM-URL")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def geojson(crs: dict) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "crs": crs,
            "features": [
                {
                    "type": "Feature",
                    "properties": {"ten": "Đại Nội"},
                    "geometry": {"type": "Point", "coordinates": [107.5786, 16.4698]},
                }
            ],
        }
    ).encode()


def srs_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM spatial_ref_sys")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("kind", ["proj4", "ogcwkt", "esriwkt"])
def test_a_link_crs_is_never_fetched(layer, listener, kind):
    url, requests = listener
    before = snapshot(layer)
    crs = {"type": "link", "properties": {"href": f"{url}/crs", "type": kind}}
    job = run(geojson(crs), layer=layer, name="a.geojson")
    assert requests == []
    assert job.status == "failed"
    assert 'The GeoJSON\'s "crs" member links to an address' in errors(job)
    assert 'remove the "crs" member' in errors(job)
    assert "SECRET" not in json.dumps(job.messages)
    assert snapshot(layer) == before


@pytest.mark.parametrize(
    "name", ["+init=/tmp/secret:4326", "+proj=longlat +nadgrids=/etc/passwd", "http://x/y"]
)
def test_a_crs_name_that_reaches_files_is_refused(layer, listener, name):
    url, requests = listener
    job = run(geojson({"type": "name", "properties": {"name": name.replace("http://x", url)}}),
              layer=layer, name="a.geojson")  # fmt: skip
    assert job.status == "failed"
    assert "is not the name of a known CRS" in errors(job)
    assert requests == []


def test_an_epsg_crs_name_is_still_honoured(layer):
    # A VN-2000 lon/lat name: read as EPSG:4756, not as WGS 84.
    job = run(geojson({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4756"}}),
              layer=layer, name="a.geojson")  # fmt: skip
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["srid"] == 4756


@pytest.mark.parametrize(
    "extension",
    [
        'EXTENSION["PROJ4","+proj=longlat +ellps=WGS84 +nadgrids=/etc/passwd +no_defs"]',
        'EXTENSION["PROJ4","+init=/etc/passwd:1"]',
    ],
)
def test_a_prj_with_a_proj4_extension_is_refused_and_stores_nothing(layer, tmp_path, extension):
    shp = write_layer(tmp_path / "moc.shp", [shapely.Point(107.58, 16.46)], {"ten": ["Mốc"]},
                      driver="ESRI Shapefile")  # fmt: skip
    prj = shp.with_suffix(".prj")
    prj.write_text(prj.read_text().rstrip()[:-1] + "," + extension + "]")
    before = srs_count()
    job = run(zip_files(tmp_path / "moc.zip", *shapefile_parts(shp)), layer=layer)
    assert job.status == "failed"
    assert "The .prj file refers to a PROJ4 extension" in errors(job)
    assert "give the EPSG code" in errors(job)
    assert "passwd" not in json.dumps(job.messages)
    assert srs_count() == before


def test_a_plain_prj_without_epsg_code_stores_wkt_and_no_proj_string(layer, tmp_path):
    shp = write_layer(
        tmp_path / "hue.shp", [shapely.Point(556000, 1821000)], {"ten": ["Mốc"]},
        driver="ESRI Shapefile",
        crs="+proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
        "+towgs84=-191.90441429,-39.30318279,-111.45032835,0,0,0,0 +units=m +no_defs",
    )  # fmt: skip
    job = run(zip_files(tmp_path / "hue.zip", *shapefile_parts(shp)), layer=layer)
    assert job.status == "succeeded", job.messages
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT srtext, proj4text FROM spatial_ref_sys WHERE srid = %s",
            [job.report["source"]["srid"]],
        )
        srtext, proj4text = cursor.fetchone()
    assert srtext.startswith("PROJCS[")
    assert not proj4text


def test_a_geopackage_crs_with_a_proj4_extension_is_refused(layer, tmp_path):
    import sqlite3

    path = write_layer(tmp_path / "a.gpkg", [shapely.Point(107.58, 16.46)], {"ten": ["A"]},
                       driver="GPKG", crs="EPSG:4756")  # fmt: skip
    with sqlite3.connect(path) as database:
        database.execute(
            "UPDATE gpkg_spatial_ref_sys SET definition = replace(definition, ?, ?) "
            "WHERE srs_id = 4756",
            ['AUTHORITY["EPSG","4756"]]', 'EXTENSION["PROJ4","+init=/etc/passwd:1"]]'],
        )
    job = run(path, layer=layer)
    assert job.status == "failed"
    assert "A coordinate system in the GeoPackage refers to" in errors(job)


def test_a_zip_bomb_is_refused_before_it_fills_the_disk(layer, tmp_path, settings):
    settings.IMPORT_MAX_COMPRESSION_RATIO = 100
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("a.geojson", geojson({"type": "name", "properties": {"name": "EPSG:4326"}}))
        with bundle.open("zeros.csv", "w") as member:
            for _ in range(48):
                member.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1 << 20  # 48 MiB of zeros in well under one
    job = run(bomb, layer=layer)
    assert job.status == "failed"
    message = errors(job)
    assert "times its own size; at most 100 times is accepted" in message
    assert "Upload the data files themselves" in message


def test_messages_name_members_not_server_paths(layer, tmp_path, settings):
    settings.IMPORT_WORK_DIR = str(tmp_path / "work")
    (tmp_path / "work").mkdir()
    archive = tmp_path / "hong.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("du_lieu/hong.geojson", b'{"type": "FeatureCollection", "features": [')
    job = run(archive, layer=layer)
    assert job.status == "failed"
    text = json.dumps(job.messages, ensure_ascii=False)
    assert "hong.geojson" in text or "GeoJSON" in text
    assert "/unpacked/" not in text
    assert str(tmp_path) not in text
    assert "/tmp/" not in text


# The size limit, before and while the body is read.


@pytest.fixture
def small_limit(settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 64 * 1024
    return settings.IMPORT_MAX_UPLOAD_BYTES


@pytest.fixture
def staff_user(db):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("gis", password="secret-pass-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="layers"))
    return user


def test_admin_refuses_a_file_over_the_limit(client, staff_user, layer, small_limit):
    client.force_login(staff_user)
    big = SimpleUploadedFile("lon.csv", b"ten,lon,lat\n" + b"x,107.5,16.4\n" * 20_000)
    response = client.post(
        "/admin/layers/importjob/upload/", {"file": big, "mode": "replace", "layer": layer.pk}
    )
    assert response.status_code == 413
    assert "at most 0 MiB are accepted" in response.content.decode() or (
        "are accepted" in response.content.decode()
    )
    assert not ImportJob.objects.exists()


def test_api_refuses_a_file_over_the_limit(client, staff_user, layer, small_limit):
    token = AuthToken.objects.create(user=staff_user)[1]
    big = SimpleUploadedFile("lon.csv", b"ten,lon,lat\n" + b"x,107.5,16.4\n" * 20_000)
    response = client.post(f"/api/v1/layers/{layer.slug}/imports/", {"file": big},
                           HTTP_AUTHORIZATION=f"Token {token}")  # fmt: skip
    assert response.status_code == 413
    assert response.json()["parameter"] == "file"
    assert "are accepted" in response.json()["detail"]
    assert not ImportJob.objects.exists()


def raw_post(live_server, path: str, headers: dict, body: bytes, *, send_all=True) -> bytes:
    """Send a POST over a socket with exactly these headers; return the raw answer."""
    host, port = live_server.thread.host, live_server.thread.port
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(head.encode())
        # The server may answer and close before the body is all sent: that is the point.
        with contextlib.suppress(OSError):
            sock.sendall(body if send_all else body[: 64 * 1024])
        # Read one answer by its Content-Length: the test server drains what the client
        # declared, so it would wait for the 10 GiB before closing.
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        head_bytes, _sep, rest = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head_bytes).group(1))
        while len(rest) < length and (chunk := sock.recv(65536)):
            rest += chunk
    return head_bytes + b"\r\n\r\n" + rest


def multipart(fields: dict, file_bytes: bytes, boundary: str = "b0undary") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="lon.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@pytest.mark.django_db(transaction=True)
def test_a_declared_huge_body_is_refused_before_it_is_read(live_server, layer, small_limit):
    user = get_user_model().objects.create_user("gis2", password="x", is_staff=True,
                                                is_superuser=True)  # fmt: skip
    token = AuthToken.objects.create(user=user)[1]
    answer = raw_post(
        live_server,
        f"/api/v1/layers/{layer.slug}/imports/",
        {
            "Authorization": f"Token {token}",
            "Content-Type": "multipart/form-data; boundary=b0undary",
            "Content-Length": str(10 * 2**30),  # 10 GiB declared; only 64 KiB ever sent
        },
        multipart({"mode": "replace"}, b"x" * 200_000),
        send_all=False,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"are accepted" in answer
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_lying_content_length_does_not_let_a_big_file_in(live_server, layer, small_limit):
    user = get_user_model().objects.create_user("gis3", password="x", is_staff=True,
                                                is_superuser=True)  # fmt: skip
    token = AuthToken.objects.create(user=user)[1]
    body = multipart({"mode": "replace"}, b"ten,lon,lat\n" + b"x,107.5,16.4\n" * 40_000)
    assert len(body) > 4 * small_limit
    answer = raw_post(
        live_server,
        f"/api/v1/layers/{layer.slug}/imports/",
        {
            "Authorization": f"Token {token}",
            "Content-Type": "multipart/form-data; boundary=b0undary",
            "Content-Length": str(small_limit // 2),  # says 32 KiB, sends 500 KiB
        },
        body,
    )
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")), answer[:300]
    assert not ImportJob.objects.exists()


def test_a_vrt_dressed_as_gml_cannot_read_the_workers_files(layer, tmp_path):
    # A VRT names other datasets: GDAL would read this "GML" as the server's own file.
    secret = tmp_path / "secret.csv"
    secret.write_text("secret,x,y\nTOPSECRET,107.5,16.4\n")
    vrt = (
        '<OGRVRTDataSource xmlns:gml="http://www.opengis.net/gml"><OGRVRTLayer name="secret">'
        f"<SrcDataSource>{secret}</SrcDataSource><GeometryType>wkbPoint</GeometryType>"
        "<LayerSRS>EPSG:4326</LayerSRS>"
        '<GeometryField encoding="PointFromColumns" x="x" y="y"/></OGRVRTLayer>'
        "</OGRVRTDataSource>"
    )
    before = snapshot(layer)
    job = run(vrt.encode(), layer=layer, name="phuong.gml")
    assert job.status == ImportJob.Status.FAILED, job.messages
    assert snapshot(layer) == before
    assert "TOPSECRET" not in json.dumps(job.messages) + json.dumps(job.report)
    assert str(tmp_path) not in json.dumps(job.messages)


def test_a_gml_schema_location_is_never_fetched(layer, listener):
    url, requests = listener
    gml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs" '
        'xmlns:ogr="http://ogr.maptools.org/" xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation='
        f'"http://ogr.maptools.org/ {url}/wfs?SERVICE=WFS&amp;REQUEST=DescribeFeatureType'
        '&amp;TYPENAME=ogr:p"><gml:featureMember><ogr:p fid="p.0"><ogr:geometryProperty>'
        '<gml:Point srsName="EPSG:4326"><gml:coordinates>107.5786,16.4698</gml:coordinates>'
        "</gml:Point></ogr:geometryProperty><ogr:ten>Đại Nội</ogr:ten></ogr:p>"
        "</gml:featureMember></wfs:FeatureCollection>"
    )
    job = run(gml.encode(), layer=layer, name="di-tich.gml")
    assert requests == []
    # The file itself is fine: read from its own content, without the remote schema.
    assert job.status == ImportJob.Status.SUCCEEDED, job.messages
    assert job.imported_count == 1
