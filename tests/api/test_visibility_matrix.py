"""Who sees what, asked of every endpoint: anonymous, signed-in, group member and staff, for public,
internal and restricted layers, and for public layers still importing or whose import failed (only
staff see those). What may not be seen is 404, and never shows in a list, a search, an identify
answer, an export, a tile, the web map's catalogue or the investor page."""

import json
import math

import pytest
from django.contrib.gis.geos import Point, Polygon

from layers.models import Feature, Layer
from layers.services import FeatureRecord, layer_append_features
from tests.factories import CategoryFactory, LayerFactory

pytestmark = pytest.mark.django_db

USERS = ("anonymous", "signed_in", "member", "staff")
# "importing" and "failed" are public layers in that status: visible to staff alone.
KINDS = ("public", "internal", "restricted", "importing", "failed")
SEES = {
    "anonymous": {"public"},
    "signed_in": {"public", "internal"},
    "member": {"public", "internal", "restricted"},
    "staff": {"public", "internal", "restricted", "importing", "failed"},
}
LON, LAT = 107.5905, 16.4637
ZOOM = 14


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    lat_r = math.radians(lat)
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n)
    return x, y


@pytest.fixture
def world(layers_by_visibility, category):
    """Each layer holds one feature, at the same place, named after its kind."""
    layers = dict(layers_by_visibility)
    for status in ("importing", "failed"):
        layers[status] = LayerFactory(
            slug=f"{status}-layer", category=category, visibility="public", status="ready"
        )
    features = {}
    for kind, layer in layers.items():
        layer.attribute_schema = [{"name": "ten", "type": "text"}]
        layer.save()
        layer_append_features(
            layer=layer,
            records=[FeatureRecord(Point(LON, LAT, srid=4326), {"ten": f"Điểm mật {kind}"})],
        )
        features[kind] = Feature.objects.get(layer=layer)
    for status in ("importing", "failed"):
        # Data first, then the status, as an import leaves them (and its tiles were dropped).
        Layer.objects.filter(pk=layers[status].pk).update(status=status)
        layers[status].refresh_from_db()
    return {"layers": layers, "features": features}


def read(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def detail_urls(slug: str, feature_id: int) -> list[str]:
    x, y = tile_of(LON, LAT, ZOOM)
    return [
        f"/api/v1/layers/{slug}/",
        f"/api/v1/layers/{slug}/features/",
        f"/api/v1/layers/{slug}/features/{feature_id}/",
        f"/api/v1/layers/{slug}/export.geojson",
        f"/api/v1/layers/{slug}/export.csv",
        f"/api/v1/layers/{slug}/export.gpkg",
        f"/api/v1/layers/{slug}/export.shp.zip",
        f"/ogc/collections/{slug}",
        f"/ogc/collections/{slug}/items",
        f"/ogc/collections/{slug}/items/{feature_id}",
        f"/tiles/{slug}.json",
        f"/tiles/{slug}/{ZOOM}/{x}/{y}.pbf",
        f"/api/v1/search/?q=diem+mat&layers={slug}",
        f"/api/v1/identify/?lon={LON}&lat={LAT}&zoom=16&layers={slug}",
    ]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_endpoint_about_one_layer(request, api, world, who, kind):
    user = request.getfixturevalue(who)
    client = api(user)
    layer, feature = world["layers"][kind], world["features"][kind]
    visible = kind in SEES[who]
    for url in detail_urls(layer.slug, feature.pk):
        response = client.get(url)
        content = read(response)
        if visible:
            # GeoPackage and Shapefile are made by a worker: See Other, to the export job.
            expected = 303 if url.endswith((".gpkg", ".shp.zip")) else 200
            assert response.status_code == expected, (url, response.status_code, content[:200])
        else:
            assert response.status_code == 404, (url, response.status_code)
            assert "Điểm mật".encode() not in content


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize("kind", KINDS)
def test_writes_to_a_layer_one_may_not_see_are_not_found(request, api, world, who, kind):
    user = request.getfixturevalue(who)
    client = api(user)
    layer, feature = world["layers"][kind], world["features"][kind]
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT]},
            "properties": {"ten": "x"}}  # fmt: skip
    answers = [
        client.post(f"/api/v1/layers/{layer.slug}/features/", body, format="json"),
        client.put(f"/api/v1/layers/{layer.slug}/features/{feature.pk}/", body, format="json"),
        client.patch(f"/api/v1/layers/{layer.slug}/features/{feature.pk}/", {}, format="json"),
        client.patch(f"/api/v1/layers/{layer.slug}/", {"title_en": "x"}, format="json"),
    ]
    refused = 401 if who == "anonymous" else 403  # sign in (or send a token) first
    expected = 404 if kind not in SEES[who] else (200 if who == "staff" else refused)
    for answer in answers[1:]:
        assert answer.status_code == expected
    assert answers[0].status_code == (201 if expected == 200 else expected)
    deleted = client.delete(f"/api/v1/layers/{layer.slug}/features/{feature.pk}/")
    assert deleted.status_code == (204 if expected == 200 else expected)


@pytest.mark.parametrize("who", USERS)
def test_lists_search_and_identify_show_only_what_one_may_see(request, api, world, who):
    user = request.getfixturevalue(who)
    client = api(user)
    slugs = {world["layers"][kind].slug for kind in SEES[who]}
    secrets = {f"Điểm mật {kind}" for kind in SEES[who]}

    assert {layer["slug"] for layer in client.get("/api/v1/layers/").json()} == slugs
    categories = client.get("/api/v1/categories/").json()
    assert [c["layer_count"] for c in categories] == [len(slugs)]
    collections = client.get("/ogc/collections").json()["collections"]
    assert {c["id"] for c in collections} == slugs

    hits = client.get("/api/v1/search/", {"q": "diem mat"}).json()["results"]
    assert {hit["layer"] for hit in hits} == slugs
    assert {hit["name"] for hit in hits} == secrets

    found = client.get("/api/v1/identify/", {"lon": LON, "lat": LAT, "zoom": 16}).json()
    assert {f["layer"] for f in found["features"]} == slugs
    assert {f["properties"]["ten"] for f in found["features"]} == secrets

    # A composite tile silently leaves out what one may not see; its TileJSON likewise.
    all_slugs = ",".join(world["layers"][kind].slug for kind in KINDS)
    tilejson = client.get(f"/tiles/{all_slugs}.json")
    assert tilejson.status_code == 200
    assert {layer["id"] for layer in json.loads(tilejson.content)["vector_layers"]} == slugs


@pytest.fixture
def investment_parcels(settings):
    """One polygon parcel layer of the investment category per status, each with one parcel."""
    category = CategoryFactory(slug=settings.WEBMAP_INVESTMENT_CATEGORY)
    parcel = Polygon.from_bbox((LON, LAT, LON + 0.001, LAT + 0.001))
    layers = {}
    for status in ("ready", "importing", "failed"):
        layer = LayerFactory(
            slug=f"lo-dat-{status}",
            category=category,
            visibility="public",
            geometry_type="polygon",
            attribute_schema=[{"name": "ten", "type": "text"}],
        )
        layer_append_features(
            layer=layer, records=[FeatureRecord(parcel, {"ten": f"Lô đất {status}"})]
        )
        Layer.objects.filter(pk=layer.pk).update(status=status)
        layers[status] = layer
    return layers


@pytest.mark.parametrize("who", USERS)
def test_the_web_map_and_the_investor_page_list_only_ready_layers(
    request, client, investment_parcels, who
):
    user = request.getfixturevalue(who)
    if user.is_authenticated:
        client.force_login(user)
    map_page = client.get("/").content.decode()
    investors = client.get("/investors/").content.decode()
    assert "lo-dat-ready" in map_page
    assert "Lô đất ready" in investors
    for status in ("importing", "failed"):
        # Staff see every layer through the API; the map and the investor page are for
        # finished data, so they leave these out for everyone.
        if who != "staff":
            assert f"lo-dat-{status}" not in map_page
            assert f"Lô đất {status}" not in investors
