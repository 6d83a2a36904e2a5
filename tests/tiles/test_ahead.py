"""A tile statement sent with the visibility lookup (layers/tiles/ahead.py), used if it holds."""

import mapbox_vector_tile
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import CHO_DONG_BA, DAI_NOI, point, tile_and_pixel

pytestmark = pytest.mark.django_db


@pytest.fixture
def landmarks(category, tile_cache_dir):
    layer = LayerFactory(
        slug="landmarks",
        category=category,
        geometry_type="point",
        attribute_schema=[{"name": "ten", "type": "text"}, {"name": "nam", "type": "integer"}],
        tile_fields=["ten"],
    )
    for place, name in ((DAI_NOI, "Đại Nội"), (CHO_DONG_BA, "Chợ Đông Ba")):
        FeatureFactory(layer=layer, geom=point(place), attributes={"ten": name, "nam": 1805})
    return layer


# The visibility lookup's statement (the cache write after the response reads layers_layer too).
LOOKUP = 'SELECT "layers_layer"."id"'


def url(place, z: int) -> str:
    x, y, _, _ = tile_and_pixel(*place, z)
    return f"/tiles/landmarks/{z}/{x}/{y}.pbf"


def statements(client, path: str) -> tuple[list[str], object]:
    """Return the kinds of statement a request sent, in order, and the response."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    # Django logs a statement sent in pipeline mode without its text (psycopg has not composed it
    # yet when Django asks): only the tile statement is ever sent so.
    kinds = [
        "tile" if q["sql"] is None or "ST_AsMVT" in q["sql"] else "lookup"
        for q in queries.captured_queries
        if q["sql"] is None or "ST_AsMVT" in q["sql"] or q["sql"].startswith(LOOKUP)
    ]
    return kinds, response


def properties(response) -> list[dict]:
    layer = mapbox_vector_tile.decode(response.content)["landmarks"]
    return [feature["properties"] for feature in layer["features"]]


def test_the_first_tile_is_looked_up_then_rendered_the_next_sent_with_its_lookup(client, landmarks):
    first, response = statements(client, url(DAI_NOI, 16))
    assert first == ["lookup", "tile"]
    assert properties(response) == [{"ten": "Đại Nội"}]
    ahead, response = statements(client, url(CHO_DONG_BA, 16))
    assert ahead == ["tile", "lookup"]  # one round trip
    assert properties(response) == [{"ten": "Chợ Đông Ba"}]


def test_a_cached_tile_sends_no_tile_statement(client, landmarks):
    client.get(url(DAI_NOI, 16))
    kinds, response = statements(client, url(DAI_NOI, 16))
    assert kinds == ["lookup"]
    assert response.status_code == 200


def test_a_tile_sent_for_an_old_shape_of_the_layer_is_rendered_again(client, landmarks):
    client.get(url(DAI_NOI, 16))
    landmarks.tile_fields = ["ten", "nam"]
    landmarks.save()
    kinds, response = statements(client, url(CHO_DONG_BA, 16))
    assert kinds == ["tile", "lookup", "tile"]
    assert properties(response) == [{"ten": "Chợ Đông Ba", "nam": 1805}]


def test_a_layer_no_longer_public_is_not_answered_from_a_tile_sent_ahead(client, landmarks):
    client.get(url(DAI_NOI, 16))
    landmarks.visibility = "internal"
    landmarks.save()
    kinds, response = statements(client, url(CHO_DONG_BA, 16))
    assert kinds == ["tile", "lookup"]
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
