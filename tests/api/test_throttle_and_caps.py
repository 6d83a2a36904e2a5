"""Anonymous throttles on the heavy endpoints (429 in each API's error form, with Retry-After),
counted in Redis; identify's bounded radius; the vertex budget of an answer."""

import json

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.core.cache import caches

from layers.models import Feature
from layers.services import FeatureRecord, layer_replace_features
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rate(settings):
    """Return a function setting one throttle scope's rate for this test."""

    def set_rate(scope: str, value: str) -> None:
        rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], scope: value}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rate


def test_the_cache_is_redis():
    # Throttle counts must be shared by every gunicorn process: Django's cache on Redis.
    cache = caches["default"]
    assert type(cache).__name__ == "RedisCache"
    cache.set("probe", 1, 5)
    assert cache.get("probe") == 1


@pytest.mark.parametrize(
    ("scope", "url"),
    [
        ("search", "/api/v1/search/?q=Hue"),
        ("identify", "/api/v1/identify/?lon=107.58&lat=16.46"),
        ("features", "/api/v1/layers/dia-diem-hue/features/"),
        ("exports", "/api/v1/layers/dia-diem-hue/export.geojson"),
    ],
)
def test_anonymous_callers_are_throttled(api, hue_places, signed_in, rate, scope, url):
    rate(scope, "3/min")
    for _ in range(3):
        assert api().get(url).status_code == 200
    refused = api().get(url)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # Signed-in users are not throttled.
    for _ in range(5):
        assert api(signed_in).get(url).status_code == 200


def test_ogc_items_are_throttled_in_the_ogc_error_form(api, hue_places, rate):
    rate("features", "2/min")
    url = f"/ogc/collections/{hue_places.slug}/items"
    assert api().get(url).status_code == 200
    assert api().get(url).status_code == 200
    refused = api().get(url)
    assert refused.status_code == 429
    # OGC's code and description, and OGC API - Common's problem details (docs/api.md, Errors).
    assert set(refused.json()) == {"code", "description", "title", "status", "detail"}
    assert refused.json()["code"] == "TooManyRequests" and refused.json()["status"] == 429
    assert int(refused["Retry-After"]) > 0


def test_api_login_is_throttled(api, rate):
    rate("login", "2/min")
    for _ in range(2):
        answer = api().post("/api/v1/auth/login/", {"username": "x", "password": "y"})
        assert answer.status_code == 400
    assert api().post("/api/v1/auth/login/", {"username": "x", "password": "y"}).status_code == 429


def test_identify_radius_is_bounded_at_low_zooms(api, category):
    layer = LayerFactory(slug="xa", category=category, geometry_type="point")
    # 50 km north of the click: 20 px at zoom 0 (1,500 km) would reach it.
    layer_replace_features(
        layer=layer, records=[FeatureRecord(geom=Point(107.58, 16.91, srid=4326), attributes={})]
    )
    answer = (
        api()
        .get("/api/v1/identify/", {"lon": 107.58, "lat": 16.46, "zoom": 0, "tolerance": 20})
        .json()
    )
    assert answer["features"] == []
    assert answer["tolerance_m"] < 10_000


@pytest.fixture
def squares(category):
    """Three squares of 5 vertices each (closed rings)."""
    layer = LayerFactory(slug="o-vuong", category=category, geometry_type="polygon")
    layer_replace_features(
        layer=layer,
        records=[
            FeatureRecord(
                geom=Polygon.from_bbox((107.5 + i / 100, 16.4, 107.505 + i / 100, 16.405)),
                attributes={"so": i},
            )
            for i in range(3)
        ],
    )
    return layer


def test_a_page_stops_at_the_vertex_budget_and_links_on(api, squares, settings):
    settings.API_MAX_VERTICES = 12
    url = f"/api/v1/layers/{squares.slug}/features/"
    first = api().get(url, {"limit": 10}).json()
    assert first["numberReturned"] == 2
    assert first["next"]
    second = api().get(first["next"]).json()
    assert [f["properties"]["so"] for f in second["features"]] == [2]
    assert second["next"] is None
    # The OGC API pages the same way, streamed pages included.
    streamed = api().get(f"/ogc/collections/{squares.slug}/items", {"limit": 5000})
    ogc = json.loads(b"".join(streamed.streaming_content))
    assert ogc["numberReturned"] == 2
    assert any(link["rel"] == "next" for link in ogc["links"])


def test_a_feature_over_the_vertex_budget_is_refused(api, squares, settings):
    settings.API_MAX_VERTICES = 4
    url = f"/api/v1/layers/{squares.slug}/features/"
    refused = api().get(url)
    assert refused.status_code == 413
    assert refused.json()["code"] == "too-large"
    assert "vector tiles" in refused.json()["detail"]
    assert api().get(url, {"limit": 1, "properties": ""}).status_code == 413
    one = Feature.objects.filter(layer=squares).first()
    assert api().get(f"{url}{one.pk}/").status_code == 413
    assert api().get(f"/ogc/collections/{squares.slug}/items/{one.pk}").status_code == 413
    assert api().get(f"/ogc/collections/{squares.slug}/items", {"limit": 5000}).status_code == 413
    # Exports are files: they carry whole geometries.
    assert api().get(f"/api/v1/layers/{squares.slug}/export.geojson").status_code == 200


@pytest.mark.parametrize("max_vertices, omitted", [(4, True), (5, False)])
def test_identify_geometries_past_the_budget_are_omitted(
    api, squares, settings, max_vertices, omitted
):
    settings.API_MAX_VERTICES = max_vertices  # a square has 5 vertices (closed ring)
    params = {"lon": 107.5025, "lat": 16.4025, "zoom": 16, "geometry": "true"}
    answer = api().get("/api/v1/identify/", {**params, "layers": squares.slug}).json()
    [feature] = answer["features"]
    if omitted:
        assert feature["geometry"] is None and feature["geometry_omitted"] is True
    else:
        assert feature["geometry"]["type"] == "Polygon" and "geometry_omitted" not in feature


def test_a_made_up_forwarded_address_does_not_dodge_the_throttle(api, hue_places, rate):
    rate("search", "2/min")
    url = "/api/v1/search/?q=Hue"
    answers = [api().get(url, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(3)]
    assert answers == [200, 200, 429]


def test_behind_a_proxy_each_client_is_counted_on_its_own(api, hue_places, rate, settings):
    settings.NUM_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rate("search", "2/min")
    url = "/api/v1/search/?q=Hue"

    def get(client_address: str) -> int:
        # nginx appends the address it saw to what the client sent.
        forwarded = f"198.51.100.7, {client_address}"
        return api().get(url, HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [get("203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert get("203.0.113.2") == 200
