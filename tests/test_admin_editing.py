"""The admin writes features through the services, as every other path: checks, names, versions,
history; a stale form is refused; the change log and a feature's versions are read-only, and a
past version can be restored from them."""

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from layers import services
from layers.models import ChangeEvent, Feature, FeatureVersion, Layer
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"name": "ten", "type": "text", "required": True},
    {"name": "tang", "type": "integer"},
]
# The admin's map sends Web Mercator: a point in Huế.
HUE_3857 = '{"type": "Point", "coordinates": [11977000, 1858800]}'


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    # The messages asserted below are the English ones (the admin speaks Vietnamese by default).
    client.post(reverse("set_language"), {"language": "en", "next": "/admin/"})
    return client


@pytest.fixture
def layer(db):
    return LayerFactory(slug="truong-hoc", attribute_schema=SCHEMA, name_field="ten")


@pytest.fixture
def feature(layer):
    return services.feature_create(
        layer=layer,
        geom=Point(107.59, 16.46, srid=4326),
        attributes={"ten": "Trường Quốc Học", "tang": 2},
    )


def change_url(feature: Feature) -> str:
    return reverse("admin:layers_feature_change", args=[feature.pk]) + f"?layer={feature.layer_id}"


def form_data(feature: Feature, **changes) -> dict:
    data = {
        "attributes": json.dumps(feature.attributes, ensure_ascii=False),
        # As the admin's map sends it: Web Mercator.
        "geom": feature.geom.transform(3857, clone=True).json,
        "base_version": feature.version,
    }
    data.update(changes)
    return data


def test_an_edit_goes_through_the_services(staff_client, staff, feature):
    layer_version = Layer.objects.get(pk=feature.layer_id).version
    response = staff_client.post(
        change_url(feature), form_data(feature, attributes='{"ten": "Chợ Đông Ba", "tang": 3}')
    )
    assert response.status_code == 302, response.context["adminform"].form.errors

    edited = Feature.objects.get(layer_id=feature.layer_id, pk=feature.pk)
    assert edited.name == "Chợ Đông Ba"
    assert edited.search_text == "cho dong ba"
    assert edited.version == 2
    # The geometry sent back unchanged (the map's round trip) makes no geometry change.
    assert edited.geom.equals_exact(feature.geom, 1e-9)
    assert Layer.objects.get(pk=feature.layer_id).version == layer_version + 1

    event = ChangeEvent.objects.get(pk=edited.event_id)
    assert (event.action, event.channel, event.user, event.feature_id) == (
        "update",
        "admin",
        staff,
        feature.pk,
    )
    old = FeatureVersion.objects.get(layer_id=feature.layer_id, feature_id=feature.pk)
    assert (old.version, old.attributes, old.ended_by) == (
        1,
        {"ten": "Trường Quốc Học", "tang": 2},
        event.pk,
    )


def test_a_bad_attribute_shows_on_the_form_and_changes_nothing(staff_client, feature):
    before = ChangeEvent.objects.count()
    response = staff_client.post(
        change_url(feature), form_data(feature, attributes='{"ten": "Trường", "tang": "ba"}')
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "'tang' takes integer" in errors["attributes"][0]

    response = staff_client.post(change_url(feature), form_data(feature, attributes='{"tang": 1}'))
    assert "'ten' is required" in response.context["adminform"].form.errors["attributes"][0]

    response = staff_client.post(
        change_url(feature), form_data(feature, attributes='{"ten": "A", "tuoi": 1}')
    )
    assert "'tuoi' is not a field" in response.context["adminform"].form.errors["attributes"][0]

    unchanged = Feature.objects.get(layer_id=feature.layer_id, pk=feature.pk)
    assert (unchanged.version, unchanged.attributes) == (1, feature.attributes)
    assert ChangeEvent.objects.count() == before


def test_a_geometry_far_away_is_refused_on_the_form(staff_client, feature):
    response = staff_client.post(
        change_url(feature),
        form_data(feature, geom='{"type": "Point", "coordinates": [0, 0]}'),
    )
    assert response.status_code == 200
    assert "outside" in response.context["adminform"].form.errors["geom"][0]
    assert Feature.objects.get(layer_id=feature.layer_id, pk=feature.pk).version == 1


def test_a_stale_form_is_refused_then_a_second_save_overwrites(staff_client, feature):
    opened = staff_client.get(change_url(feature)).content.decode()
    assert 'name="base_version" value="1"' in opened
    # Someone else changes it through the API meanwhile.
    api = reverse("api:feature-detail", kwargs={"slug": "truong-hoc", "feature_id": feature.pk})
    answer = staff_client.patch(
        api,
        {"properties": {"tang": 5}},
        content_type="application/json",
        headers={"If-Match": f'"{feature.pk}-1"'},
    )
    assert answer.status_code == 200, answer.content

    response = staff_client.post(
        change_url(feature), form_data(feature, attributes='{"ten": "Quốc Học", "tang": 2}')
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "changed by someone else since you opened it" in text
    assert "gis_staff through REST API" in text
    current = Feature.objects.get(layer_id=feature.layer_id, pk=feature.pk)
    assert (current.version, current.attributes["tang"], current.name) == (2, 5, "Trường Quốc Học")
    # The form now carries the version the message named: saving again is a deliberate overwrite.
    assert 'name="base_version" value="2"' in text
    again = staff_client.post(
        change_url(feature),
        form_data(feature, attributes='{"ten": "Quốc Học", "tang": 2}', base_version=2),
    )
    assert again.status_code == 302
    assert Feature.objects.get(layer_id=feature.layer_id, pk=feature.pk).version == 3


def test_add_in_the_admin_is_a_recorded_create(staff_client, staff, layer):
    response = staff_client.post(
        reverse("admin:layers_feature_add"),
        {"layer": layer.pk, "attributes": '{"ten": "Trường Hai Bà Trưng"}', "geom": HUE_3857},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Feature.objects.get(layer=layer)
    assert (created.name, created.version) == ("Trường Hai Bà Trưng", 1)
    event = ChangeEvent.objects.get(pk=created.event_id)
    assert (event.action, event.channel, event.user) == ("create", "admin", staff)
    assert Layer.objects.get(pk=layer.pk).feature_count == 1


def test_delete_from_the_admin_is_recorded(staff_client, staff, feature, layer):
    url = reverse("admin:layers_feature_delete", args=[feature.pk]) + f"?layer={layer.pk}"
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert not Feature.objects.filter(layer=layer, pk=feature.pk).exists()
    event = ChangeEvent.objects.get(layer=layer, action="delete")
    assert (event.channel, event.user, event.feature_id) == ("admin", staff, feature.pk)
    assert FeatureVersion.objects.filter(layer_id=layer.pk, feature_id=feature.pk).exists()
    assert Layer.objects.get(pk=layer.pk).feature_count == 0


def test_bulk_delete_records_one_change_per_feature(staff_client, layer, feature):
    other = services.feature_create(
        layer=layer, geom=Point(107.6, 16.47, srid=4326), attributes={"ten": "Trường B"}
    )
    response = staff_client.post(
        reverse("admin:layers_feature_changelist"),
        {"action": "delete_selected", "_selected_action": [feature.pk, other.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Feature.objects.filter(layer=layer).exists()
    deleted = ChangeEvent.objects.filter(layer=layer, action="delete", channel="admin")
    assert sorted(deleted.values_list("feature_id", flat=True)) == sorted([feature.pk, other.pk])


def test_the_page_shows_the_versions_and_restores_one(staff_client, staff, feature, layer):
    staff_client.post(change_url(feature), form_data(feature, attributes='{"ten": "Tên mới"}'))
    page = staff_client.get(change_url(feature)).content.decode()
    assert 'id="feature-history"' in page
    assert 'data-version="2"' in page and 'data-version="1"' in page
    assert "tang: 2 → —" in page and "ten: Trường Quốc Học → Tên mới" in page
    restore_url = reverse("admin:layers_feature_restore", args=[feature.pk]) + f"?layer={layer.pk}"
    assert restore_url.replace("&", "&amp;") in page or restore_url in page

    response = staff_client.post(restore_url, {"version": 1})
    assert response.status_code == 302
    restored = Feature.objects.get(layer=layer, pk=feature.pk)
    assert (restored.version, restored.attributes, restored.name) == (
        3,
        {"ten": "Trường Quốc Học", "tang": 2},
        "Trường Quốc Học",
    )
    event = ChangeEvent.objects.get(pk=restored.event_id)
    assert (event.action, event.channel, event.user) == ("restore", "admin", staff)


def test_a_deleted_feature_comes_back_from_its_change(staff_client, feature, layer):
    services.feature_delete(feature=feature)
    deletion = ChangeEvent.objects.get(layer=layer, action="delete")
    log = staff_client.get(reverse("admin:layers_changeevent_changelist")).content.decode()
    assert reverse("admin:layers_changeevent_change", args=[deletion.pk]) in log
    page = staff_client.get(
        reverse("admin:layers_changeevent_change", args=[deletion.pk])
    ).content.decode()
    assert "the feature is deleted" in page
    restore_url = reverse("admin:layers_feature_restore", args=[feature.pk]) + f"?layer={layer.pk}"
    assert staff_client.post(restore_url, {"version": 1}).status_code == 302
    back = Feature.objects.get(layer=layer, pk=feature.pk)
    assert back.attributes == {"ten": "Trường Quốc Học", "tang": 2}
    assert back.version == 2


def test_restoring_the_current_version_says_why_not(staff_client, feature, layer):
    restore_url = reverse("admin:layers_feature_restore", args=[feature.pk]) + f"?layer={layer.pk}"
    response = staff_client.post(restore_url, {"version": 1}, follow=True)
    assert "nothing to restore" in response.content.decode()
    assert staff_client.get(restore_url).status_code == 405


def test_the_change_log_filters_by_user_and_date(staff_client, staff, layer, feature):
    alice = UserFactory(username="alice")
    services.feature_update(
        feature=feature,
        attributes={"ten": "Của Alice"},
        by=services.WriteContext(user=alice, channel="map"),
    )
    old = ChangeEvent.objects.get(layer=layer, action="create")
    ChangeEvent.objects.filter(pk=old.pk).update(at=dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC))
    url = reverse("admin:layers_changeevent_changelist")

    by_alice = staff_client.get(url, {"user__id__exact": alice.pk})
    assert by_alice.status_code == 200
    assert [e.pk for e in by_alice.context["cl"].result_list] == [feature_event(layer, "update")]

    in_march = staff_client.get(url, {"at__year": 2026, "at__month": 3, "at__day": 1})
    assert [e.pk for e in in_march.context["cl"].result_list] == [old.pk]

    found = staff_client.get(url, {"q": "alice"})
    assert [e.pk for e in found.context["cl"].result_list] == [feature_event(layer, "update")]


def feature_event(layer: Layer, action: str) -> int:
    return ChangeEvent.objects.get(layer=layer, action=action).pk


def test_history_is_append_only_even_for_a_superuser(client, feature, layer):
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(boss)
    event = ChangeEvent.objects.get(layer=layer)
    assert client.get(reverse("admin:layers_changeevent_add")).status_code == 403
    page = client.get(reverse("admin:layers_changeevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    delete = reverse("admin:layers_changeevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ChangeEvent.objects.filter(pk=event.pk).exists()
    changelist = client.get(reverse("admin:layers_changeevent_changelist")).content.decode()
    assert "delete_selected" not in changelist


def test_a_viewer_sees_no_save_and_cannot_restore(client, feature, layer):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="layers", codename__startswith="view_")
    )
    client.force_login(viewer)
    page = client.get(change_url(feature)).content.decode()
    assert "Restore this version" not in page
    restore_url = reverse("admin:layers_feature_restore", args=[feature.pk]) + f"?layer={layer.pk}"
    assert client.post(restore_url, {"version": 1}).status_code == 403
    # The change log names users: only for the layer's editors and GIS staff.
    log = client.get(reverse("admin:layers_changeevent_changelist"))
    assert log.status_code == 200
    assert list(log.context["cl"].result_list) == []


def test_a_non_staff_editor_does_not_use_the_admin(client, layer, planners, feature):
    editor = UserFactory(username="editor")
    editor.groups.add(planners)
    layer.editor_groups.add(planners)
    client.force_login(editor)
    response = client.get(change_url(feature))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_lists_link_features_with_their_layer_and_read_one_partition(staff_client, feature):
    page = staff_client.get(reverse("admin:layers_feature_changelist")).content.decode()
    assert f"{feature.pk}/change/?layer={feature.layer_id}" in page
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(change_url(feature)).status_code == 200
    lookups = [
        q["sql"] for q in queries if 'FROM "layers_feature"' in q["sql"] and "LIMIT 21" in q["sql"]
    ]
    assert lookups, [q["sql"] for q in queries]
    assert all(f'"layers_feature"."layer_id" = {feature.layer_id}' in sql for sql in lookups)


def test_the_layer_form_has_editor_groups_and_says_required_and_choices(staff_client, layer):
    page = staff_client.get(reverse("admin:layers_layer_change", args=[layer.pk])).content.decode()
    assert 'name="editor_groups"' in page
    assert "&quot;required&quot;: true" in page or '"required": true' in page
    assert "choices" in page


def test_a_new_naming_field_in_the_layer_form_renames_the_features(staff_client, layer, feature):
    url = reverse("admin:layers_layer_change", args=[layer.pk])
    form = staff_client.get(url).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        if isinstance(value, list | dict) and name not in ("groups", "editor_groups"):
            value = json.dumps(value, ensure_ascii=False)
        data[name] = "" if value is None else value
    data.update(
        name_field="tang",
        attribute_schema=json.dumps(SCHEMA),
        groups=[],
        editor_groups=[],
    )
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    renamed = Feature.objects.get(layer=layer, pk=feature.pk)
    assert (renamed.name, renamed.search_text, renamed.version) == ("2", "2", 1)
