"""OGC API - Features under /ogc/: its documents, media types, links and paging; then what real
clients make of it over HTTP: GDAL's OAPIF driver (ogrinfo, ogr2ogr) and OWSLib."""

import json
import subprocess

import pytest
from django.contrib.gis.geos import Point
from knox.models import AuthToken
from owslib.ogcapi.features import Features

from layers.models import Feature
from layers.ogc.conformance import CONFORMANCE_CLASSES
from layers.services import FeatureRecord, layer_append_features
from tests.api.conftest import HUE_PLACES
from tests.factories import LayerFactory


def body(response) -> dict:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return json.loads(content)


@pytest.mark.django_db
def test_landing_page_links_the_parts(api):
    response = api().get("/ogc/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    links = {link["rel"]: link for link in response.json()["links"]}
    assert links["self"]["href"] == "http://testserver/ogc/"
    assert links["service-desc"]["href"] == "http://testserver/ogc/api"
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert links["data"]["href"] == "http://testserver/ogc/collections"
    assert api().get(links["service-doc"]["href"]).status_code == 200


@pytest.mark.django_db
def test_conformance_and_api_definition(api):
    conformance = api().get("/ogc/conformance", {"f": "json"}).json()["conformsTo"]
    assert set(conformance) == set(CONFORMANCE_CLASSES)
    assert any(c.endswith("/conf/core") for c in conformance)
    definition = api().get("/ogc/api")
    assert definition["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    document = definition.json()
    assert document["openapi"].startswith("3.0")
    assert "/collections/{collectionId}/items" in document["paths"]


@pytest.mark.django_db
def test_collections_describe_the_layers(api, hue_places):
    collections = api().get("/ogc/collections").json()["collections"]
    hue = next(c for c in collections if c["id"] == hue_places.slug)
    assert hue["title"] == "Địa điểm Huế"
    assert hue["itemType"] == "feature"
    bbox = hue["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx([107.5454, 16.4339, 107.5952, 16.4727])
    links = {link["rel"]: link for link in hue["links"]}
    assert links["items"]["type"] == "application/geo+json"
    assert links["items"]["href"] == f"http://testserver/ogc/collections/{hue_places.slug}/items"
    one = api().get(f"/ogc/collections/{hue_places.slug}").json()
    assert one["id"] == hue_places.slug


@pytest.mark.django_db
def test_items_are_paged_with_links(api, hue_places):
    url = f"/ogc/collections/{hue_places.slug}/items"
    response = api().get(url, {"limit": 3, "offset": 3})
    assert response["Content-Type"] == "application/geo+json"
    page = body(response)
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == 8 and page["numberReturned"] == 3
    assert page["timeStamp"]
    links = {link["rel"]: link["href"] for link in page["links"]}
    assert "offset=6" in links["next"] and "offset=0" in links["prev"]
    assert links["collection"] == f"http://testserver/ogc/collections/{hue_places.slug}"
    # Asking for more than the maximum gives the maximum, not an error.
    assert body(api().get(url, {"limit": 50000}))["numberReturned"] == 8
    inside = body(api().get(url, {"bbox": "107.57,16.465,107.595,16.48"}))
    assert inside["numberMatched"] == 3
    by_property = body(api().get(url, {"loai": "chùa"}))
    assert [f["properties"]["ten"] for f in by_property["features"]] == ["Chùa Thiên Mụ"]


@pytest.mark.django_db
def test_one_item_and_errors(api, hue_places):
    feature = Feature.objects.get(layer=hue_places, name="Đại Nội")
    url = f"/ogc/collections/{hue_places.slug}/items/{feature.pk}"
    response = api().get(url)
    assert response["Content-Type"] == "application/geo+json"
    item = body(response)
    assert item["id"] == feature.pk
    assert {link["rel"] for link in item["links"]} == {"self", "collection"}
    for path, params, status in (
        (f"/ogc/collections/{hue_places.slug}/items/999999999", {}, 404),
        (f"/ogc/collections/{hue_places.slug}/items/abc", {}, 404),
        ("/ogc/collections/khong-co", {}, 404),
        (f"/ogc/collections/{hue_places.slug}/items", {"limit": "0"}, 400),
        (f"/ogc/collections/{hue_places.slug}/items", {"bbox": "1,2"}, 400),
        (f"/ogc/collections/{hue_places.slug}/items", {"bbox-crs": "EPSG:3857"}, 400),
        (f"/ogc/collections/{hue_places.slug}/items", {"khong_co": "1"}, 400),
        (f"/ogc/collections/{hue_places.slug}/items", {"so_tang__gt": "1"}, 400),
        ("/ogc/collections", {"f": "xml"}, 400),
    ):
        answer = api().get(path, params)
        assert answer.status_code == status, (path, params)
        error = answer.json()
        assert error["code"] == {400: "InvalidParameterValue", 404: "NotFound"}[status]
        assert error["description"]


# --- Real clients over HTTP -----------------------------------------------------------------------


def gdal(*args: str, token: str | None = None) -> str:
    config = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Token {token}"] if token else []
    result = subprocess.run(
        [*args[:1], *config, *args[1:]], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_ogrinfo_lists_the_visible_collections(live_server, layers_by_visibility, member):
    url = f"OAPIF:{live_server.url}/ogc"
    listing = gdal("ogrinfo", "-ro", "-q", url)
    assert "public-layer" in listing
    assert "internal-layer" not in listing and "restricted-layer" not in listing
    _, token = AuthToken.objects.create(user=member)
    signed_in = gdal("ogrinfo", "-ro", "-q", url, token=token)
    for slug in ("public-layer", "internal-layer", "restricted-layer"):
        assert slug in signed_in


@pytest.mark.django_db(transaction=True)
def test_ogr2ogr_copies_a_whole_collection(live_server, category, tmp_path):
    layer = LayerFactory(slug="cay-xanh", category=category, attribute_schema=[
        {"name": "ten", "type": "text"}, {"name": "so", "type": "integer"}])  # fmt: skip
    layer_append_features(
        layer=layer,
        records=[
            FeatureRecord(Point(107.55 + i * 1e-4, 16.45, srid=4326), {"ten": f"Cây sao {i}",
                                                                      "so": i})
            for i in range(137)
        ],
    )  # fmt: skip
    target = tmp_path / "copy.geojson"
    # A small page, so that the copy has to follow the next links through many pages.
    gdal(
        "ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{live_server.url}/ogc", "cay-xanh",
        "-oo", "PAGE_SIZE=20",
    )  # fmt: skip
    features = json.loads(target.read_text())["features"]
    assert len(features) == 137
    assert sorted(f["properties"]["so"] for f in features) == list(range(137))
    assert {f["properties"]["ten"] for f in features} == {f"Cây sao {i}" for i in range(137)}
    assert features[0]["geometry"]["type"] == "Point"


@pytest.mark.django_db(transaction=True)
def test_owslib_reads_collections_and_items(live_server, hue_places, layers_by_visibility):
    service = Features(f"{live_server.url}/ogc")
    assert service.conformance()["conformsTo"]
    ids = {collection["id"] for collection in service.collections()["collections"]}
    assert ids == {hue_places.slug, "public-layer"}
    assert service.collection(hue_places.slug)["title"] == "Địa điểm Huế"
    items = service.collection_items(hue_places.slug, limit=5)
    assert items["numberMatched"] == len(HUE_PLACES)
    assert len(items["features"]) == 5
    feature = service.collection_item(hue_places.slug, items["features"][0]["id"])
    assert feature["properties"]["ten"] == HUE_PLACES[0][0]
