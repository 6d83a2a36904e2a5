# ruff: noqa: F811  (the fixtures imported from tests.api.conftest are used as arguments)
"""OGC API - Tiles under /ogc/: the tile matrix set, tilesets lists and tileset metadata of each
collection and of the whole map (each required member), the tiles (byte for byte those of
/tiles/), the 404s of the spec, private layers, and GDAL's OGCAPI driver against a live server."""

from __future__ import annotations

import gzip
import json
import math
import re
import subprocess
import sys
import urllib.request

import mapbox_vector_tile
import pytest
from django.contrib.gis.geos import Point
from knox.models import AuthToken

from layers.ogc.conformance import CONFORMANCE_CLASSES
from layers.services import FeatureRecord, layer_replace_features
from tests.api.conftest import _private_tile_cache, api, hue_places  # noqa: F401  (fixtures)
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
REL_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
HUE = "/ogc/collections/dia-diem-hue/tiles"
DAI_NOI = (107.5786, 16.4698)


def xyz(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Return the column and row of the tile holding a point (the slippy-map formula)."""
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return x, y


def rels(document: dict) -> dict:
    return {link["rel"]: link for link in document["links"]}


def test_conformance_declares_the_tiles_classes(api):
    conformance = api().get("/ogc/conformance").json()["conformsTo"]
    for name in (
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "dataset-tilesets",
        "mvt",
        "oas30",
    ):
        assert TILES + name in conformance
    assert set(conformance) == set(CONFORMANCE_CLASSES)


def test_landing_page_and_collection_link_the_tilesets(api, hue_places):
    landing = rels(api().get("/ogc/").json())
    assert landing[REL_VECTOR]["href"] == "http://testserver/ogc/tiles"
    assert (
        landing["http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"]["href"]
        == "http://testserver/ogc/tileMatrixSets"
    )
    collection = rels(api().get("/ogc/collections/dia-diem-hue").json())
    assert collection[REL_VECTOR]["href"] == f"http://testserver{HUE}"


def test_tile_matrix_set_is_web_mercator_quad(api):
    listing = api().get("/ogc/tileMatrixSets").json()
    [entry] = listing["tileMatrixSets"]
    assert entry["id"] == "WebMercatorQuad" and entry["uri"] == TMS_URI
    assert api().get(entry["links"][0]["href"]).status_code == 200
    tms = api().get("/ogc/tileMatrixSets/WebMercatorQuad", {"f": "json"}).json()
    assert tms["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert tms["orderedAxes"] == ["X", "Y"]
    matrices = tms["tileMatrices"]
    assert [m["id"] for m in matrices] == [str(z) for z in range(25)]
    z0, z10 = matrices[0], matrices[10]
    # Independent values: OGC 17-083r4 annex D, table D.4 (GoogleMapsCompatible).
    assert z0["scaleDenominator"] == pytest.approx(559082264.0287178)
    assert z0["cellSize"] == pytest.approx(156543.0339280410)
    assert z0["pointOfOrigin"] == pytest.approx([-20037508.3427892, 20037508.3427892])
    assert z0["cornerOfOrigin"] == "topLeft"
    assert z10["scaleDenominator"] == pytest.approx(545978.7734655447)
    assert (z10["matrixWidth"], z10["matrixHeight"], z10["tileWidth"]) == (1024, 1024, 256)
    missing = api().get("/ogc/tileMatrixSets/WorldCRS84Quad")
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"


def test_collection_tilesets_list(api, hue_places):
    listing = api().get(HUE).json()
    [tileset] = listing["tilesets"]
    assert tileset["dataType"] == "vector"
    assert tileset["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert tileset["tileMatrixSetURI"] == TMS_URI
    links = rels(tileset)
    assert links["self"]["href"] == f"http://testserver{HUE}/WebMercatorQuad"
    assert links[REL_SCHEME]["href"] == "http://testserver/ogc/tileMatrixSets/WebMercatorQuad"


def test_collection_tileset_metadata(api, hue_places):
    hue_places.min_zoom, hue_places.max_zoom = 5, 16
    hue_places.licence = "CC-BY-4.0"
    hue_places.save(update_fields=["min_zoom", "max_zoom", "licence"])
    tileset = api().get(f"{HUE}/WebMercatorQuad").json()
    # The credit and licence travel with the tiles (CC-BY and ODbL ask for it).
    assert tileset["attribution"] == "© Thành phố Huế"
    assert tileset["license"] == "CC-BY-4.0"
    assert tileset["dataType"] == "vector"
    assert tileset["tileMatrixSetURI"] == TMS_URI
    assert tileset["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    limits = tileset["tileMatrixSetLimits"]
    assert [limit["tileMatrix"] for limit in limits] == [str(z) for z in range(5, 17)]
    assert limits[0] == {
        "tileMatrix": "5",
        "minTileRow": 0,
        "maxTileRow": 31,
        "minTileCol": 0,
        "maxTileCol": 31,
    }
    box = tileset["boundingBox"]
    assert box["lowerLeft"] == pytest.approx([107.5454, 16.4339])
    assert box["upperRight"] == pytest.approx([107.5952, 16.4727])
    [layer] = tileset["layers"]
    assert layer["id"] == "dia-diem-hue" and layer["geometryDimension"] == 0
    assert (layer["minTileMatrix"], layer["maxTileMatrix"]) == ("5", "16")
    assert layer["propertiesSchema"]["properties"]["ten"] == {"type": "string"}
    links = rels(tileset)
    assert links["item"]["templated"] is True
    assert links["item"]["type"] == "application/vnd.mapbox-vector-tile"
    assert links["item"]["href"] == (
        f"http://testserver{HUE}/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
    )
    assert links[REL_SCHEME]["href"].endswith("/ogc/tileMatrixSets/WebMercatorQuad")
    assert links["self"]["href"] == f"http://testserver{HUE}/WebMercatorQuad"


def test_tiles_are_those_of_the_tiles_route(api, hue_places):
    z = 14
    x, y = xyz(*DAI_NOI, z)
    client = api()
    ours = client.get(f"{HUE}/WebMercatorQuad/{z}/{y}/{x}", HTTP_ACCEPT_ENCODING="gzip")
    theirs = client.get(f"/tiles/dia-diem-hue/{z}/{x}/{y}.pbf", HTTP_ACCEPT_ENCODING="gzip")
    assert ours.status_code == theirs.status_code == 200
    assert ours.content == theirs.content
    for header in ("Content-Type", "Content-Encoding", "ETag", "Cache-Control"):
        assert ours[header] == theirs[header], header
    assert ours["Cache-Control"].startswith("public")
    decoded = mapbox_vector_tile.decode(gzip.decompress(ours.content))
    names = {f["properties"]["ten"] for f in decoded["dia-diem-hue"]["features"]}
    assert "Đại Nội" in names
    # Row and column swapped name another tile, which holds nothing of Huế.
    assert client.get(f"{HUE}/WebMercatorQuad/{z}/{x}/{y}").status_code in (204, 404)
    # An Accept of the tile's type and f=mvt are fine; an If-None-Match gives 304.
    assert client.get(f"{HUE}/WebMercatorQuad/{z}/{y}/{x}", {"f": "mvt"}).status_code == 200
    again = client.get(
        f"{HUE}/WebMercatorQuad/{z}/{y}/{x}",
        HTTP_ACCEPT_ENCODING="gzip",
        HTTP_IF_NONE_MATCH=ours["ETag"],
    )
    assert again.status_code == 304


def test_tiles_outside_the_limits_are_404(api, hue_places):
    hue_places.min_zoom, hue_places.max_zoom = 5, 16
    hue_places.save(update_fields=["min_zoom", "max_zoom"])
    client = api()
    for path, parameter in (
        (f"{HUE}/WebMercatorQuad/4/0/0", "tileMatrix"),
        (f"{HUE}/WebMercatorQuad/17/0/0", "tileMatrix"),
        (f"{HUE}/WebMercatorQuad/30/0/0", "tileMatrix"),
        (f"{HUE}/WebMercatorQuad/5/32/0", "tileRow"),
        (f"{HUE}/WebMercatorQuad/5/0/32", "tileCol"),
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "NotFound"
        assert response.json()["parameter"] == parameter
    assert client.get(f"{HUE}/WorldCRS84Quad/5/0/0").status_code == 404
    assert client.get("/ogc/collections/nope/tiles").status_code == 404
    bad = client.get(f"{HUE}/WebMercatorQuad/5/0/0", {"f": "png"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "f"
    # An empty tile inside the limits is 204, as on /tiles.
    assert client.get(f"{HUE}/WebMercatorQuad/5/0/0").status_code == 204


def test_private_layers_are_404_to_those_who_may_not_see_them(api, hue_places, member):
    hidden = LayerFactory(slug="an-noi-bo", category=hue_places.category, visibility="restricted")
    hidden.groups.add(*member.groups.all())
    base = "/ogc/collections/an-noi-bo/tiles"
    for path in (base, f"{base}/WebMercatorQuad", f"{base}/WebMercatorQuad/0/0/0"):
        assert api().get(path).status_code == 404, path
        assert api(member).get(path).status_code in (200, 204), path
    map_layers = [layer["id"] for layer in api().get("/ogc/tiles/WebMercatorQuad").json()["layers"]]
    assert "an-noi-bo" not in map_layers and "dia-diem-hue" in map_layers
    member_layers = api(member).get("/ogc/tiles/WebMercatorQuad").json()["layers"]
    assert "an-noi-bo" in [layer["id"] for layer in member_layers]


def test_the_map_tileset_holds_every_visible_layer_in_one_tile(api, hue_places, member):
    second = LayerFactory(slug="lop-hai", category=hue_places.category, visibility="public")
    hidden = LayerFactory(slug="rieng", category=hue_places.category, visibility="restricted")
    hidden.groups.add(*member.groups.all())
    client = api()
    listing = client.get("/ogc/tiles").json()
    [tileset] = listing["tilesets"]
    assert tileset["dataType"] == "vector" and tileset["tileMatrixSetURI"] == TMS_URI
    metadata = client.get("/ogc/tiles/WebMercatorQuad").json()
    assert {layer["id"] for layer in metadata["layers"]} == {"dia-diem-hue", "lop-hai"}
    assert rels(metadata)["item"]["href"] == (
        "http://testserver/ogc/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    )
    z = 12
    x, y = xyz(*DAI_NOI, z)
    ours = client.get(f"/ogc/tiles/WebMercatorQuad/{z}/{y}/{x}", HTTP_ACCEPT_ENCODING="gzip")
    theirs = client.get(
        f"/tiles/{hue_places.slug},{second.slug}/{z}/{x}/{y}.pbf", HTTP_ACCEPT_ENCODING="gzip"
    )
    assert ours.status_code == 200 and ours.content == theirs.content
    assert ours["Cache-Control"] == theirs["Cache-Control"]
    decoded = mapbox_vector_tile.decode(gzip.decompress(ours.content))
    assert "dia-diem-hue" in decoded and "rieng" not in decoded
    # A member sees the restricted layer in the map's tiles, and they are private.
    member_tile = api(member).get(f"/ogc/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert member_tile.status_code == 200
    assert member_tile["Cache-Control"].startswith("private")
    assert client.get("/ogc/tiles/WebMercatorQuad/23/0/0").status_code == 404


def test_api_definition_describes_the_tiles_paths(api):
    paths = api().get("/ogc/api").json()["paths"]
    for path in (
        "/tileMatrixSets",
        "/tileMatrixSets/{tileMatrixSetId}",
        "/collections/{collectionId}/tiles",
        "/collections/{collectionId}/tiles/{tileMatrixSetId}",
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
        "/tiles",
        "/tiles/{tileMatrixSetId}",
        "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    ):
        assert "get" in paths[path], path


# --- GDAL over HTTP ----------------------------------------------------------------------------


def gdal(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    config = ["--config", "CPL_DEBUG", "ON"]
    if token:
        config += ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Token {token}"]
    return subprocess.run(
        [*args[:1], *config, *args[1:]], capture_output=True, text=True, timeout=180
    )


@pytest.mark.django_db(transaction=True)
def test_gdal_ogcapi_driver_follows_the_links_to_the_tile_matrix_set(live_server, hue_places):
    """GDAL 3.6's OGCAPI driver walks collection, tilesets, tileset and tile matrix set.

    It finds each link it needs (else "Cannot find ..."), and parses our tile matrix set (else
    "Invalid tiling matrix set name"). Debian's 3.6.2 build then stops: its vector-tile branch
    is compiled out (no `vectorType` in libgdal; fixed in later GDAL), so the features are read
    by GDAL's MVT driver below.
    """
    url = f"OGCAPI:{live_server.url}/ogc/collections/dia-diem-hue"
    result = gdal("ogrinfo", "-ro", "-so", url, "-oo", "API=TILES")
    fetched = [line for line in result.stderr.splitlines() if "HTTP: Fetch(" in line]
    base = f"{live_server.url}/ogc"
    assert [line.split("Fetch(")[1].rstrip(")") for line in fetched][:4] == [
        f"{base}/collections/dia-diem-hue",
        f"{base}/collections/dia-diem-hue/tiles",
        f"{base}/collections/dia-diem-hue/tiles/WebMercatorQuad",
        f"{base}/tileMatrixSets/WebMercatorQuad",
    ]
    assert "ERROR" not in result.stderr, result.stderr


@pytest.mark.django_db(transaction=True)
def test_gdal_reads_features_from_an_ogc_tile(live_server, hue_places, member):
    z = 14
    x, y = xyz(*DAI_NOI, z)
    template = api_json(f"{live_server.url}{HUE}/WebMercatorQuad")
    [item] = [link["href"] for link in template["links"] if link["rel"] == "item"]
    # `f=mvt`: with a bare path GDAL 3.6's /vsicurl/ takes the tile for a folder of tiles.
    tile_url = item.format(tileMatrix=z, tileRow=y, tileCol=x) + "?f=mvt"
    # The MVT driver cannot tell z/x/y from an OGC path (row before column): it is told.
    options = ["-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}"]
    result = gdal("ogrinfo", "-ro", "-al", f"MVT:/vsicurl/{tile_url}", *options)
    assert result.returncode == 0, result.stderr
    assert "Đại Nội" in result.stdout
    # Đại Nội, in EPSG:3857 metres: the tile was placed where it belongs.
    point = re.search(r"Đại Nội.*?POINT \(([-\d.]+) ([-\d.]+)\)", result.stdout, re.S)
    lon_m = math.radians(DAI_NOI[0]) * 6378137
    lat_m = math.log(math.tan(math.pi / 4 + math.radians(DAI_NOI[1]) / 2)) * 6378137
    assert float(point[1]) == pytest.approx(lon_m, abs=20)
    assert float(point[2]) == pytest.approx(lat_m, abs=20)
    # A private layer's tile is 404 to GDAL without a token, and read with one.
    hidden = LayerFactory(
        slug="an-noi-bo", category=hue_places.category, visibility="restricted", name_field="ten"
    )
    hidden.groups.add(*member.groups.all())
    layer_replace_features(
        layer=hidden,
        records=[FeatureRecord(geom=Point(*DAI_NOI, srid=4326), attributes={"ten": "Bí mật"})],
    )
    hidden_url = tile_url.replace("dia-diem-hue", "an-noi-bo")
    anonymous = gdal("ogrinfo", "-ro", "-al", f"MVT:/vsicurl/{hidden_url}", *options)
    assert "Bí mật" not in anonymous.stdout
    assert "response_code=404" in anonymous.stderr
    _, token = AuthToken.objects.create(user=member)
    seen = gdal("ogrinfo", "-ro", "-al", f"MVT:/vsicurl/{hidden_url}", *options, token=token)
    assert "Bí mật" in seen.stdout, seen.stderr


def api_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_a_map_tile_of_more_layers_than_a_tile_holds_is_413(api, hue_places, monkeypatch):
    LayerFactory(slug="lop-hai", category=hue_places.category, visibility="public")
    monkeypatch.setattr("layers.tiles.views.MAX_LAYERS_PER_REQUEST", 1)
    response = api().get("/ogc/tiles/WebMercatorQuad/3/3/6")
    assert response.status_code == 413
    assert response.json()["parameter"] == "tileMatrix"
    assert "each collection" in response.json()["description"]
    # One layer's tiles still answer.
    assert api().get(f"{HUE}/WebMercatorQuad/3/3/6").status_code in (200, 204)


# GDAL 3.12 (pyogrio's own build, in another process: it holds the GIL while it fetches, so
# the live server's thread in this process could never answer it) has the OGCAPI driver's
# vector-tile branch that Debian's 3.6 lacks.
READ_OGCAPI_TILES = """
import json, sys
import pyogrio
url, zoom, bbox = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
options = {"API": "TILES", "TILEMATRIX": zoom, "MINX": bbox[0], "MINY": bbox[1],
           "MAXX": bbox[2], "MAXY": bbox[3]}
info = pyogrio.read_info(url, layer=0, **options)
meta, _, geometry, fields = pyogrio.raw.read(url, layer=0, **options)
names = list(meta["fields"])
print(json.dumps({info["layer_name"]: sorted(fields[names.index("ten")].tolist())}))
"""


@pytest.mark.django_db(transaction=True)
def test_gdal_ogcapi_driver_reads_our_vector_tiles(live_server, hue_places):
    """GDAL's OGCAPI driver (API=TILES) walks collection, tilesets, tile matrix set and reads
    the MVT tiles of a zoom level over a box, as QGIS and GDAL users would."""
    url = f"OGCAPI:{live_server.url}/ogc/collections/dia-diem-hue"
    lon, lat = DAI_NOI
    # A box in the tile matrix set's CRS (Web Mercator metres) around Đại Nội.
    x = math.radians(lon) * 6378137
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137
    box = [x - 500, y - 500, x + 500, y + 500]
    result = subprocess.run(
        [sys.executable, "-c", READ_OGCAPI_TILES, url, "14", json.dumps(box)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert any("Đại Nội" in names for names in found.values()), found
