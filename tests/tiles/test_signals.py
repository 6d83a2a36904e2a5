"""Layer settings and tiles: a change of what tiles hold gives a new version (TileJSON `?v=`)."""

import json

import mapbox_vector_tile
import pytest
from django.urls import reverse

from layers.models import Layer
from layers.tiles.cache import TileKey
from layers.tiles.grid import TileCoord
from layers.tiles.render import render_tile, tile_spec
from layers.tiles.store import store_if_current
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import DAI_NOI, point, tile_and_pixel

pytestmark = pytest.mark.django_db


@pytest.fixture
def houses(category, tile_cache_dir):
    layer = LayerFactory(
        slug="houses",
        category=category,
        geometry_type="point",
        attribute_schema=[{"name": "ten", "type": "text"}, {"name": "tang", "type": "integer"}],
        tile_fields=["ten"],
        style={"paint": {"circle-color": "#c00"}},
    )
    FeatureFactory(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Nhà 1", "tang": 3})
    return Layer.objects.get(pk=layer.pk)


def tile_url(client) -> str:
    return client.get("/tiles/houses.json").json()["tiles"][0]


def tile_properties(client, url_template: str) -> dict:
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    url = url_template.replace("http://testserver", "").format(z=14, x=x, y=y)
    tile = mapbox_vector_tile.decode(client.get(url).content)
    return tile["houses"]["features"][0]["properties"]


def test_new_tile_fields_give_a_new_tile_url_and_new_attributes(
    client, houses, django_capture_on_commit_callbacks
):
    before = tile_url(client)
    assert tile_properties(client, before) == {"ten": "Nhà 1"}  # and now cached

    with django_capture_on_commit_callbacks(execute=True):
        houses.tile_fields = ["ten", "tang"]
        houses.save()

    after = tile_url(client)
    assert after != before
    assert after.endswith(f"?v={houses.version}")
    assert Layer.objects.get(pk=houses.pk).version == houses.version
    assert tile_properties(client, after) == {"ten": "Nhà 1", "tang": 3}


@pytest.mark.parametrize(
    ("change", "bumped"),
    [
        ({"geometry_type": "mixed"}, True),
        # With no tile fields, the tiles carry the naming field and what the style reads.
        ({"tile_fields": [], "style": {"paint": {"circle-radius": ["get", "tang"]}}}, True),
        ({"tile_fields": ["ten"], "style": {"paint": {"circle-radius": ["get", "tang"]}}}, False),
        ({"style": {"paint": {"circle-color": "#00c"}}}, False),
        ({"title_vi": "Nhà ở", "min_zoom": 2}, False),
    ],
)
def test_only_what_changes_tile_content_changes_the_version(houses, change, bumped):
    version = houses.version
    for name, value in change.items():
        setattr(houses, name, value)
    houses.save()
    assert Layer.objects.get(pk=houses.pk).version == (version + 1 if bumped else version)


def test_a_save_of_some_fields_still_bumps_the_version(houses):
    version = houses.version
    houses.tile_fields = ["tang"]
    houses.save(update_fields=["tile_fields"])
    assert Layer.objects.get(pk=houses.pk).version == version + 1 == houses.version


def test_a_stale_instance_does_not_take_the_version_back(houses):
    stale = Layer.objects.get(pk=houses.pk)
    Layer.objects.filter(pk=houses.pk).update(version=houses.version + 5)  # data changed meanwhile
    stale.title_en = "Houses"
    stale.save()
    assert Layer.objects.get(pk=houses.pk).version == houses.version + 5


def test_a_tile_rendered_before_the_change_is_not_stored_after_it(houses, tile_cache_dir):
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    coord = TileCoord(14, x, y)
    old_tile = render_tile(tile_spec(houses), coord)
    houses.tile_fields = ["ten", "tang"]
    houses.save()
    assert store_if_current(layer_id=houses.pk, tiles=[(TileKey.of(houses, coord), old_tile)]) == 0


def test_tile_fields_changed_in_the_admin_bump_the_version(client, staff, houses):
    client.force_login(staff)
    version = houses.version
    form = {
        "slug": houses.slug,
        "category": houses.category_id,
        "status": houses.status,
        "title_vi": houses.title_vi,
        "title_en": houses.title_en,
        "description_vi": "",
        "description_en": "",
        "visibility": houses.visibility,
        "geometry_type": houses.geometry_type,
        "attribute_schema": json.dumps(houses.attribute_schema),
        "name_field": houses.name_field,
        "style": json.dumps(houses.style),
        "min_zoom": houses.min_zoom,
        "max_zoom": houses.max_zoom,
        "prebuild_zoom": houses.prebuild_zoom,
        "tile_fields": json.dumps(["ten", "tang"]),
        "source": "",
        "licence": "",
        "attribution": "",
        "metadata": "{}",
    }
    response = client.post(reverse("admin:layers_layer_change", args=[houses.pk]), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    houses.refresh_from_db()
    assert houses.tile_fields == ["ten", "tang"]
    assert houses.version == version + 1
