"""The OpenAPI schema at /api/schema/, the docs at /api/docs/ with no internet, and a schemathesis
run over the schema (as GIS staff, so writes are tried too) that must find no server error."""

import re
import zlib

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error

from layers.models import Feature


@pytest.mark.django_db
def test_the_schema_describes_every_endpoint(api):
    response = api().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {
        "/api/v1/categories/",
        "/api/v1/layers/",
        "/api/v1/layers/{slug}/",
        "/api/v1/layers/{slug}/features/",
        "/api/v1/layers/{slug}/features/{feature_id}/",
        "/api/v1/search/",
        "/api/v1/identify/",
    } <= paths
    assert any("export" in path for path in paths)
    features = schema["paths"]["/api/v1/layers/{slug}/features/"]
    assert {p["name"] for p in features["get"]["parameters"]} >= {
        "bbox", "q", "properties", "sortby", "limit", "offset"
    }  # fmt: skip
    assert set(features["post"]["responses"]) >= {"201", "400", "403", "404"}


@pytest.mark.django_db
def test_the_docs_load_nothing_from_outside(api):
    response = api().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    # Every script, style sheet and icon is one of our own static files.
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset
    assert any("swagger-ui-bundle.js" in asset for asset in assets)
    # The page's own script (Swagger UI's set-up) is also served by us.
    assert "/api/schema/" in html or any("swagger-ui-init" in a or "?" in a for a in assets)


# Loaded when the tests are collected (generating the schema asks nothing of the database).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _private_media(tmp_path):
    """The attachments and exports the generated requests make go to this test's own folder,
    not the server's var/media."""
    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        yield


@pytest.fixture
def staff_token(db, staff):
    return AuthToken.objects.create(user=staff)[1]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Call the WSGI app as Django's test client does: without closing the test's connection
    (and its transaction) at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_a_server_error(
    case, hue_places, staff_token, wsgi_keeps_the_test_connection
):
    # Aim half of the requests at a real layer and feature, so that filters, bodies and writes
    # reach the code behind the 404.
    slug = (case.path_parameters or {}).get("slug")
    if slug is not None and zlib.crc32(str(slug).encode()) % 2 == 0:
        case.path_parameters["slug"] = hue_places.slug
        if "feature_id" in case.path_parameters:
            feature = Feature.objects.filter(layer=hue_places).first()
            if feature is not None:
                case.path_parameters["feature_id"] = feature.pk
    case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"},
        checks=[not_a_server_error],
    )
