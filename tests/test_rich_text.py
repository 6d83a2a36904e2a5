"""Staff-entered attribution is HTML to the clients that show it: only links and inline tags
reach them, from the REST API, TileJSON and the OGC API, whether the row was saved clean or not."""

import pytest
from rest_framework.test import APIClient

from layers.models import Layer
from layers.rich_text import clean_attribution
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

HOSTILE = (
    '© <a href="https://hue.gov.vn/" onclick="steal()">Thành phố Huế</a>'
    '<script>alert("tj")</script><img src=x onerror="alert(1)">'
    '<a href="javascript:alert(2)">click</a> <a href="data:text/html,<b>x</b>">d</a>'
    '<iframe src="https://evil.example/"></iframe><b style="color:red">OSM</b>'
)
DANGERS = ("<script", "onerror", "onclick", "javascript:", "data:", "<img", "<iframe", "style=")


def assert_clean(text: str) -> None:
    for danger in DANGERS:
        assert danger not in text, (danger, text)
    # What may stay: the link (made safe for the opened page) and the inline tag.
    assert '<a href="https://hue.gov.vn/" rel="noopener noreferrer nofollow">' in text
    assert "Thành phố Huế</a>" in text
    assert "<b>OSM</b>" in text


def test_the_sanitiser_keeps_links_and_inline_tags_only():
    assert_clean(clean_attribution(HOSTILE))
    assert clean_attribution("© OpenStreetMap, a < b & c") == "© OpenStreetMap, a &lt; b &amp; c"
    cleaned = clean_attribution(HOSTILE)
    assert clean_attribution(cleaned) == cleaned  # cleaning twice changes nothing
    assert clean_attribution(None) == ""


def test_a_layer_is_cleaned_when_saved(category):
    layer = LayerFactory(category=category, attribution=HOSTILE)
    assert_clean(Layer.objects.get(pk=layer.pk).attribution)


def test_an_attribution_set_through_the_api_is_cleaned(category, staff):
    layer = LayerFactory(category=category)
    api = APIClient()
    api.force_login(staff)
    response = api.patch(f"/api/v1/layers/{layer.slug}/", {"attribution": HOSTILE}, format="json")
    assert response.status_code == 200, response.content
    assert_clean(response.json()["attribution"])
    assert_clean(Layer.objects.get(pk=layer.pk).attribution)


@pytest.fixture
def stored_raw(category, tile_cache_dir):
    """A public layer whose attribution was stored before cleaning existed (no save() ran)."""
    layer = LayerFactory(category=category, slug="old-layer", visibility="public")
    Layer.objects.filter(pk=layer.pk).update(attribution=HOSTILE)
    assert Layer.objects.get(pk=layer.pk).attribution == HOSTILE
    return layer


@pytest.fixture
def tile_cache_dir(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None


@pytest.mark.parametrize(
    ("url", "read"),
    [
        ("/tiles/old-layer.json", lambda body: body["attribution"]),
        ("/ogc/collections/old-layer", lambda body: body["attribution"]),
        ("/ogc/collections", lambda body: body["collections"][0]["attribution"]),
        ("/api/v1/layers/old-layer/", lambda body: body["attribution"]),
        ("/api/v1/layers/", lambda body: body[0]["attribution"]),
    ],
)
def test_every_answer_sends_the_attribution_cleaned(client, stored_raw, url, read):
    response = client.get(url)
    assert response.status_code == 200
    assert_clean(read(response.json()))
