"""Saved maps through the REST API: only the owner changes a map; private, group and public maps
for every kind of user; a restricted layer never shown to whoever may not see it; bad state 400."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from django.contrib.auth.models import Group

from layers.models import Layer
from maps.models import SavedMap
from tests.factories import LayerFactory, UserFactory

URL = "/api/v1/maps/"


def composition(*slugs: str, **more) -> dict:
    return {
        "version": 1,
        "view": {"center": [107.585, 16.465], "zoom": 15.5, "bearing": 12, "pitch": 0},
        "layers": [{"slug": slug, "opacity": 0.8} for slug in slugs],
        **more,
    }


@pytest.fixture
def owner(planners):
    user = UserFactory(username="owner")
    user.groups.add(planners)
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


def _save(api, user, **body) -> dict:
    response = api(user).post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
def test_a_saved_map_gets_a_short_unguessable_code_and_its_links(api, owner, layers_by_visibility):
    body = _save(api, owner, name="Quy hoạch phường", state=composition("public-layer"))
    assert len(body["code"]) == 11
    assert set(body["code"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert body["url"] == f"http://testserver/m/{body['code']}"
    assert body["qr_url"] == f"http://testserver/m/{body['code']}/qr.svg"
    assert body["sharing"] == "private" and body["mine"] is True
    assert body["state"]["layers"] == [{"slug": "public-layer", "opacity": 0.8}]
    assert body["omitted"] == 0
    codes = {body["code"]} | {
        _save(api, owner, name=f"Map {n}", state=composition())["code"] for n in range(20)
    }
    assert len(codes) == 21


@pytest.mark.django_db
def test_only_the_owner_renames_shares_or_deletes(api, owner, member, planners, staff):
    code = _save(api, owner, name="Bản đồ", sharing="group", group=planners.pk,
                 state=composition())["code"]  # fmt: skip
    detail = f"{URL}{code}/"
    # The group's member and staff may open it, but not change it.
    for other in (member,):
        assert api(other).get(detail).status_code == 200
        assert api(other).patch(detail, {"name": "Mine now"}, format="json").status_code == 403
        assert api(other).delete(detail).status_code == 403
    # Staff outside the group cannot even see it: no exception for them.
    assert api(staff).patch(detail, {"name": "x"}, format="json").status_code == 404
    assert api(None).delete(detail).status_code == 401
    assert SavedMap.objects.get(code=code).name == "Bản đồ"

    renamed = api(owner).patch(detail, {"name": "Bản đồ mới", "sharing": "public"}, format="json")
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["sharing"]) == ("Bản đồ mới", "public")
    assert renamed.json()["group"] is None
    assert api(owner).delete(detail).status_code == 204
    assert api(owner).get(detail).status_code == 404
    assert api(owner).get(f"/m/{code}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sharing", "who_opens"),
    [
        ("private", {"owner"}),
        ("group", {"owner", "member"}),
        ("public", {"owner", "member", "outsider", "anonymous", "staff"}),
    ],
)
def test_who_may_open_a_map(api, owner, member, outsider, staff, planners, sharing, who_opens):
    group = planners.pk if sharing == "group" else None
    saved = _save(api, owner, name="M", sharing=sharing, group=group, state=composition())
    users = {"owner": owner, "member": member, "outsider": outsider, "anonymous": None,
             "staff": staff}  # fmt: skip
    for name, user in users.items():
        client = api(user)
        expected = 200 if name in who_opens else 404
        assert client.get(f"{URL}{saved['code']}/").status_code == expected, name
        assert client.get(f"/m/{saved['code']}").status_code == expected, name
        assert client.get(f"/m/{saved['code']}/qr.svg").status_code == expected, name
    # "My maps": the owner's own, and the group's maps for its members; public maps are not listed.
    listed = {name: [m["code"] for m in api(u).get(URL).json()["results"]]
              for name, u in users.items() if u is not None}  # fmt: skip
    assert listed["owner"] == [saved["code"]]
    assert listed["member"] == ([saved["code"]] if sharing == "group" else [])
    assert listed["outsider"] == [] and listed["staff"] == []
    assert api(None).get(URL).status_code == 401


@pytest.mark.django_db
def test_a_map_is_shared_only_with_a_group_of_the_owner(api, owner, outsider, planners):
    others = Group.objects.create(name="others")
    response = api(owner).post(URL, {"name": "M", "sharing": "group", "group": others.pk,
                                     "state": composition()}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["parameter"] == "group"
    assert "not a member" in response.json()["detail"]
    response = api(owner).post(URL, {"name": "M", "sharing": "group", "state": composition()},
                               format="json")  # fmt: skip
    assert (response.status_code, response.json()["parameter"]) == (400, "group")
    groups = api(owner).get(f"{URL}groups/").json()["results"]
    assert groups == [{"id": planners.pk, "name": "planners"}]


@pytest.mark.django_db
def test_a_restricted_layer_is_left_out_for_whoever_may_not_see_it(
    api, owner, member, outsider, layers_by_visibility
):
    state = composition(
        "public-layer", "restricted-layer", "internal-layer",
        feature={"layer": "restricted-layer", "id": 3},
        table={"open": True, "layer": "restricted-layer", "sort": {"field": "ten"},
               "filters": {"restricted-layer": {"ten": {"text": "x"}},
                           "public-layer": {"ten": {"text": "y"}}},
               "only": ["restricted-layer", "public-layer"]},
        compare={"layers": ["restricted-layer", "public-layer"], "divider": 40, "asOf": None},
    )  # fmt: skip
    code = _save(api, member, name="Quy hoạch", sharing="public", state=state)["code"]

    seen = api(member).get(f"{URL}{code}/").json()
    assert [layer["slug"] for layer in seen["state"]["layers"]] == [
        "public-layer", "restricted-layer", "internal-layer"
    ]  # fmt: skip
    assert seen["omitted"] == 0

    by_outsider = api(outsider).get(f"{URL}{code}/").json()
    assert [layer["slug"] for layer in by_outsider["state"]["layers"]] == [
        "public-layer", "internal-layer"
    ]  # fmt: skip
    assert by_outsider["omitted"] == 1
    assert by_outsider["state"]["feature"] is None
    assert by_outsider["state"]["table"] == {
        "open": True, "layer": None, "sort": {"field": "ten"},
        "filters": {"public-layer": {"ten": {"text": "y"}}}, "only": ["public-layer"],
    }  # fmt: skip
    assert by_outsider["state"]["compare"] == {"layers": ["public-layer"], "divider": 40,
                                               "asOf": None}  # fmt: skip
    assert "restricted-layer" not in str(by_outsider)

    anonymous = api(None).get(f"{URL}{code}/").json()
    assert [layer["slug"] for layer in anonymous["state"]["layers"]] == ["public-layer"]
    assert anonymous["omitted"] == 2

    # The short link's page: the hidden layer is named nowhere in it, and the count is given.
    page = api(outsider).get(f"/m/{code}").content.decode()
    assert "restricted-layer" not in page
    assert '"omitted":1' in page
    assert '"slug":"public-layer","opacity":0.8' in page


@pytest.mark.django_db
def test_a_layer_that_becomes_restricted_later_is_left_out_then(api, owner, outsider, category):
    layer = LayerFactory(slug="ke-hoach", category=category, visibility="public")
    code = _save(api, owner, name="M", sharing="public", state=composition("ke-hoach"))["code"]
    assert api(outsider).get(f"{URL}{code}/").json()["omitted"] == 0
    Layer.objects.filter(pk=layer.pk).update(visibility="restricted")
    seen = api(outsider).get(f"{URL}{code}/").json()
    assert (seen["state"]["layers"], seen["omitted"]) == ([], 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "parameter", "says"),
    [
        ("not json at all", "state", "is not of type 'object'"),
        ({"version": 2, "view": {"center": [107, 16], "zoom": 3}, "layers": []},
         "state.version", "1 was expected"),
        ({"version": 1, "layers": []}, "state", "'view' is a required property"),
        ({"version": 1, "view": {"center": [107, 96], "zoom": 3}, "layers": []},
         "state.view.center[1]", "greater than the maximum of 85"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 30}, "layers": []},
         "state.view.zoom", "greater than the maximum of 24"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3},
          "layers": [{"slug": "a", "opacity": 2}]}, "state.layers[0].opacity", "maximum of 1"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3},
          "layers": [{"slug": "a b"}]}, "state.layers[0].slug", "does not match"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3}, "layers": [],
          "secret": 1}, "state", "Additional properties are not allowed"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3}, "layers": [],
          "compare": {"layers": [], "asOf": "last week"}}, "state.compare.asOf", "does not match"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3}, "layers": [],
          "time": "2025-02-30"}, "state.time", "is not a 'date'"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3}, "layers": [],
          "time": "1/7/2025"}, "state.time", "is not a 'date'"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3}, "layers": [],
          "table": {"filters": {"a": {"ten": {"text": "x" * 70000}}}}}, "state", "at most 65536"),
        ({"version": 1, "view": {"center": [107, 16], "zoom": 3},
          "layers": [{"slug": "a"}, {"slug": "a"}]}, "state.layers", "names a layer twice"),
    ],
)  # fmt: skip
def test_a_bad_state_is_a_clear_400(api, owner, state, parameter, says):
    response = api(owner).post(URL, {"name": "M", "state": state}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid-data"
    assert body["parameter"] == parameter
    assert says in body["detail"]
    assert "docs/api.md" in body["detail"]
    assert not SavedMap.objects.exists()


@pytest.mark.django_db
def test_names_scopes_and_the_cap_are_checked(api, owner, settings):
    response = api(owner).post(URL, {"name": "  ", "state": composition()}, format="json")
    assert (response.status_code, response.json()["parameter"]) == (400, "name")
    response = api(owner).post(URL, {"name": "M", "sharing": "everyone", "state": composition()},
                               format="json")  # fmt: skip
    assert (response.status_code, response.json()["parameter"]) == (400, "sharing")
    assert api(owner).get(URL, {"scope": "theirs"}).json()["parameter"] == "scope"
    settings.SAVED_MAPS_PER_USER = 1
    _save(api, owner, name="M", state=composition())
    response = api(owner).post(URL, {"name": "N", "state": composition()}, format="json")
    assert response.status_code == 409
    assert "delete one" in response.json()["detail"]


@pytest.mark.django_db
def test_the_qr_code_is_an_svg_titled_by_the_map(api, owner):
    """What it encodes is read back by zbar from the drawn code in the browser test."""
    saved = _save(api, owner, name="Bản đồ <QR>", sharing="public", state=composition())
    response = api(None).get(f"/m/{saved['code']}/qr.svg")
    assert response["Content-Type"] == "image/svg+xml"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "public" in response["Cache-Control"]
    svg = ElementTree.fromstring(response.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("{http://www.w3.org/2000/svg}title").text == "Bản đồ <QR>"
    assert list(svg.iter("{http://www.w3.org/2000/svg}path"))
    private = _save(api, owner, name="Riêng", state=composition())
    assert "private" in api(owner).get(f"/m/{private['code']}/qr.svg")["Cache-Control"]


@pytest.mark.django_db
def test_staff_see_saved_maps_in_the_admin(client, owner, layers_by_visibility):
    from django.contrib.auth import get_user_model

    saved = SavedMap.objects.create(name="Của owner", owner=owner, state=composition())
    admin = get_user_model().objects.create_superuser("boss", "b@example.org", "pass-123-pass")
    client.force_login(admin)
    page = client.get("/admin/maps/savedmap/").content.decode()
    assert "Của owner" in page and f"/m/{saved.code}" in page
    change = client.post(
        f"/admin/maps/savedmap/{saved.pk}/change/",
        {"name": "Của owner", "owner": owner.pk, "sharing": "private", "group": "",
         "state": '{"version": 9}'},
    )  # fmt: skip
    assert change.status_code == 200  # the form again, with the schema's complaint
    assert "&#x27;view&#x27; is a required property" in change.content.decode()
    assert SavedMap.objects.get(pk=saved.pk).state == composition()
