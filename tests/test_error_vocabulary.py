# ruff: noqa: F811  (the fixtures imported from tests.api.conftest are used as arguments)
"""One error vocabulary: each kind of error gives the same status through the REST API, the OGC
API and the tiles, with the surface's code and body shape (layers/api/errors.py)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.gis.geos import Point
from rest_framework import exceptions

from layers import errors
from layers.api.errors import error_answer, ogc_body, rest_body
from layers.models import Feature
from tests.api.conftest import _private_tile_cache, api, hue_places  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

REST = "/api/v1/layers/dia-diem-hue/features/"
OGC = "/ogc/collections/dia-diem-hue/items"


def all_errors(cls=errors.LayerError):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_errors(sub)


def assert_rest(response, status, code, parameter=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"], body
    assert "description" not in body
    if parameter:
        assert body["parameter"] == parameter


def assert_ogc(response, status, code, parameter=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["description"], body
    # The problem details of OGC API - Common (RFC 7807) beside OGC's code and description.
    assert body["status"] == status and body["detail"] == body["description"] and body["title"]
    if parameter:
        assert body["parameter"] == parameter


def feature(lon, lat, **properties):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


# --- the vocabulary itself ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(all_errors()), ids=lambda cls: cls.__name__)
def test_every_domain_error_names_its_own_status_and_codes(cls):
    # Declared on the class itself: a new error cannot pass with its parent's OGC code unseen.
    assert "ogc_code" in vars(cls) and "code" in vars(cls) and "http_status" in vars(cls)
    error = cls("Something is wrong.", parameter="x", more=1)
    answer = error_answer(error)
    assert (answer.status, answer.code, answer.ogc_code) == (
        cls.http_status,
        cls.code,
        cls.ogc_code,
    )
    assert rest_body(answer) == {
        "code": cls.code,
        "detail": "Something is wrong.",
        "parameter": "x",
        "more": 1,
    }
    assert ogc_body(answer) == {
        "code": cls.ogc_code,
        "description": "Something is wrong.",
        "title": HTTPStatus(cls.http_status).phrase,
        "status": cls.http_status,
        "detail": "Something is wrong.",
        "parameter": "x",
        "more": 1,
    }


@pytest.mark.parametrize(
    ("exc", "status", "code", "ogc_code"),
    [
        (exceptions.NotAuthenticated(), 401, "not-authenticated", "NotAuthenticated"),
        (exceptions.PermissionDenied(), 403, "permission-denied", "Forbidden"),
        (exceptions.MethodNotAllowed("PUT"), 405, "method-not-allowed", "MethodNotAllowed"),
        (
            exceptions.UnsupportedMediaType("a/b"),
            415,
            "unsupported-media-type",
            "UnsupportedMediaType",
        ),
        (exceptions.Throttled(wait=7), 429, "throttled", "TooManyRequests"),
        (
            exceptions.ValidationError({"limit": ["Not a number."]}),
            400,
            "invalid",
            "InvalidParameterValue",
        ),
    ],
)
def test_drf_errors_speak_the_same_vocabulary(exc, status, code, ogc_code):
    answer = error_answer(exc)
    assert (answer.status, answer.code, answer.ogc_code) == (status, code, ogc_code)
    if isinstance(exc, exceptions.Throttled):
        assert answer.headers["Retry-After"] == "7"
    if isinstance(exc, exceptions.ValidationError):
        assert answer.parameter == "limit" and answer.detail == "Not a number."


def test_an_unknown_exception_is_left_to_be_a_500():
    assert error_answer(RuntimeError("boom")) is None


# --- the same error through each surface --------------------------------------------------------


def test_not_found_through_each_surface(api, hue_places):
    client = api()
    assert_rest(client.get("/api/v1/layers/nowhere/"), 404, "not-found")
    assert_rest(client.get(f"{REST}999999999/"), 404, "not-found")
    assert_ogc(client.get("/ogc/collections/nowhere"), 404, "NotFound")
    assert_ogc(client.get(f"{OGC}/999999999"), 404, "NotFound")
    tile = client.get("/tiles/nowhere/3/6/3.pbf")
    assert_rest(tile, 404, "not-found")
    assert tile["Cache-Control"] == "no-store"
    assert_rest(client.get("/tiles/nowhere.json"), 404, "not-found")


def test_an_invalid_parameter_through_each_surface(api, hue_places):
    client = api()
    assert_rest(client.get(REST, {"limit": "abc"}), 400, "invalid-parameter", "limit")
    assert_ogc(client.get(OGC, {"limit": "abc"}), 400, "InvalidParameterValue", "limit")
    tile = client.get("/tiles/dia-diem-hue/3/6/3.pbf", {"as_of": "not a time"})
    assert_rest(tile, 400, "invalid-parameter", "as_of")
    assert_rest(client.get("/tiles/dia-diem-hue/3/99/3.pbf"), 400, "invalid-parameter")
    assert_rest(client.get("/tiles/dia-diem-hue/99/0/0.pbf"), 400, "invalid-parameter")


def test_invalid_data_through_each_surface(api, hue_places, staff):
    client = api(staff)
    bad = feature(107.5, 16.4, so_tang="ba")
    assert_rest(client.post(REST, bad, format="json"), 400, "invalid-data", "properties.so_tang")
    assert_ogc(client.post(OGC, bad, format="json"), 400, "InvalidValue", "properties.so_tang")


def test_forbidden_through_each_surface(api, hue_places, signed_in):
    client = api(signed_in)
    good = feature(107.5, 16.4, ten="x")
    assert_rest(client.post(REST, good, format="json"), 403, "permission-denied")
    assert_ogc(client.post(OGC, good, format="json"), 403, "Forbidden")
    seed = client.post("/api/v1/layers/dia-diem-hue/tiles/seed/", {}, format="json")
    assert_rest(seed, 403, "permission-denied")


def test_a_drf_validation_error_in_the_tile_job_api_is_the_rest_shape(api, hue_places, staff):
    response = api(staff).post(
        "/api/v1/layers/dia-diem-hue/tiles/seed/", {"min_zoom": 9, "max_zoom": 3}, format="json"
    )
    assert_rest(response, 400, "invalid", "min_zoom")
    assert "errors" in response.json()


def test_method_not_allowed_through_each_surface(api, hue_places):
    client = api()
    assert_rest(client.delete("/api/v1/layers/"), 405, "method-not-allowed")
    assert_ogc(client.delete("/ogc/conformance"), 405, "MethodNotAllowed")
    assert client.post("/tiles/dia-diem-hue/3/6/3.pbf").status_code == 405


def test_a_stale_write_is_409_in_rest_and_412_in_ogc_both_with_both_versions(
    api, hue_places, staff
):
    target = Feature.objects.filter(layer=hue_places).order_by("id").first()
    stale = f'"{target.pk}-{target.version}"'
    client = api(staff)
    assert client.patch(f"{REST}{target.pk}/", {"properties": {"so_tang": 4}}, format="json")
    rest = client.patch(
        f"{REST}{target.pk}/", {"properties": {"so_tang": 5}}, format="json", HTTP_IF_MATCH=stale
    )
    ogc = client.patch(
        f"{OGC}/{target.pk}", {"properties": {"so_tang": 5}}, format="json", HTTP_IF_MATCH=stale
    )
    assert_rest(rest, 409, "conflict")
    assert_ogc(ogc, 412, "PreconditionFailed", "If-Match")
    for body in (rest.json(), ogc.json()):
        assert body["current"]["properties"]["so_tang"] == 4
        assert body["yours"]["version"] == target.version
    assert Feature.objects.get(pk=target.pk).geom == Point(107.5786, 16.4698, srid=4326)
