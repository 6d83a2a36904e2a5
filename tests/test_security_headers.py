"""HTTP headers that keep answers where they belong: cache headers by who asked, the
Content-Security-Policy on pages, and the TLS settings that `check --deploy` asks for."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from knox.models import AuthToken
from rest_framework.test import APIClient

from layers.services import FeatureRecord, layer_append_features
from mapserver.deployment import ENV_EXAMPLE, settings_file_values
from tests.tiles.conftest import tile_and_pixel

ROOT = Path(__file__).resolve().parent.parent
LON, LAT = 107.5905, 16.4637
X, Y, _, _ = tile_and_pixel(LON, LAT, 14)


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def vary(response) -> set[str]:
    return {part.strip().lower() for part in response.get("Vary", "").split(",")}


@pytest.fixture
def world(layers_by_visibility, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    for layer in layers_by_visibility.values():
        layer_append_features(
            layer=layer, records=[FeatureRecord(Point(LON, LAT, srid=4326), {"ten": "Điểm"})]
        )
    return layers_by_visibility


def personal_urls(slug: str) -> list[str]:
    return [
        f"/api/v1/layers/{slug}/",
        f"/api/v1/layers/{slug}/features/",
        f"/api/v1/layers/{slug}/export.csv",
        f"/api/v1/layers/{slug}/export.geojson",
        f"/ogc/collections/{slug}",
        f"/ogc/collections/{slug}/items",
        "/api/v1/layers/",
        "/ogc/collections",
        f"/api/v1/search/?q=diem&layers={slug}",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["internal", "public"])
def test_answers_to_a_signed_in_user_are_private_and_not_stored(world, signed_in, kind):
    client = APIClient()
    client.force_login(signed_in)
    for url in personal_urls(world[kind].slug):
        response = client.get(url)
        assert response.status_code == 200, url
        assert {"private", "no-store"} <= cache_control(response), url
        assert {"authorization", "cookie"} <= vary(response), url


@pytest.mark.django_db
def test_answers_to_a_token_are_private_and_not_stored(world, signed_in):
    _, token = AuthToken.objects.create(user=signed_in)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    for url in personal_urls(world["internal"].slug):
        response = client.get(url)
        assert response.status_code == 200, url
        assert {"private", "no-store"} <= cache_control(response), url
        assert {"authorization", "cookie"} <= vary(response), url
    # A refused token gets no answer a cache could keep for others either.
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    refused = client.get("/api/v1/layers/")
    assert "no-store" in cache_control(refused)


@pytest.mark.django_db
def test_anonymous_answers_vary_on_who_asks(world, client):
    response = client.get(f"/api/v1/layers/{world['public'].slug}/")
    assert response.status_code == 200
    assert "no-store" not in cache_control(response)
    assert {"authorization", "cookie"} <= vary(response)


@pytest.mark.django_db
def test_tiles_keep_the_cache_policy_of_their_layer(world, client, signed_in):
    public = client.get(f"/tiles/{world['public'].slug}/14/{X}/{Y}.pbf")
    assert public.status_code == 200
    assert "public" in cache_control(public)
    assert "no-store" not in cache_control(public)  # the same bytes for everyone
    client.force_login(signed_in)
    public_signed_in = client.get(f"/tiles/{world['public'].slug}/14/{X}/{Y}.pbf")
    assert "public" in cache_control(public_signed_in)
    private = client.get(f"/tiles/{world['internal'].slug}/14/{X}/{Y}.pbf")
    assert private.status_code == 200
    assert "private" in cache_control(private)
    assert "public" not in cache_control(private)
    assert {"authorization", "cookie"} <= vary(private)


def csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (directive.split() for directive in header.split(";") if directive)
    }


def inline_scripts(html: str) -> list[str]:
    """Return the opening tags of scripts that run inline (no src, not a JSON data block)."""
    tags = re.findall(r"<script\b[^>]*>", html)
    return [tag for tag in tags if "src=" not in tag and "application/json" not in tag]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/investors/", "/admin/login/", "/api/docs/"])
def test_pages_carry_a_csp_that_allows_only_their_own_scripts(client, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    script_src = policy["script-src"]
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "blob:" in policy["worker-src"]  # MapLibre's worker
    nonces = [value for value in script_src if value.startswith("'nonce-")]
    assert_inline_scripts_carry_the_nonce(response, nonces)


def assert_inline_scripts_carry_the_nonce(response, nonces: list[str]) -> None:
    for tag in inline_scripts(response.content.decode()):
        # Each inline script carries this answer's nonce, or the browser refuses to run it.
        assert nonces, (response.request["PATH_INFO"], tag)
        assert f'nonce="{nonces[0][7:-1]}"' in tag, (response.request["PATH_INFO"], tag)


@pytest.mark.django_db
def test_the_admin_map_has_no_inline_script(client, staff, world):
    client.force_login(staff)
    response = client.get(f"/admin/layers/layer/{world['public'].pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    # The widget's options are a JSON block; its script is a file (layers/admin/...js).
    assert 'class="city-map-options"' in html
    assert "city_map_widget.js" in html
    assert "new MapWidget" not in html
    nonces = [value for value in csp(response)["script-src"] if value.startswith("'nonce-")]
    assert_inline_scripts_carry_the_nonce(response, nonces)


def run_check_deploy(**env: str) -> subprocess.CompletedProcess:
    # Not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE (set in this process): a deployment has none.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {
        **inherited,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "maps.hue.example",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def reported_checks(output: str) -> set[str]:
    return set(re.findall(r"^\S*: \(([a-z_]+\.[EWI]\d+)\)", output, flags=re.MULTILINE))


def test_check_deploy_is_clean_behind_tls():
    result = run_check_deploy(BEHIND_TLS="true")
    output = result.stdout + result.stderr
    # Every check passes, Django's security ones and drf-spectacular's schema warnings alike:
    # only gis.W001 and security.W021 (HSTS preload, see settings) are silenced.
    assert result.returncode == 0, output
    assert reported_checks(output) == set(), output
    assert "(2 silenced)" in output, output


def test_check_deploy_is_clean_with_the_production_settings_template():
    # deploy/mapserver.env.example as an administrator fills it: only the secret key is blank.
    values = settings_file_values(ENV_EXAMPLE.read_text(encoding="utf-8"))
    result = run_check_deploy(**{**values, "SECRET_KEY": secrets.token_urlsafe(50)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert reported_checks(output) == set(), output
    assert "(2 silenced)" in output, output


def test_check_deploy_warns_without_tls_settings():
    result = run_check_deploy(BEHIND_TLS="false")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    expected = {"security.W004", "security.W008", "security.W012", "security.W016"}
    assert expected <= reported_checks(output), output
