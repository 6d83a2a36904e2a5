"""Editing on the web map in headless Chromium, as an editor does it: sign in, open the Edit tool,
draw, fill in the form, save, move a vertex, meet someone else's change (409), undo, look at a
feature's history and restore a version; and a visitor who is no editor sees no Edit tool."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.contrib.gis.geos import Polygon

from layers import services
from layers.models import ChangeEvent, Feature, Layer
from tests.factories import UserFactory

# An empty corner of the sample city, north of the investment parcels.
NEW_PARCEL = [(107.6100, 16.4560), (107.6130, 16.4560), (107.6130, 16.4580), (107.6100, 16.4580)]
VIEW = "#map=16/16.455/107.6105&layers=wards,water,roads,parcels"


@pytest.fixture
def editor(hue_sample):
    """A member of the parcels layer's editor group (not GIS staff), with a form to fill in."""
    parcels = hue_sample["parcels"]
    schema = parcels.attribute_schema
    schema[0]["required"] = True  # ten
    schema[3]["choices"] = [  # status
        {"value": "Đang kêu gọi đầu tư", "label_vi": "Đang kêu gọi đầu tư", "label_en": "Open"},
        {"value": "Đã giao đất", "label_vi": "Đã giao đất", "label_en": "Allocated"},
    ]
    parcels.attribute_schema = schema
    parcels.save(update_fields=["attribute_schema"])
    group = Group.objects.create(name="parcel-editors")
    parcels.editor_groups.add(group)
    user = UserFactory(username="editor")
    user.groups.add(group)
    return user


def sign_in(map_page, username: str) -> None:
    page = map_page.page
    page.goto(f"{map_page.base_url}/accounts/login/")
    page.get_by_label("Tên người dùng").fill(username)
    page.get_by_label("Mật khẩu").fill("secret-pass-123")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{map_page.base_url}/")
    page.goto("about:blank")  # so that opening the map with a view loads the page again


def click_corners(map_page, corners) -> None:
    """Click the corners of a polygon, then the first one again to close it."""
    for lon, lat in [*corners, corners[0]]:
        point = map_page.pixel_of(lon, lat)
        map_page.page.mouse.move(point["x"], point["y"], steps=3)
        map_page.page.mouse.click(point["x"], point["y"])
        map_page.page.wait_for_timeout(120)


def drag(map_page, start, end) -> None:
    a, b = map_page.pixel_of(*start), map_page.pixel_of(*end)
    mouse = map_page.page.mouse
    mouse.move(a["x"], a["y"], steps=2)
    mouse.down()
    mouse.move((a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2, steps=5)
    mouse.move(b["x"], b["y"], steps=5)
    mouse.up()
    map_page.page.wait_for_timeout(150)


def parcel_names(map_page) -> set[str]:
    return {f["properties"].get("ten") for f in map_page.rendered("parcels")}


def open_editor(map_page):
    map_page.page.get_by_role("button", name="Sửa bản đồ").click()
    panel = map_page.page.locator("#edit-panel")
    panel.wait_for()
    return panel


def wait_for_parcel(map_page, name: str, present: bool = True) -> None:
    """Wait until the tiles drawn on the map hold (or no longer hold) a parcel of this name."""
    map_page.page.wait_for_function(
        """([name, present]) => {
            const map = window.webmap.map;
            const found = map.queryRenderedFeatures({ layers: ['L:parcels:0'] })
              .some((f) => f.properties.ten === name);
            return map.loaded() && map.areTilesLoaded() && found === present;
        }""",
        arg=[name, present],
    )


@pytest.mark.django_db(transaction=True)
def test_an_editor_draws_a_parcel_fills_the_form_and_saves_it(map_page, editor):
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    assert panel.locator("#edit-layer").input_value() == "parcels"
    panel.get_by_role("button", name="Vẽ vùng").click()
    click_corners(map_page, NEW_PARCEL)
    form = panel.locator("form.edit-form")
    form.wait_for()
    map_page.screenshot("edit-drawn")

    # A required field left empty is caught before anything is sent.
    form.get_by_role("button", name="Lưu").click()
    assert panel.locator("#edit-field-ten-error").inner_text() == "Trường này là bắt buộc."
    assert Feature.objects.filter(attributes__ten="Khu đất mới").count() == 0

    form.get_by_label("Tên khu đất").fill("Khu đất mới")
    form.get_by_label("Diện tích (m²)").fill("7200")
    form.get_by_label("Tình trạng").select_option(label="Đang kêu gọi đầu tư")
    form.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()

    feature = Feature.objects.get(attributes__ten="Khu đất mới")
    assert feature.attributes["area_m2"] == 7200
    assert feature.attributes["status"] == "Đang kêu gọi đầu tư"
    assert feature.geom.geom_type == "Polygon"
    assert feature.geom.extent == pytest.approx((107.61, 16.456, 107.613, 16.458), abs=2e-5)
    event = ChangeEvent.objects.get(feature_id=feature.pk)
    assert (event.action, event.channel, event.user.username) == ("create", "map", "editor")
    # The map fetched the layer's new version: the new parcel is drawn from the tiles.
    wait_for_parcel(map_page, "Khu đất mới")
    map_page.screenshot("edit-saved")
    assert map_page.page.errors == []


def _saved_parcel() -> Feature:
    layer = Layer.objects.get(slug="parcels")
    return services.feature_create(
        layer=layer,
        geom=Polygon([*NEW_PARCEL, NEW_PARCEL[0]], srid=4326),
        attributes={"ten": "Khu đất sửa", "area_m2": 5000, "status": "Đã giao đất"},
        by=services.WriteContext(user=None, channel="api"),
    )
