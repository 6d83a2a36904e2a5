"""OGC API - Features Part 2 (CRS by reference): the crs lists, crs and bbox-crs on items and
item, Content-Crs, the 400s; coordinates checked against PostGIS's own ST_Transform (axis order
applied); then OWSLib and GDAL reading them over HTTP."""

import json
import subprocess
import sys

import pytest
from django.db import connection
from owslib.ogcapi.features import Features

from layers.features.crs import OFFERED_URIS
from layers.ogc.conformance import CONFORMANCE_CLASSES, CRS84

EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
HUE = EPSG.format(9214)


def body(response) -> dict:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return json.loads(content)


def postgis(feature_id: int, srid: int, *, flip: bool = False) -> list[float]:
    """Return a point feature's coordinates as PostGIS transforms them (the oracle)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(geom, %s) AS g"
            " FROM layers_feature WHERE id = %s) AS t",
            [srid, feature_id],
        )
        x, y = cursor.fetchone()
    return [y, x] if flip else [x, y]


@pytest.mark.django_db
def test_conformance_declares_part_2():
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in CONFORMANCE_CLASSES


@pytest.mark.django_db
def test_collections_list_the_crs(api, hue_places):
    listing = api().get("/ogc/collections").json()
    assert listing["crs"] == list(OFFERED_URIS)
    nested = next(c for c in listing["collections"] if c["id"] == hue_places.slug)
    assert nested["crs"] == ["#/crs"]
    assert nested["storageCrs"] == CRS84
    collection = api().get(f"/ogc/collections/{hue_places.slug}").json()
    crs = collection["crs"]
    assert collection["storageCrs"] == CRS84 and CRS84 in crs
    codes = {4756, 3405, 3406, *range(9205, 9219)}
    vn2000 = [uri for uri in crs if uri[-4:].isdigit() and int(uri[-4:]) in codes]
    assert crs[:4] == [CRS84, EPSG.format(4326), EPSG.format(3857), HUE]
    assert len(vn2000) == 17 and vn2000[0] == HUE
    assert {EPSG.format(code) for code in (4756, 3405, 3406, *range(9205, 9219))} <= set(crs)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("srid", "flip", "digits"),
    [(9214, False, 3), (3405, False, 3), (3406, False, 3), (9218, False, 3), (3857, False, 3),
     (4326, True, 9), (4756, True, 9)],
)  # fmt: skip
def test_items_in_a_crs_equal_postgis_transform(api, hue_places, srid, flip, digits):
    answer = api().get(f"/ogc/collections/{hue_places.slug}/items", {"crs": EPSG.format(srid)})
    assert answer.status_code == 200
    assert answer["Content-Crs"] == f"<{EPSG.format(srid)}>"
    features = body(answer)["features"]
    assert len(features) == 8
    for feature in features:
        expected = postgis(feature["id"], srid, flip=flip)
        assert feature["geometry"]["coordinates"] == pytest.approx(expected, abs=10**-digits)
        assert "crs" not in feature["geometry"]
    one = features[0]
    item = api().get(
        f"/ogc/collections/{hue_places.slug}/items/{one['id']}", {"crs": EPSG.format(srid)}
    )
    assert item["Content-Crs"] == f"<{EPSG.format(srid)}>"
    assert item.json()["geometry"]["coordinates"] == one["geometry"]["coordinates"]


@pytest.mark.django_db
def test_hue_in_vn2000_is_where_surveyors_expect(api, hue_places):
    """Đại Nội in TM-3 107-00: easting ~561 km, northing ~1821 km (E, N order, metres)."""
    answer = api().get(f"/ogc/collections/{hue_places.slug}/items", {"crs": HUE, "limit": 1})
    easting, northing = body(answer)["features"][0]["geometry"]["coordinates"]
    assert 561_000 < easting < 562_500 and 1_821_000 < northing < 1_822_500
    assert easting == round(easting, 3)


@pytest.mark.django_db
def test_default_and_crs84_answer_lon_lat(api, hue_places):
    plain = api().get(f"/ogc/collections/{hue_places.slug}/items")
    assert plain["Content-Crs"] == f"<{CRS84}>"
    explicit = api().get(f"/ogc/collections/{hue_places.slug}/items", {"crs": CRS84})
    assert body(plain)["features"] == body(explicit)["features"]
    lon, lat = body(plain)["features"][0]["geometry"]["coordinates"]
    assert (lon, lat) == pytest.approx((107.5786, 16.4698))
    item = api().get(f"/ogc/collections/{hue_places.slug}/items/{body(plain)['features'][0]['id']}")
    assert item["Content-Crs"] == f"<{CRS84}>"


@pytest.mark.django_db
def test_bbox_crs_in_vn2000_selects_the_features_in_it(api, hue_places):
    # A box in TM-3 107-00 around the Citadel and the hospital, from PostGIS's own transform.
    inside = {"Đại Nội", "Cầu Trường Tiền", "Chợ Đông Ba"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(ST_X(g)) - 20, min(ST_Y(g)) - 20, max(ST_X(g)) + 20, max(ST_Y(g)) + 20"
            " FROM (SELECT ST_Transform(geom, 9214) AS g FROM layers_feature"
            " WHERE layer_id = %s AND attributes ->> 'ten' = ANY(%s)) AS t",
            [hue_places.pk, list(inside)],
        )
        box = cursor.fetchone()
        cursor.execute(
            "SELECT attributes ->> 'ten' FROM layers_feature WHERE layer_id = %s AND"
            " ST_Intersects(ST_Transform(geom, 9214), ST_MakeEnvelope(%s, %s, %s, %s, 9214))",
            [hue_places.pk, *box],
        )
        expected = {row[0] for row in cursor.fetchall()}
    assert inside <= expected and len(expected) < 8
    answer = api().get(
        f"/ogc/collections/{hue_places.slug}/items",
        {"bbox": ",".join(map(str, box)), "bbox-crs": HUE, "crs": HUE},
    )
    assert answer.status_code == 200
    features = body(answer)["features"]
    assert {f["properties"]["ten"] for f in features} == expected
    for feature in features:
        x, y = feature["geometry"]["coordinates"]
        assert box[0] <= x <= box[2] and box[1] <= y <= box[3]


@pytest.mark.django_db
def test_bbox_crs_epsg_4326_is_lat_lon_and_matches_crs84(api, hue_places):
    url = f"/ogc/collections/{hue_places.slug}/items"
    crs84 = body(api().get(url, {"bbox": "107.58,16.46,107.59,16.47"}))["features"]
    latlon = body(
        api().get(url, {"bbox": "16.46,107.58,16.47,107.59", "bbox-crs": EPSG.format(4326)})
    )["features"]
    assert crs84 and [f["id"] for f in crs84] == [f["id"] for f in latlon]
    mercator = body(
        api().get(
            url,
            {"bbox": "11975000,1857000,11976800,1858500", "bbox-crs": EPSG.format(3857)},
        )
    )["features"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM layers_feature WHERE layer_id = %s AND ST_Intersects(geom_3857,"
            " ST_MakeEnvelope(11975000, 1857000, 11976800, 1858500, 3857)) ORDER BY id",
            [hue_places.pk],
        )
        assert [f["id"] for f in mercator] == [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_crs_paging_keeps_the_crs(api, hue_places):
    answer = body(api().get(f"/ogc/collections/{hue_places.slug}/items", {"crs": HUE, "limit": 3}))
    following = next(link for link in answer["links"] if link["rel"] == "next")["href"]
    assert "crs=" in following
    second = api().get(following)
    assert second["Content-Crs"] == f"<{HUE}>"
    assert body(second)["features"][0]["geometry"]["coordinates"][0] > 500_000


@pytest.mark.django_db
def test_unsupported_crs_is_a_400_listing_the_offered(api, hue_places):
    item_id = body(api().get(f"/ogc/collections/{hue_places.slug}/items"))["features"][0]["id"]
    for path in (
        f"/ogc/collections/{hue_places.slug}/items",
        f"/ogc/collections/{hue_places.slug}/items/{item_id}",
    ):
        for value in (EPSG.format(2193), "EPSG:9214", "nonsense", ""):
            answer = api().get(path, {"crs": value})
            assert answer.status_code == 400, (path, value)
            error = answer.json()
            assert error["code"] == "InvalidParameterValue"
            assert error["parameter"] == "crs"
            assert HUE in error["description"] and CRS84 in error["description"]
    for params in (
        {"bbox": "1,2,3,4", "bbox-crs": EPSG.format(32648)},
        {"bbox": "1,2,3", "bbox-crs": HUE},
        {"bbox": "1e9,1e9,2e9,2e9", "bbox-crs": HUE},
        {"bbox": "107.5,16.4,107.6,16.5", "bbox-crs": EPSG.format(4326)},  # lon where lat goes
    ):
        answer = api().get(f"/ogc/collections/{hue_places.slug}/items", params)
        assert answer.status_code == 400, params
        assert answer.json()["parameter"] in {"bbox", "bbox-crs"}


@pytest.mark.django_db
def test_openapi_describes_crs_parameters(api):
    document = api().get("/ogc/api").json()
    items = document["paths"]["/collections/{collectionId}/items"]["get"]
    names = {p["name"]: p for p in items["parameters"]}
    assert names["crs"]["schema"]["format"] == "uri" and HUE in names["crs"]["schema"]["enum"]
    assert names["bbox-crs"]["schema"]["enum"] == list(OFFERED_URIS)
    assert "Content-Crs" in items["responses"]["200"]["headers"]
    item = document["paths"]["/collections/{collectionId}/items/{featureId}"]["get"]
    assert "crs" in {p["name"] for p in item["parameters"]}


# --- Real clients over HTTP -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_owslib_reads_items_in_vn2000(live_server, hue_places):
    service = Features(f"{live_server.url}/ogc")
    assert HUE in service.collection(hue_places.slug)["crs"]
    items = service.collection_items(hue_places.slug, crs=HUE, limit=8)
    assert len(items["features"]) == 8
    for feature in items["features"]:
        assert feature["geometry"]["coordinates"] == pytest.approx(
            postgis(feature["id"], 9214), abs=1e-3
        )


def gdal(*args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_gdal_3_6_ogr2ogr_reads_the_collection_and_reprojects(live_server, hue_places, tmp_path):
    """GDAL 3.6's OAPIF driver has no CRS open option (3.7 added it): it reads CRS84 and
    ogr2ogr reprojects on the client; the result agrees with our crs=EPSG:9214 to a millimetre."""
    target = tmp_path / "hue.geojson"
    gdal(
        "ogr2ogr", "-f", "GeoJSON", "-t_srs", "EPSG:9214", "-lco", "COORDINATE_PRECISION=4",
        str(target), f"OAPIF:{live_server.url}/ogc/collections/{hue_places.slug}",
    )  # fmt: skip
    features = json.loads(target.read_text())["features"]
    assert len(features) == 8
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attributes ->> 'ten', id FROM layers_feature WHERE layer_id = %s",
            [hue_places.pk],
        )
        ids = dict(cursor.fetchall())
    for feature in features:
        ours = postgis(ids[feature["properties"]["ten"]], 9214)
        assert feature["geometry"]["coordinates"] == pytest.approx(ours, abs=0.01)


# pyogrio's own GDAL, in another process: it holds the GIL while it fetches, so in this
# process the live server's thread could never answer it.
READ_OAPIF = """
import json, sys
import pyogrio, shapely
url = sys.argv[1]
meta, _, geometry, fields = pyogrio.raw.read(url, CRS="EPSG:9214")
names = fields[list(meta["fields"]).index("ten")]
points = [[p.x, p.y] for p in shapely.from_wkb(geometry)]
print(json.dumps({"crs": meta["crs"], "points": dict(zip(names.tolist(), points))}))
"""


@pytest.mark.django_db(transaction=True)
def test_gdal_oapif_asks_for_vn2000(live_server, hue_places):
    """GDAL 3.12 (pyogrio's) asks the server for EPSG:9214 with the OAPIF `CRS` open option
    and reads the coordinates as we wrote them."""
    url = f"OAPIF:{live_server.url}/ogc/collections/{hue_places.slug}"
    result = subprocess.run(
        [sys.executable, "-c", READ_OAPIF, url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert read["crs"] == "EPSG:9214"
    assert len(read["points"]) == 8
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attributes ->> 'ten', id FROM layers_feature WHERE layer_id = %s",
            [hue_places.pk],
        )
        ids = dict(cursor.fetchall())
    for name, point in read["points"].items():
        assert point == pytest.approx(postgis(ids[name], 9214), abs=1e-3)
