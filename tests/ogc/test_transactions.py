# ruff: noqa: F811  (the fixtures imported from tests.api.conftest are used as arguments)
"""OGC API - Features Part 4 (Create, Replace, Update and Delete) at /ogc/collections/{id}/items.

Each operation for each kind of user, optimistic locking with ETag/If-Match (412 with both
versions), bad bodies and CRSs, the history's channel, the tiles a write touches, and real
clients: OWSLib with a knox token against a live server (no CSRF), and a note on GDAL.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.contrib.gis.geos import Point
from knox.models import AuthToken
from rest_framework.test import APIClient

from layers.models import ChangeEvent, Feature, Layer, TileChange
from tests.api.conftest import _private_tile_cache, api, hue_places  # noqa: F401  (fixtures)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ITEMS = "/ogc/collections/dia-diem-hue/items"
PART4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/"


def feature(lon, lat, **properties):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


@pytest.fixture
def editor(hue_places):
    group = Group.objects.create(name="ban-quan-ly-di-tich")
    hue_places.editor_groups.add(group)
    user = UserFactory(username="bien_tap_vien")
    user.groups.add(group)
    return user


def first(layer) -> Feature:
    return Feature.objects.filter(layer=layer).order_by("id").first()


def item_url(feature_id) -> str:
    return f"{ITEMS}/{feature_id}"


# --- each operation, each kind of user ---------------------------------------------------------


@pytest.mark.parametrize("who", ["staff", "editor"])
def test_post_adds_a_feature_with_location_and_etag(api, hue_places, who, request):
    response = api(request.getfixturevalue(who)).post(
        ITEMS, feature(107.5817, 16.4676, ten="Phu Văn Lâu", so_tang=2), format="json"
    )
    assert response.status_code == 201, response.content
    created = Feature.objects.get(layer=hue_places, name="Phu Văn Lâu")
    assert response["Location"] == f"http://testserver{item_url(created.pk)}"
    assert response["ETag"] == f'"{created.pk}-{created.version}"'
    assert response.json()["properties"] == {"ten": "Phu Văn Lâu", "so_tang": 2}
    # The Location answers the feature, with the same ETag.
    got = api().get(response["Location"])
    assert got.status_code == 200 and got["ETag"] == response["ETag"]


@pytest.mark.parametrize("who", ["staff", "editor"])
def test_put_replaces_geometry_and_properties(api, hue_places, who, request):
    target = first(hue_places)
    response = api(request.getfixturevalue(who)).put(
        item_url(target.pk), feature(107.58, 16.47, ten="Đại Nội (mới)"), format="json"
    )
    assert response.status_code == 200, response.content
    target.refresh_from_db()
    assert target.attributes == {"ten": "Đại Nội (mới)"}  # replaced: the other fields are gone
    assert (target.geom.x, target.geom.y) == pytest.approx((107.58, 16.47))
    assert response["ETag"] == f'"{target.pk}-{target.version}"'


@pytest.mark.parametrize("who", ["staff", "editor"])
def test_patch_is_a_json_merge_patch(api, hue_places, who, request):
    target = first(hue_places)
    before = dict(target.attributes)
    response = api(request.getfixturevalue(who)).patch(
        item_url(target.pk),
        json.dumps({"properties": {"so_tang": 3, "dien_tich": None}}),
        content_type="application/merge-patch+json",
    )
    assert response.status_code == 200, response.content
    target.refresh_from_db()
    expected = {**before, "so_tang": 3}
    del expected["dien_tich"]  # null removes, as RFC 7396 says
    assert target.attributes == expected
    assert (target.geom.x, target.geom.y) == pytest.approx((107.5786, 16.4698))  # untouched


@pytest.mark.parametrize("who", ["staff", "editor"])
def test_delete_removes_the_feature(api, hue_places, who, request):
    target = first(hue_places)
    response = api(request.getfixturevalue(who)).delete(item_url(target.pk))
    assert response.status_code == 204, response.content
    assert not Feature.objects.filter(pk=target.pk).exists()
    assert api().get(item_url(target.pk)).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "signed_in"])
def test_who_is_no_editor_may_not_write(api, hue_places, who, request):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    client = api(user)
    target = first(hue_places)
    answers = [
        client.post(ITEMS, feature(107.58, 16.47, ten="x"), format="json"),
        client.put(item_url(target.pk), feature(107.58, 16.47, ten="x"), format="json"),
        client.patch(item_url(target.pk), {"properties": {"ten": "x"}}, format="json"),
        client.delete(item_url(target.pk)),
    ]
    refused, code = (401, "NotAuthenticated") if who == "anonymous" else (403, "Forbidden")
    for answer in answers:
        assert answer.status_code == refused, answer.content
        assert answer.json()["code"] == code
    assert Feature.objects.filter(layer=hue_places).count() == 8
    assert not ChangeEvent.objects.filter(layer=hue_places, channel="ogc").exists()


def test_part4_is_declared_and_described(api, hue_places):
    conforms = api().get("/ogc/conformance").json()["conformsTo"]
    assert f"{PART4}create-replace-delete" in conforms
    assert f"{PART4}update" in conforms
    paths = api().get("/ogc/api").json()["paths"]
    assert {"get", "post"} <= set(paths["/collections/{collectionId}/items"])
    item = paths["/collections/{collectionId}/items/{featureId}"]
    assert {"get", "put", "patch", "delete"} <= set(item)
    assert (
        "412" in item["put"]["responses"]
        and "201" in paths["/collections/{collectionId}/items"]["post"]["responses"]
    )


# --- optimistic locking -------------------------------------------------------------------------


def test_get_item_sends_the_etag(api, hue_places):
    target = first(hue_places)
    response = api().get(item_url(target.pk))
    assert response["ETag"] == f'"{target.pk}-{target.version}"'


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_stale_if_match_is_412_with_both_versions(api, hue_places, editor, staff, method):
    target = first(hue_places)
    old_etag = api().get(item_url(target.pk))["ETag"]
    # A colleague saves first.
    assert (
        api(staff).patch(item_url(target.pk), {"properties": {"so_tang": 4}}, format="json")
    ).status_code == 200
    body = {} if method == "delete" else feature(107.58, 16.47, ten="Của tôi")
    response = getattr(api(editor), method)(
        item_url(target.pk), body or None, format="json", HTTP_IF_MATCH=old_etag
    )
    assert response.status_code == 412, response.content
    error = response.json()
    assert error["code"] == "PreconditionFailed"
    assert error["parameter"] == "If-Match"
    assert error["current"]["properties"]["so_tang"] == 4
    assert error["yours"]["version"] == int(old_etag.strip('"').split("-")[1])
    target.refresh_from_db()
    assert target.attributes["so_tang"] == 4  # nothing written


def test_the_current_if_match_goes_through_and_moves_the_etag(api, hue_places, editor):
    target = first(hue_places)
    tag = api().get(item_url(target.pk))["ETag"]
    response = api(editor).patch(
        item_url(target.pk), {"properties": {"so_tang": 5}}, format="json", HTTP_IF_MATCH=tag
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] != tag
    assert api().get(item_url(target.pk))["ETag"] == response["ETag"]


# --- bad bodies and CRSs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ([1, 2], "body"),
        ({"type": "Feature", "properties": {}}, "geometry"),
        ({"type": "Thing", "geometry": {"type": "Point", "coordinates": [107, 16]}}, "type"),
        (feature(107.5, 16.4) | {"geometry": {"type": "Point"}}, "geometry"),
        (feature(107.5, 16.4) | {"colour": "red"}, "colour"),
        (feature(107.5, 16.4) | {"properties": [1]}, "properties"),
        (feature(107.5, 16.4, chieu_cao=3), "properties.chieu_cao"),
        (feature(107.5, 16.4, so_tang="ba"), "properties.so_tang"),
        (feature(600000, 1800000), "geometry"),  # metres without a CRS
        (feature(107.5, 16.4) | {"crs": {"type": "name", "properties": {"name": "EPSG:0"}}}, "crs"),
    ],
)
def test_a_bad_body_is_a_400_naming_what(api, hue_places, staff, body, parameter):
    response = api(staff).post(ITEMS, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["parameter"] == parameter, error
    assert error["code"] in {"InvalidParameterValue", "InvalidValue"}
    assert error["description"]
    assert Feature.objects.filter(layer=hue_places).count() == 8


def test_a_put_naming_another_id_is_refused(api, hue_places, staff):
    target = first(hue_places)
    body = feature(107.58, 16.47, ten="x") | {"id": target.pk + 1000}
    response = api(staff).put(item_url(target.pk), body, format="json")
    assert response.status_code == 400 and response.json()["parameter"] == "id"


def vn2000(lon, lat) -> Point:
    point = Point(lon, lat, srid=4326)
    point.transform(CoordTransform(SpatialReference(4326), SpatialReference(9214)))
    return point


@pytest.mark.parametrize(
    "content_crs",
    [
        "<http://www.opengis.net/def/crs/EPSG/0/9214>",
        "http://www.opengis.net/def/crs/EPSG/0/9214",
        "EPSG:9214",
    ],
)
def test_content_crs_reprojects(api, hue_places, staff, content_crs):
    lon, lat = 107.5786, 16.4698
    point = vn2000(lon, lat)
    response = api(staff).post(
        ITEMS, feature(point.x, point.y, ten="Ngọ Môn"), format="json", HTTP_CONTENT_CRS=content_crs
    )
    assert response.status_code == 201, response.content
    stored = Feature.objects.get(layer=hue_places, name="Ngọ Môn").geom
    # PostGIS, not our code, is the oracle for the transform back.
    assert (stored.x, stored.y) == pytest.approx((lon, lat), abs=1e-7)


@pytest.mark.parametrize(
    ("content_crs", "sent"),
    [
        ("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>", (107.58, 16.47)),
        # EPSG:4326 as Part 2 means it: latitude first, as our answers with crs=EPSG:4326 are.
        ("<http://www.opengis.net/def/crs/EPSG/0/4326>", (16.47, 107.58)),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", (16.47, 107.58)),
    ],
)
def test_content_crs_axis_order_is_the_crs_own(api, hue_places, staff, content_crs, sent):
    response = api(staff).post(
        ITEMS, feature(*sent, ten="Ở đây"), format="json", HTTP_CONTENT_CRS=content_crs
    )
    assert response.status_code == 201, response.content
    stored = Feature.objects.get(layer=hue_places, name="Ở đây").geom
    assert (stored.x, stored.y) == pytest.approx((107.58, 16.47))


def test_what_is_read_in_epsg_4326_is_written_back_as_it_is(api, hue_places, staff):
    """A client reads a feature with crs=EPSG:4326 (latitude first) and PUTs it back with that
    Content-Crs, unchanged: the feature does not move."""
    client = api(staff)
    target = first(hue_places)
    epsg_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
    read = client.get(item_url(target.pk), {"crs": epsg_4326})
    assert read["Content-Crs"] == f"<{epsg_4326}>"
    body = json.loads(read.content)
    body.pop("links", None)
    response = client.put(
        item_url(target.pk), body, format="json", HTTP_CONTENT_CRS=f"<{epsg_4326}>"
    )
    assert response.status_code == 200, response.content
    moved = Feature.objects.get(pk=target.pk).geom
    assert (moved.x, moved.y) == pytest.approx((target.geom.x, target.geom.y), abs=1e-9)


@pytest.mark.parametrize(
    "content_crs", ["<http://example.com/crs/mine>", "EPSG:999999", "<urn:ogc:def:crs:EPSG::0>"]
)
def test_an_unknown_content_crs_is_a_400(api, hue_places, staff, content_crs):
    response = api(staff).post(
        ITEMS, feature(107.58, 16.47, ten="x"), format="json", HTTP_CONTENT_CRS=content_crs
    )
    assert response.status_code == 400, response.content
    assert response.json()["parameter"] == "Content-Crs"


# --- history and tiles --------------------------------------------------------------------------


def test_each_ogc_write_is_in_the_history_with_channel_ogc(api, hue_places, editor):
    client = api(editor)
    created = client.post(ITEMS, feature(107.58, 16.47, ten="Mới"), format="json")
    feature_id = Feature.objects.get(layer=hue_places, name="Mới").pk
    assert created.status_code == 201
    client.put(item_url(feature_id), feature(107.581, 16.471, ten="Mới 2"), format="json")
    client.patch(item_url(feature_id), {"properties": {"so_tang": 1}}, format="json")
    client.delete(item_url(feature_id))
    events = ChangeEvent.objects.filter(layer=hue_places, feature_id=feature_id).order_by("id")
    assert [(e.action, e.channel, e.user_id) for e in events] == [
        ("create", "ogc", editor.pk),
        ("update", "ogc", editor.pk),
        ("update", "ogc", editor.pk),
        ("delete", "ogc", editor.pk),
    ]


def test_a_write_marks_the_touched_tiles_and_raises_the_layer_version(api, hue_places, staff):
    TileChange.objects.filter(layer_id=hue_places.pk).delete()
    target = first(hue_places)
    before = hue_places.version
    response = api(staff).put(
        item_url(target.pk), feature(107.60, 16.48, ten="Dời đi"), format="json"
    )
    assert response.status_code == 200
    # The database trigger recorded boxes (EPSG:3857) holding the old place and the new one.
    old, new = Point(107.5786, 16.4698, srid=4326), Point(107.60, 16.48, srid=4326)
    old.transform(3857)
    new.transform(3857)
    boxes = list(TileChange.objects.filter(layer_id=hue_places.pk))
    for place in (old, new):
        assert any(
            b.min_x - 1 <= place.x <= b.max_x + 1 and b.min_y - 1 <= place.y <= b.max_y + 1
            for b in boxes
        ), place
    assert Layer.objects.get(pk=hue_places.pk).version == before + 1


# --- real clients -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_owslib_writes_with_a_token_and_no_csrf(hue_places, editor, live_server):
    """OWSLib's Features client creates, replaces and deletes with `Authorization: Token`."""
    from owslib.ogcapi.features import Features

    _, token = AuthToken.objects.create(editor)
    client = Features(f"{live_server.url}/ogc/")
    # OWSLib updates its module's shared header dict with `headers=`: give this client its own.
    client.headers = {**client.headers, "Authorization": f"Token {token}"}
    assert client.collection_item_create(
        "dia-diem-hue", feature(107.5817, 16.4676, ten="Phu Văn Lâu")
    )
    created = Feature.objects.get(layer=hue_places, name="Phu Văn Lâu")
    location = client.response_headers["Location"]
    assert location == f"{live_server.url}/ogc/collections/dia-diem-hue/items/{created.pk}"
    assert client.collection_item_update(
        "dia-diem-hue", str(created.pk), feature(107.5818, 16.4677, ten="Phu Văn Lâu (mới)")
    )
    created.refresh_from_db()
    assert created.name == "Phu Văn Lâu (mới)"
    assert client.collection_item_delete("dia-diem-hue", str(created.pk))
    assert not Feature.objects.filter(pk=created.pk).exists()
    channels = set(
        ChangeEvent.objects.filter(feature_id=created.pk).values_list("channel", flat=True)
    )
    assert channels == {"ogc"}
    # Without the token the same client is refused (and OWSLib raises on it).
    anonymous = Features(f"{live_server.url}/ogc/")
    with pytest.raises(RuntimeError, match=r"NotAuthenticated"):
        anonymous.collection_item_create("dia-diem-hue", feature(107.58, 16.47, ten="x"))


def test_a_browser_session_must_send_csrf(hue_places, staff):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    response = client.post(ITEMS, feature(107.58, 16.47, ten="x"), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["description"]
