"""The admin follows the one visibility rule: staff who may only view see what they may see,
every page they may open answers, and they cannot change anything through an action."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import Point
from django.urls import reverse

from layers.models import ImportJob, Layer, TileJob
from tests.factories import FeatureFactory, LayerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(db):
    """Staff who may view layers, features and jobs in the admin, but change nothing."""
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="layers", codename__startswith="view_")
    )
    return user


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def secrets(layers_by_visibility, category):
    """A feature in each layer, a failed public layer, and a job on each layer."""
    for kind, layer in layers_by_visibility.items():
        FeatureFactory(layer=layer, name=f"Điểm {kind}", attributes={"ten": f"Điểm {kind}"})
    failed = LayerFactory(slug="failed-layer", category=category, status="failed")
    FeatureFactory(layer=failed, name="Điểm failed", attributes={"ten": "Điểm failed"})
    layers = {**layers_by_visibility, "failed": failed}
    for kind, layer in layers.items():
        ImportJob.objects.create(layer=layer, source_name=f"{kind}.geojson")
        TileJob.objects.create(layer=layer, progress_done=1, progress_total=2)
    return layers


def page(client, name: str, *args) -> str:
    response = client.get(reverse(f"admin:{name}", args=args))
    assert response.status_code == 200, (name, response.status_code)
    return response.content.decode()


def test_a_viewer_lists_only_the_layers_they_may_see(viewer_client, secrets):
    text = page(viewer_client, "layers_layer_changelist")
    assert "public-layer" in text
    assert "internal-layer" in text
    assert "restricted-layer" not in text
    assert "failed-layer" not in text

    features = page(viewer_client, "layers_feature_changelist")
    assert "Điểm public" in features
    assert "Điểm internal" in features
    assert "Điểm restricted" not in features
    assert "Điểm failed" not in features

    imports = page(viewer_client, "layers_importjob_changelist")
    assert "public.geojson" in imports
    assert "restricted.geojson" not in imports
    assert "failed.geojson" not in imports
    tile_jobs = page(viewer_client, "layers_tilejob_changelist")
    assert str(secrets["public"]) in tile_jobs
    assert str(secrets["restricted"]) not in tile_jobs


def test_a_group_member_who_views_sees_the_restricted_layer(client, viewer, planners, secrets):
    viewer.groups.add(planners)
    client.force_login(viewer)
    assert "restricted-layer" in page(client, "layers_layer_changelist")
    assert "Điểm restricted" in page(client, "layers_feature_changelist")


def test_change_pages_answer_for_a_viewer(viewer_client, secrets):
    layer = secrets["public"]
    Layer.objects.filter(pk=layer.pk).update(
        extent="SRID=4326;POLYGON((107 16,108 16,108 17,107 17,107 16))"
    )
    text = page(viewer_client, "layers_layer_change", layer.pk)
    assert layer.title_vi in text
    assert 'name="_save"' not in text  # read-only

    feature = layer.features.get()
    text = page(viewer_client, "layers_feature_change", feature.pk)
    assert "Điểm public" in text
    job = ImportJob.objects.get(layer=layer)
    assert "public.geojson" in page(viewer_client, "layers_importjob_change", job.pk)
    status = viewer_client.get(reverse("admin:layers_importjob_status", args=[job.pk]))
    assert status.status_code == 200


@pytest.mark.parametrize("kind", ["restricted", "failed"])
def test_what_a_viewer_may_not_see_is_not_found(viewer_client, secrets, kind):
    layer = secrets[kind]
    feature = layer.features.get()
    job = ImportJob.objects.get(layer=layer)
    for name, pk in [
        ("layers_layer_change", layer.pk),
        ("layers_feature_change", feature.pk),
        ("layers_importjob_change", job.pk),
        ("layers_tilejob_change", TileJob.objects.get(layer=layer).pk),
    ]:
        response = viewer_client.get(reverse(f"admin:{name}", args=[pk]), follow=True)
        text = response.content.decode()
        assert f"Điểm {kind}" not in text
        assert f"{kind}-layer" not in text
        # The admin answers an object outside its queryset as missing: back to the index.
        assert response.redirect_chain, name
    status = viewer_client.get(reverse("admin:layers_importjob_status", args=[job.pk]))
    assert status.status_code == 404


def test_a_viewer_cannot_change_visibility_through_an_action(viewer_client, secrets):
    internal = secrets["internal"]
    url = reverse("admin:layers_layer_changelist")
    assert "make_public" not in viewer_client.get(url).content.decode()
    viewer_client.post(
        url, {"action": "make_public", "_selected_action": [internal.pk], "index": 0}
    )
    assert Layer.objects.get(pk=internal.pk).visibility == "internal"
    tile_jobs = reverse("admin:layers_tilejob_changelist")
    assert "resume" not in viewer_client.get(tile_jobs).content.decode()


def test_gis_staff_still_see_and_change_everything(client, staff, secrets):
    client.force_login(staff)
    text = page(client, "layers_layer_changelist")
    for slug in ("public-layer", "internal-layer", "restricted-layer", "failed-layer"):
        assert slug in text
    assert "Điểm restricted" in page(client, "layers_feature_changelist")
    assert "make_public" in text
    layer = secrets["restricted"]
    layer.extent = Point(107.5, 16.4, srid=4326).buffer(0.01)
    layer.save()
    assert 'id="id_extent_map"' in page(client, "layers_layer_change", layer.pk)
