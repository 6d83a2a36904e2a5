"""Every geometry kind a GIS file can hold imports, and then every endpoint serves it.

Curves (CurvePolygon, CompoundCurve, CircularString, MultiSurface, MultiCurve), Z and M,
GeometryCollections, empty parts, degenerate lines and polygons, TINs, and a polygon of a million
vertices: each is written into a real GeoPackage (the WKB comes from PostGIS, an independent
writer), imported the way the worker does it, and asked for through the REST features, OGC API
items, tiles, identify, search and every export format.
"""

from __future__ import annotations

import gzip
import json
import math
import time

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from django.db import connection
from pyogrio.raw import write
from rest_framework.test import APIClient

from .conftest import run

pytestmark = pytest.mark.django_db

# (name, WKT): around the Citadel of Huế, each a kind GeoJSON cannot hold as it is, or a degenerate.
KINDS = [
    ("Vòng tròn Kỳ Đài", "CURVEPOLYGON(CIRCULARSTRING(107.576 16.466, 107.578 16.468, "
     "107.580 16.466, 107.578 16.464, 107.576 16.466))"),
    ("Đường cong Ngọ Môn", "COMPOUNDCURVE((107.570 16.460, 107.575 16.465), "
     "CIRCULARSTRING(107.575 16.465, 107.580 16.470, 107.585 16.465))"),
    ("Mặt cong Hoàng Thành", "MULTISURFACE(CURVEPOLYGON(CIRCULARSTRING(107.560 16.440, "
     "107.565 16.445, 107.570 16.440, 107.565 16.435, 107.560 16.440)), "
     "((107.59 16.45, 107.595 16.45, 107.595 16.455, 107.59 16.45)))"),
    ("Cung sông Hương", "CIRCULARSTRING(107.55 16.45, 107.56 16.46, 107.57 16.45)"),
    ("Nhiều cung", "MULTICURVE((107.55 16.47, 107.56 16.48), "
     "CIRCULARSTRING(107.56 16.48, 107.565 16.485, 107.57 16.48))"),
    ("Phần rỗng", "MULTIPOLYGON(((107.50 16.40, 107.51 16.40, 107.51 16.41, 107.50 16.40)), "
     "EMPTY)"),
    ("Độ cao Z", "POLYGON Z((107.52 16.42 10, 107.53 16.42 12, 107.53 16.43 15, "
     "107.52 16.42 10))"),
    ("Số đo M", "POINT M(107.54 16.43 7)"),
    ("Tập hợp", "GEOMETRYCOLLECTION(POINT(107.60 16.47), LINESTRING(107.60 16.47, 107.61 16.48))"),
    ("Mô hình TIN", "TIN Z(((107.6 16.4 0, 107.6 16.41 0, 107.61 16.41 0, 107.6 16.4 0)))"),
    ("Đường dài không", "LINESTRING(107.58 16.46, 107.58 16.46)"),
    # Exactly on one line (binary fractions): a polygon of no area at all.
    ("Vùng diện tích không", "POLYGON((107.5 16.5, 107.625 16.625, 107.75 16.75, 107.5 16.5))"),
]  # fmt: skip
KEPT = 9  # all but the TIN, the zero-length line and the zero-area polygon
CURVED = {"CIRCULARSTRING", "COMPOUNDCURVE", "CURVEPOLYGON", "MULTICURVE", "MULTISURFACE"}
GEOJSON_TYPES = {
    "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
    "GeometryCollection",
}  # fmt: skip


def postgis_wkb(wkt: str) -> bytes:
    """Return the ISO WKB PostGIS writes for a WKT (curves and Z/M included)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_AsBinary(%s::geometry)", [wkt])
        return bytes(cursor.fetchone()[0])


def write_gpkg(path, names: list[str], wkbs: list[bytes]):
    """Write a one-layer GeoPackage in EPSG:4326 whose geometries are these WKB values."""
    write(
        str(path), np.asarray(wkbs, dtype=object), [np.asarray(names, dtype=object)], ["ten"],
        driver="GPKG", geometry_type="Unknown", crs="EPSG:4326", layer="hinh_hoc",
    )  # fmt: skip
    return path


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """Return the x, y of the Web-Mercator tile holding a point (the slippy-map formula)."""
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def decode_tile(response) -> dict:
    content = response.content
    if response.get("Content-Encoding") == "gzip" or content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return mapbox_vector_tile.decode(content)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def export(client, slug: str, fmt: str, on_commit) -> bytes:
    """Return an export's bytes: streamed at once, or made by an export job (then downloaded)."""
    with on_commit(execute=True):  # an export job runs in-process once its request commits
        response = client.get(f"/api/v1/layers/{slug}/export.{fmt}")
    assert response.status_code in (200, 202, 303), (fmt, response.status_code, body(response))
    if response.status_code == 200:
        return body(response)
    job = response.json()  # run in-process by the tests' eager Celery
    job = client.get(job["url"]).json()
    assert job["status"] == "succeeded", (fmt, job)
    download = client.get(job["download_url"])
    assert download.status_code == 200, (fmt, download.status_code)
    return body(download)


@pytest.fixture
def kinds_job(layer, tmp_path):
    names = [name for name, _wkt in KINDS]
    path = write_gpkg(tmp_path / "hinh_hoc.gpkg", names, [postgis_wkb(w) for _n, w in KINDS])
    return run(path, layer=layer)


def test_every_kind_is_imported_linear_2d_and_counted(kinds_job, layer):
    assert kinds_job.status == "succeeded", kinds_job.messages
    assert kinds_job.imported_count == KEPT
    report = kinds_job.report["geometry"]
    assert report["read"] == len(KINDS)
    assert report["linearised"] == 5
    assert report["dropped_zm"] == 2 + 1  # the Z polygon, the M point and the TIN
    assert report["empty_parts_removed"] == 1
    assert report["skipped"] == 3
    assert report["skipped_by_reason"] == {"unsupported": 1, "zero_length": 1, "zero_area": 1}
    skipped = {m["feature"]: m["message"] for m in kinds_job.messages if "Skipped" in m["message"]}
    assert "triangulated" in skipped[10]
    assert "zero length" in skipped[11]
    assert "zero area" in skipped[12]
    infos = " ".join(m["message"] for m in kinds_job.messages if m["level"] == "info")
    assert "5 features had curves" in infos
    assert "1 empty parts" in infos
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, GeometryType(geom), ST_NDims(geom), ST_NumGeometries(geom), "
            "(SELECT count(*) FROM ST_Dump(geom) AS d WHERE ST_IsEmpty(d.geom)), ST_IsValid(geom) "
            "FROM layers_feature WHERE layer_id = %s",
            [layer.pk],
        )
        stored = {row[0]: row[1:] for row in cursor.fetchall()}
    assert set(stored) == {name for name, _wkt in KINDS[:KEPT]}
    for name, (kind, dims, _parts, empties, valid) in stored.items():
        assert kind not in CURVED, name
        assert dims == 2, name
        assert empties == 0, name
        assert valid, name
    assert stored["Phần rỗng"][2] == 1
    # A circle of radius ~0.002° linearised into many segments, not a square of its 4 points.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_NPoints(geom), ST_Area(geom::geography) FROM layers_feature "
            "WHERE layer_id = %s AND name = 'Vòng tròn Kỳ Đài'",
            [layer.pk],
        )
        points, area_m2 = cursor.fetchone()
    assert points > 32
    radius_m = 0.002 * 111_320  # roughly; the circle is slightly squeezed east-west
    assert 0.85 * math.pi * radius_m**2 * math.cos(math.radians(16.466)) < area_m2
    assert area_m2 < 1.05 * math.pi * radius_m**2


def test_every_endpoint_serves_the_imported_kinds(
    kinds_job, layer, django_capture_on_commit_callbacks
):
    assert kinds_job.status == "succeeded", kinds_job.messages
    client = APIClient()
    slug = layer.slug

    features = client.get(f"/api/v1/layers/{slug}/features/", {"limit": 100})
    assert features.status_code == 200, features.content
    collection = features.json()
    assert collection["numberMatched"] == KEPT
    types = {f["properties"]["ten"]: f["geometry"]["type"] for f in collection["features"]}
    assert set(types.values()) <= GEOJSON_TYPES
    assert types["Vòng tròn Kỳ Đài"] in ("Polygon", "MultiPolygon")
    assert types["Cung sông Hương"] in ("LineString", "MultiLineString")
    assert types["Tập hợp"] == "GeometryCollection"
    empty_part = next(f for f in collection["features"] if f["properties"]["ten"] == "Phần rỗng")
    assert all(part for part in empty_part["geometry"]["coordinates"])  # no [] part

    one = client.get(f"/api/v1/layers/{slug}/features/{collection['features'][0]['id']}/")
    assert one.status_code == 200, one.content

    items = client.get(f"/ogc/collections/{slug}/items", {"limit": 100, "f": "json"})
    assert items.status_code == 200, items.content
    assert len(items.json()["features"]) == KEPT

    x, y = tile_of(107.578, 16.466, 14)
    tile = client.get(f"/tiles/{slug}/14/{x}/{y}.pbf")
    assert tile.status_code == 200, tile.content
    names = {f["properties"].get("ten") for f in decode_tile(tile)[slug]["features"]}
    assert "Vòng tròn Kỳ Đài" in names
    far_x, far_y = tile_of(-70.0, -40.0, 14)
    assert client.get(f"/tiles/{slug}/14/{far_x}/{far_y}.pbf").status_code == 204

    found = client.get(
        "/api/v1/identify/", {"lon": 107.578, "lat": 16.466, "zoom": 16, "layers": slug}
    )
    assert found.status_code == 200, found.content
    assert "Vòng tròn Kỳ Đài" in {f["properties"]["ten"] for f in found.json()["features"]}

    search = client.get("/api/v1/search/", {"q": "vong tron ky dai"})
    assert search.status_code == 200, search.content
    assert search.json()["results"][0]["name"] == "Vòng tròn Kỳ Đài"

    for fmt in ("csv", "gpkg", "shp.zip"):
        assert export(client, slug, fmt, django_capture_on_commit_callbacks), fmt
    exported = json.loads(export(client, slug, "geojson", django_capture_on_commit_callbacks))
    assert len(exported["features"]) == KEPT
    assert {f["geometry"]["type"] for f in exported["features"]} <= GEOJSON_TYPES


GML_CURVES = """<?xml version="1.0" encoding="utf-8"?>
<ogr:FeatureCollection xmlns:ogr="http://ogr.maptools.org/" xmlns:gml="http://www.opengis.net/gml/3.2"
    gml:id="fc">
  <ogr:featureMember>
    <ogr:ho gml:id="ho.1">
      <ogr:geometryProperty>
        <gml:Polygon gml:id="p1" srsName="urn:ogc:def:crs:EPSG::4326">
          <gml:exterior>
            <gml:Ring>
              <gml:curveMember>
                <gml:Curve gml:id="c1">
                  <gml:segments>
                    <gml:ArcString>
                      <gml:posList>16.466 107.576 16.468 107.578 16.466 107.580</gml:posList>
                    </gml:ArcString>
                    <gml:LineStringSegment>
                      <gml:posList>16.466 107.580 16.466 107.576</gml:posList>
                    </gml:LineStringSegment>
                  </gml:segments>
                </gml:Curve>
              </gml:curveMember>
            </gml:Ring>
          </gml:exterior>
        </gml:Polygon>
      </ogr:geometryProperty>
      <ogr:ten>Hồ Tĩnh Tâm</ogr:ten>
    </ogr:ho>
  </ogr:featureMember>
</ogr:FeatureCollection>
"""


def test_a_gml_arc_is_linearised(layer):
    job = run(GML_CURVES.encode(), layer=layer, name="ho.gml")
    assert job.status == "succeeded", job.messages
    assert job.report["geometry"]["linearised"] == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GeometryType(geom), ST_NPoints(geom), ST_YMax(geom) FROM layers_feature "
            "WHERE layer_id = %s",
            [layer.pk],
        )
        kind, points, top = cursor.fetchone()
    assert kind in ("POLYGON", "MULTIPOLYGON")
    assert points > 8  # the arc became many segments
    assert top == pytest.approx(16.468, abs=1e-6)  # lat/lon axis order honoured; the arc's top
    features = APIClient().get(f"/api/v1/layers/{layer.slug}/features/")
    assert features.status_code == 200, features.content


MILLION = 1_000_000


@pytest.fixture
def million_vertex_job(layer, tmp_path):
    """A star-shaped polygon of a million vertices around Huế (a noisy circle of ~3 km)."""
    angles = np.linspace(0, 2 * np.pi, MILLION, endpoint=False)
    radius = 0.03 * (1 + 0.02 * np.sin(angles * 997))
    ring = np.column_stack([107.59 + radius * np.cos(angles), 16.46 + radius * np.sin(angles)])
    polygon = shapely.Polygon(ring)
    assert shapely.get_num_coordinates(polygon) == MILLION + 1
    path = write_gpkg(tmp_path / "lon.gpkg", ["Đa giác triệu đỉnh"], [shapely.to_wkb(polygon)])
    started = time.monotonic()
    job = run(path, layer=layer)
    job.import_seconds = time.monotonic() - started
    return job


def test_a_million_vertex_polygon_imports_and_every_endpoint_answers(
    million_vertex_job, layer, django_capture_on_commit_callbacks
):
    job = million_vertex_job
    assert job.status == "succeeded", job.messages
    assert job.imported_count == 1
    client = APIClient()
    slug = layer.slug
    timings = {"import": job.import_seconds}

    def get(name, url, params=None, *, ok=(200,)):
        started = time.monotonic()
        response = client.get(url, params or {})
        content = body(response)
        timings[name] = time.monotonic() - started
        # Another part caps the vertices returned: sizes are not asserted, only a sound answer.
        assert response.status_code in ok, (name, response.status_code, content[:300])
        return response, content

    # A cap on the vertices one answer returns may refuse the whole geometry (413, saying where
    # to get it): a sound answer too. Never a 500.
    for name, url in (
        ("features", f"/api/v1/layers/{slug}/features/"),
        ("ogc items", f"/ogc/collections/{slug}/items"),
    ):
        response, content = get(name, url, {"limit": 1}, ok=(200, 413))
        answer = json.loads(content)
        if response.status_code == 200:
            assert answer["features"][0]["properties"]["ten"] == "Đa giác triệu đỉnh"
        else:
            assert "vertices" in json.dumps(answer)
    for zoom in (10, 14, 18):
        x, y = tile_of(107.59 + 0.03, 16.46, zoom)  # on the ragged edge
        response, _content = get(f"tile z{zoom}", f"/tiles/{slug}/{zoom}/{x}/{y}.pbf")
        assert slug in decode_tile(response)
    _response, found = get(
        "identify", "/api/v1/identify/", {"lon": 107.59, "lat": 16.46, "zoom": 14, "layers": slug}
    )
    assert json.loads(found)["features"][0]["properties"]["ten"] == "Đa giác triệu đỉnh"
    _response, hits = get("search", "/api/v1/search/", {"q": "da giac trieu dinh"})
    assert json.loads(hits)["results"][0]["name"] == "Đa giác triệu đỉnh"
    for fmt in ("geojson", "csv", "gpkg", "shp.zip"):
        started = time.monotonic()
        assert export(client, slug, fmt, django_capture_on_commit_callbacks), fmt
        timings[f"export {fmt}"] = time.monotonic() - started
    print("million-vertex polygon, seconds:", {k: round(v, 2) for k, v in timings.items()})
    assert max(timings.values()) < 120
