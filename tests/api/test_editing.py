"""Editing through the REST API: the edit rule for every kind of user, optimistic locking with
ETag/If-Match (409 with both versions), checks, and the history each write leaves."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction

from layers.models import ChangeEvent, Feature, FeatureVersion
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/layers/dia-diem-hue/features/"


def point(lon, lat, **properties):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


@pytest.fixture
def editors(hue_places):
    group = Group.objects.create(name="ban-quan-ly-di-tich")
    hue_places.editor_groups.add(group)
    return group


@pytest.fixture
def editor(editors):
    user = UserFactory(username="bien_tap_vien")
    user.groups.add(editors)
    return user


def first_feature(layer) -> Feature:
    return Feature.objects.filter(layer=layer).order_by("id").first()


# --- the edit rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "create", "change"),
    [
        ("anonymous", 401, 401),  # sign in or send a token
        ("signed_in", 403, 403),  # sees the public layer, is no editor
        ("editor", 201, 200),
        ("inactive_editor", 401, 401),  # the token of an inactive user no longer counts
        ("staff", 201, 200),
    ],
)
def test_who_may_edit_a_public_layer(
    api, hue_places, editor, staff, signed_in, who, create, change
):
    users = {
        "anonymous": None,
        "signed_in": signed_in,
        "editor": editor,
        "staff": staff,
        "inactive_editor": editor,
    }
    user = users[who]
    if who == "inactive_editor":
        user.is_active = False
        user.save()
    client = api(user)
    response = client.post(URL, point(107.58, 16.46, ten="Nhà mới"), format="json")
    assert response.status_code == create, response.content
    feature = first_feature(hue_places)
    response = client.patch(f"{URL}{feature.pk}/", {"properties": {"so_tang": 3}}, format="json")
    assert response.status_code == change, response.content
    response = client.delete(f"{URL}{feature.pk}/")
    assert response.status_code == (204 if change == 200 else change)
    if change == 403:
        assert "editor groups" in response.json()["detail"]


def test_an_editor_of_a_restricted_layer_must_also_see_it(api, category, planners):
    """The edit rule adds to the visibility rule: an editor group outside the layer's groups."""
    layer = LayerFactory(
        slug="quy-hoach", category=category, visibility="restricted", geometry_type="point"
    )
    layer.groups.add(planners)
    outsiders = Group.objects.create(name="outsiders")
    layer.editor_groups.add(outsiders)
    outsider = UserFactory(username="outsider")
    outsider.groups.add(outsiders)
    url = "/api/v1/layers/quy-hoach/features/"
    assert api(outsider).post(url, point(107.58, 16.46), format="json").status_code == 404
    insider = UserFactory(username="insider")
    insider.groups.add(outsiders, planners)
    assert api(insider).post(url, point(107.58, 16.46), format="json").status_code == 201


def test_an_editor_of_one_layer_may_not_edit_another(api, hue_places, editor, category):
    LayerFactory(slug="khac", category=category, visibility="public", geometry_type="point")
    response = api(editor).post(
        "/api/v1/layers/khac/features/", point(107.58, 16.46), format="json"
    )
    assert response.status_code == 403


def test_the_map_config_tells_who_may_edit(client, hue_places, editor, signed_in):
    from frontend.catalogue import map_config

    def editable(user):
        return {layer["slug"]: layer.get("editable") for layer in map_config(user=user)["layers"]}

    if "editable" not in map_config(user=editor)["layers"][0]:
        pytest.skip("the map config has no 'editable' yet")
    assert editable(editor)["dia-diem-hue"] is True
    assert editable(signed_in)["dia-diem-hue"] is False


# --- versions, ETag and conflicts ------------------------------------------------------------


def test_get_sends_the_version_as_etag_and_in_the_body(api, hue_places):
    feature = first_feature(hue_places)
    response = api().get(f"{URL}{feature.pk}/")
    assert response["ETag"] == f'"{feature.pk}-1"'
    assert response.json()["version"] == 1


def test_a_save_on_the_current_version_goes_through_and_moves_the_etag(api, hue_places, editor):
    feature = first_feature(hue_places)
    client = api(editor)
    etag = client.get(f"{URL}{feature.pk}/")["ETag"]
    response = client.patch(
        f"{URL}{feature.pk}/", {"properties": {"so_tang": 4}}, format="json", HTTP_IF_MATCH=etag
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == f'"{feature.pk}-2"'
    assert response.json()["version"] == 2
    assert response.json()["properties"]["so_tang"] == 4


def test_a_save_over_a_newer_version_is_a_409_with_both_versions(api, hue_places, editor, staff):
    feature = first_feature(hue_places)
    mine, theirs = api(editor), api(staff)
    etag = mine.get(f"{URL}{feature.pk}/")["ETag"]
    # Someone else saves first.
    assert (
        theirs.patch(
            f"{URL}{feature.pk}/", {"properties": {"so_tang": 5}}, format="json"
        ).status_code
        == 200
    )
    response = mine.patch(
        f"{URL}{feature.pk}/", {"properties": {"so_tang": 9}}, format="json", HTTP_IF_MATCH=etag
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert "changed by someone else" in body["detail"]
    assert body["current"]["version"] == 2
    assert body["current"]["properties"]["so_tang"] == 5
    assert body["yours"]["version"] == 1
    assert body["yours"]["properties"]["so_tang"] == 9
    # Nothing was lost: theirs stands.
    feature.refresh_from_db()
    assert feature.attributes["so_tang"] == 5 and feature.version == 2
    # A delete on the old version is refused the same way.
    response = mine.delete(f"{URL}{feature.pk}/", HTTP_IF_MATCH=etag)
    assert response.status_code == 409
    assert Feature.objects.filter(pk=feature.pk).exists()
    # Saving over theirs on purpose: with the current ETag.
    response = mine.patch(
        f"{URL}{feature.pk}/",
        {"properties": {"so_tang": 9}},
        format="json",
        HTTP_IF_MATCH=f'"{feature.pk}-2"',
    )
    assert response.status_code == 200


def test_a_malformed_if_match_is_a_400_naming_it(api, hue_places, editor):
    feature = first_feature(hue_places)
    response = api(editor).patch(
        f"{URL}{feature.pk}/", {"properties": {"so_tang": 1}}, format="json", HTTP_IF_MATCH='"x"'
    )
    assert response.status_code == 400
    assert response.json()["parameter"] == "If-Match"


def test_a_save_that_changes_nothing_makes_no_version(api, hue_places, editor):
    feature = first_feature(hue_places)
    response = api(editor).patch(
        f"{URL}{feature.pk}/", {"properties": {"ten": feature.attributes["ten"]}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert not FeatureVersion.objects.filter(feature_id=feature.pk).exists()


# --- checks ----------------------------------------------------------------------------------


def test_required_fields_and_choices_of_the_schema_are_checked(api, hue_places, editor):
    hue_places.attribute_schema = [
        {"name": "ten", "type": "text", "label_vi": "Tên", "required": True},
        {"name": "loai", "type": "text", "label_vi": "Loại", "choices": ["chùa", "chợ"]},
    ]
    hue_places.save()
    client = api(editor)
    response = client.post(URL, point(107.58, 16.46, loai="chùa"), format="json")
    assert response.status_code == 400
    assert response.json()["parameter"] == "properties.ten"
    assert "'Tên' is required" in response.json()["detail"]
    response = client.post(URL, point(107.58, 16.46, ten="A", loai="nhà"), format="json")
    assert response.status_code == 400
    assert "must be one of: chùa, chợ" in response.json()["detail"]
    response = client.post(URL, point(107.58, 16.46, ten="A", loai="chợ"), format="json")
    assert response.status_code == 201


def test_a_geometry_far_from_the_city_is_refused(api, hue_places, editor):
    response = api(editor).post(URL, point(105.85, 21.03, ten="Hà Nội?"), format="json")
    assert response.status_code == 400
    assert "outside Huế" in response.json()["detail"]


def test_a_polygon_that_crosses_itself_is_refused_with_what_to_do(api, category, staff):
    LayerFactory(slug="thua-dat", category=category, geometry_type="polygon", visibility="public")
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[107.58, 16.46], [107.59, 16.47], [107.59, 16.46], [107.58, 16.47],
                         [107.58, 16.46]]],
    }  # fmt: skip
    response = api(staff).post(
        "/api/v1/layers/thua-dat/features/",
        {"type": "Feature", "geometry": bowtie, "properties": {}},
        format="json",
    )
    assert response.status_code == 400
    assert "does not cross itself" in response.json()["detail"]


# --- history of each write -------------------------------------------------------------------


def test_each_api_write_is_one_event_with_who_and_how(api, hue_places, editor):
    client = api(editor)
    created = client.post(
        URL, point(107.58, 16.46, ten="Nhà A"), format="json", HTTP_X_MAPSERVER_CLIENT="map"
    ).json()
    fid = created["id"]
    client.patch(f"{URL}{fid}/", {"properties": {"so_tang": 2}}, format="json")
    client.delete(f"{URL}{fid}/")
    events = list(ChangeEvent.objects.filter(feature_id=fid).order_by("id"))
    assert [(e.action, e.channel, e.user_id) for e in events] == [
        ("create", "map", editor.pk),
        ("update", "api", editor.pk),
        ("delete", "api", editor.pk),
    ]
    versions = FeatureVersion.objects.filter(feature_id=fid).order_by("version")
    assert [(v.version, v.event_id, v.ended_by) for v in versions] == [
        (1, events[0].pk, events[1].pk),
        (2, events[1].pk, events[2].pk),
    ]


def test_history_restore_and_change_log_through_the_api(api, hue_places, editor, signed_in):
    client = api(editor)
    feature = first_feature(hue_places)
    url = f"{URL}{feature.pk}/"
    client.patch(url, {"properties": {"so_tang": 3}}, format="json")
    client.put(url, point(107.5790, 16.4700, ten="Đại Nội Huế", so_tang=3), format="json")
    client.delete(url)

    history = client.get(f"{url}history/").json()
    assert history["deleted"] is True
    versions = history["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[0]["ended_by"]["action"] == "delete"
    assert versions[1]["changes"] == {"so_tang": {"before": 1, "after": 3}}
    assert versions[1]["geometry_changed"] is False
    assert versions[0]["changes"]["ten"] == {"before": "Đại Nội", "after": "Đại Nội Huế"}
    assert versions[0]["geometry_changed"] is True
    assert versions[0]["event"]["user"] == "bien_tap_vien"
    assert versions[2]["event"]["action"] == "import"  # the fixture loaded it

    # Who changed what is for editors: a visitor of the public layer may not read it.
    assert api(signed_in).get(f"{url}history/").status_code == 403

    # Restoring the first version brings the deleted feature back, with its id.
    response = client.post(f"{url}restore/", {"version": 1}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["id"] == feature.pk
    assert response.json()["version"] == 4
    assert response.json()["properties"]["ten"] == "Đại Nội"
    restored = Feature.objects.get(pk=feature.pk)
    assert restored.name == "Đại Nội" and restored.search_text == "dai noi"
    # Restoring again over the current one is an update, recorded too.
    response = client.post(f"{url}restore/", {"version": 2}, format="json")
    assert response.status_code == 200
    assert response.json()["properties"]["so_tang"] == 3
    assert response.json()["version"] == 5
    assert client.post(f"{url}restore/", {"version": 99}, format="json").status_code == 404

    log = client.get("/api/v1/layers/dia-diem-hue/changes/", {"user": "bien_tap_vien"}).json()
    assert [e["action"] for e in log["results"]] == [
        "restore", "restore", "delete", "update", "update",
    ]  # fmt: skip
    assert log["count"] == 5
    by_feature = client.get("/api/v1/layers/dia-diem-hue/changes/", {"feature": feature.pk})
    assert by_feature.json()["count"] == 5
    bad = client.get("/api/v1/layers/dia-diem-hue/changes/", {"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "since"


@pytest.mark.django_db(transaction=True)
def test_a_write_in_plain_sql_is_recorded_too(hue_places):
    # Its own transaction: the fixture's load set the event of the test's one.
    feature = first_feature(hue_places)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE layers_feature SET attributes = attributes || '{\"so_tang\": 8}'"
            " WHERE layer_id = %s AND id = %s",
            [hue_places.pk, feature.pk],
        )
        cursor.execute(
            "INSERT INTO layers_feature (layer_id, geom, attributes, name, created_at,"
            " updated_at) VALUES (%s, 'SRID=4326;POINT(107.58 16.46)', '{}', '', now(), now())"
            " RETURNING id",
            [hue_places.pk],
        )
        new_id = cursor.fetchone()[0]
    feature.refresh_from_db()
    assert feature.version == 2
    event = ChangeEvent.objects.get(pk=feature.event_id)
    assert (event.channel, event.action, event.user_id) == ("database", "edit", None)
    # One event for the transaction's writes to the layer.
    assert Feature.objects.get(pk=new_id).event_id == event.pk
    old = FeatureVersion.objects.get(feature_id=feature.pk, version=1)
    assert old.ended_by == event.pk and "so_tang" in old.attributes


def test_renaming_field_changes_names_but_makes_no_version(api, hue_places, staff):
    response = api(staff).patch(
        "/api/v1/layers/dia-diem-hue/", {"name_field": "loai"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert not FeatureVersion.objects.filter(layer_id=hue_places.pk).exists()
    assert set(Feature.objects.filter(layer=hue_places).values_list("version", flat=True)) == {1}


def test_a_restore_is_refused_if_the_feature_moved_on_since(api, hue_places, editor, staff):
    """An undo or a History-tab restore names the version it replaces (If-Match): a colleague's
    later change is not overwritten; the event says which version came back."""
    client = api(editor)
    feature = first_feature(hue_places)
    url = f"{URL}{feature.pk}/"
    client.patch(url, {"properties": {"so_tang": 3}}, format="json")  # version 2
    api(staff).patch(url, {"properties": {"so_tang": 4}}, format="json")  # version 3
    stale = client.post(
        f"{url}restore/", {"version": 1}, format="json", HTTP_IF_MATCH=f'"{feature.pk}-2"'
    )
    assert stale.status_code == 409, stale.content
    assert stale.json()["current"]["version"] == 3
    assert Feature.objects.get(pk=feature.pk).attributes["so_tang"] == 4
    fresh = client.post(
        f"{url}restore/", {"version": 1}, format="json", HTTP_IF_MATCH=f'"{feature.pk}-3"'
    )
    assert fresh.status_code == 200, fresh.content
    assert fresh.json()["version"] == 4 and fresh.json()["properties"]["so_tang"] == 1
    event = ChangeEvent.objects.get(pk=Feature.objects.get(pk=feature.pk).event_id)
    assert event.counts == {"restored_version": 1, "left_out": []}

    # A deleted feature: If-Match names the version that was deleted.
    assert client.delete(url, HTTP_IF_MATCH=f'"{feature.pk}-4"').status_code == 204
    stale = client.post(
        f"{url}restore/", {"version": 2}, format="json", HTTP_IF_MATCH=f'"{feature.pk}-3"'
    )
    assert stale.status_code == 409, stale.content
    assert "deleted at version 4" in stale.json()["detail"]
    assert not Feature.objects.filter(pk=feature.pk).exists()
    back = client.post(
        f"{url}restore/", {"version": 2}, format="json", HTTP_IF_MATCH=f'"{feature.pk}-4"'
    )
    assert back.status_code == 201, back.content
    assert back.json()["version"] == 5
    history = client.get(f"{url}history/").json()
    assert history["versions"][0]["event"]["counts"]["restored_version"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_save_that_changes_nothing_keeps_when_the_version_began(hue_places):
    """A plain save of the same values (or a renamed feature) makes no version and must not
    restamp it: `as_of` an instant after the version began must still find it."""
    feature = first_feature(hue_places)
    began = (feature.updated_at, feature.version, feature.event_id)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE layers_feature SET attributes = attributes, name = name || '',"
            " updated_at = now(), version = version + 7, event_id = NULL"
            " WHERE layer_id = %s AND id = %s",
            [hue_places.pk, feature.pk],
        )
    feature.refresh_from_db()
    assert (feature.updated_at, feature.version, feature.event_id) == began
    assert not FeatureVersion.objects.filter(feature_id=feature.pk).exists()
