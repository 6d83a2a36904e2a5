"""A change of who may see a layer never leaves a tile where the wrong people get it.

The folder tile cache keeps public layers' tiles under `public/`, which nginx serves to anyone
without asking Django. So every change of visibility or status gives the layer a new version and
drops its tiles before it commits, and a tile rendered before the change is never stored after it.
"""

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from layers.models import Layer
from layers.tiles.cache import PUBLIC, TileKey, tile_cache
from layers.tiles.grid import TileCoord
from layers.tiles.services import layer_tile
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import DAI_NOI, point, tile_and_pixel

pytestmark = pytest.mark.django_db

X, Y, _, _ = tile_and_pixel(*DAI_NOI, 14)
COORD = TileCoord(14, X, Y)


@pytest.fixture
def plans(category, tile_cache_dir):
    """A public, ready layer with one feature at the Citadel."""
    layer = LayerFactory(slug="plans", category=category, visibility="public")
    FeatureFactory(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Quy hoạch"})
    return Layer.objects.get(pk=layer.pk)


def public_files(tile_cache_dir, slug: str) -> list:
    folder = tile_cache_dir / PUBLIC / slug
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def make_internal_in_the_admin(client, staff, layer) -> None:
    client.force_login(staff)
    response = client.post(
        reverse("admin:layers_layer_changelist"),
        {"action": "make_internal", "_selected_action": [layer.pk], "index": 0},
    )
    assert response.status_code == 302
    assert Layer.objects.get(pk=layer.pk).visibility == "internal"


def test_a_tile_rendered_before_make_internal_is_not_stored_under_public(
    client, staff, plans, tile_cache_dir, django_capture_on_commit_callbacks
):
    answer = layer_tile(layer=plans, coord=COORD, store=False)  # rendered, not yet cached
    key, tile = answer.unstored
    assert key.scope == PUBLIC
    assert tile.version == plans.version

    with django_capture_on_commit_callbacks(execute=True):
        make_internal_in_the_admin(client, staff, plans)

    assert answer.store() == 0
    assert public_files(tile_cache_dir, "plans") == []
    assert tile_cache().get(key) is None
    assert Layer.objects.get(pk=plans.pk).version > plans.version


def test_the_store_checks_the_scope_even_when_the_version_did_not_change(plans, tile_cache_dir):
    answer = layer_tile(layer=plans, coord=COORD, store=False)
    # A writer that skips every Python path (raw SQL) and so bumps no version.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE layers_layer SET status = 'failed' WHERE id = %s", [plans.pk])
    assert Layer.objects.get(pk=plans.pk).version == plans.version
    assert answer.store() == 0
    assert public_files(tile_cache_dir, "plans") == []


def test_after_make_internal_no_public_file_of_the_layer_remains(
    client, staff, plans, tile_cache_dir, signed_in
):
    layer_tile(layer=plans, coord=COORD)  # cached under public/, where nginx serves it
    tile_cache().put(TileKey(PUBLIC, "plans", TileCoord(14, X + 3, Y)), b"")  # an empty marker
    assert len(public_files(tile_cache_dir, "plans")) == 2

    make_internal_in_the_admin(client, staff, plans)

    assert public_files(tile_cache_dir, "plans") == []
    path = f"/tiles/plans/{COORD.z}/{COORD.x}/{COORD.y}.pbf"
    client.logout()
    assert client.get(path).status_code == 404
    client.force_login(signed_in)
    private = client.get(path)
    assert private.status_code == 200
    assert private["Cache-Control"].startswith("private")
    assert public_files(tile_cache_dir, "plans") == []


def admin_form(layer: Layer, **changes) -> dict:
    """Return the admin change form's fields for a layer, with some changed."""
    data = {
        "slug": layer.slug,
        "category": layer.category_id,
        "status": layer.status,
        "title_vi": layer.title_vi,
        "title_en": layer.title_en,
        "description_vi": "",
        "description_en": "",
        "visibility": layer.visibility,
        "geometry_type": layer.geometry_type,
        "attribute_schema": '[{"name": "ten", "type": "text"}]',
        "name_field": layer.name_field,
        "style": "{}",
        "min_zoom": layer.min_zoom,
        "max_zoom": layer.max_zoom,
        "prebuild_zoom": layer.prebuild_zoom,
        "tile_fields": "[]",
        "source": "",
        "licence": "",
        "attribution": "",
        "metadata": "{}",
    }
    return {**data, **changes}


def through_the_admin_form(client, staff, layer):
    client.force_login(staff)
    response = client.post(
        reverse("admin:layers_layer_change", args=[layer.pk]),
        admin_form(layer, visibility="restricted"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]


def through_the_api(client, staff, layer):
    api = APIClient()
    api.force_login(staff)
    response = api.patch(f"/api/v1/layers/{layer.slug}/", {"status": "importing"}, format="json")
    assert response.status_code == 200, response.content


def through_a_queryset_update(client, staff, layer):
    Layer.objects.filter(pk=layer.pk, status="ready").update(status="failed")


def through_a_save_of_some_fields(client, staff, layer):
    layer.status = "draft"
    layer.save(update_fields=["status"])


def through_an_admin_bulk_action(client, staff, layer):
    make_internal_in_the_admin(client, staff, layer)


@pytest.mark.parametrize(
    "change",
    [
        through_the_admin_form,
        through_the_api,
        through_a_queryset_update,
        through_a_save_of_some_fields,
        through_an_admin_bulk_action,
    ],
)
def test_every_change_of_visibility_or_status_bumps_the_version_and_drops_public_tiles(
    client, staff, plans, tile_cache_dir, change
):
    version = plans.version
    stale = layer_tile(layer=plans, coord=COORD, store=False)
    layer_tile(layer=plans, coord=COORD)
    assert public_files(tile_cache_dir, "plans")

    change(client, staff, plans)

    changed = Layer.objects.get(pk=plans.pk)
    assert (changed.visibility, changed.status) != ("public", "ready")
    assert changed.version > version
    assert public_files(tile_cache_dir, "plans") == []
    assert stale.store() == 0
    assert public_files(tile_cache_dir, "plans") == []


def test_a_change_of_something_else_keeps_the_tiles(plans, tile_cache_dir):
    layer_tile(layer=plans, coord=COORD)
    Layer.objects.filter(pk=plans.pk).update(title_en="Plans", status="ready")
    plans.refresh_from_db()
    plans.title_vi = "Quy hoạch"
    plans.save()
    assert Layer.objects.get(pk=plans.pk).version == plans.version
    assert len(public_files(tile_cache_dir, "plans")) == 1


def test_a_layer_made_public_and_ready_caches_its_tiles_under_public(plans, tile_cache_dir):
    Layer.objects.filter(pk=plans.pk).update(visibility="internal")
    layer_tile(layer=Layer.objects.get(pk=plans.pk), coord=COORD)
    assert public_files(tile_cache_dir, "plans") == []
    assert (tile_cache_dir / "private" / "plans").exists()
    Layer.objects.filter(pk=plans.pk).update(visibility="public")
    layer_tile(layer=Layer.objects.get(pk=plans.pk), coord=COORD)
    assert len(public_files(tile_cache_dir, "plans")) == 1
