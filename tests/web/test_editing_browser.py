"""Editing on the web map in headless Chromium, as an editor does it: sign in, open the Edit tool,
draw, fill in the form, save, move a vertex, meet someone else's change (409), undo, look at a
feature's history and restore a version; and a visitor who is no editor sees no Edit tool."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.contrib.gis.geos import Polygon
from PIL import Image

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
    # The editing code (terra-draw included) is fetched when the tool opens, not with the page.
    loaded = "performance.getEntriesByType('resource').some((e) => e.name.includes('terra-draw'))"
    assert not map_page.page.evaluate(loaded)
    panel = open_editor(map_page)
    assert map_page.page.evaluate(loaded)
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


@pytest.mark.django_db(transaction=True)
def test_a_corner_drawn_near_another_parcel_snaps_to_its_corner(map_page, editor):
    corner = (107.6102, 16.453)  # the north-east corner of Khu đất A2 (sample.py)
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    panel.get_by_role("button", name="Vẽ vùng").click()
    near = map_page.pixel_of(*corner)
    first = (near["x"] + 5, near["y"] - 4)  # 6 px off: within the snapping distance
    mouse = map_page.page.mouse
    mouse.move(*first, steps=3)
    mouse.click(*first)
    map_page.page.wait_for_timeout(120)
    others = [(107.6125, 16.4535), (107.6125, 16.4555), (107.6105, 16.4555)]
    for lon, lat in others:
        point = map_page.pixel_of(lon, lat)
        mouse.move(point["x"], point["y"], steps=3)
        mouse.click(point["x"], point["y"])
        map_page.page.wait_for_timeout(120)
    mouse.move(*first, steps=3)
    mouse.click(*first)  # closes the area on its first corner
    panel.get_by_label("Tên khu đất").fill("Khu đất liền kề")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()

    ring = Feature.objects.get(attributes__ten="Khu đất liền kề").geom.coords[0]
    nearest = min(ring, key=lambda xy: abs(xy[0] - corner[0]) + abs(xy[1] - corner[1]))
    # On the corner as the tiles hold it (their vertices are rounded to a few centimetres), not
    # 6 px (about 6 m at this zoom) away where the click was.
    assert nearest == pytest.approx(corner, abs=2e-6)
    map_page.screenshot("edit-snapped")


def saved_parcel(**attributes) -> Feature:
    """Return a parcel saved through the API's path (as another program would), in NEW_PARCEL."""
    layer = Layer.objects.get(slug="parcels")
    return services.feature_create(
        layer=layer,
        geom=Polygon([*NEW_PARCEL, NEW_PARCEL[0]], srid=4326),
        attributes={"ten": "Khu đất sửa", "area_m2": 5000, "status": "Đã giao đất", **attributes},
        by=services.WriteContext(user=None, channel="api"),
    )


def open_parcel(map_page, panel) -> None:
    """Click the saved parcel on the map with the Edit tool open; wait for its form."""
    map_page.click_at(107.6115, 16.457)
    panel.locator("form.edit-form").wait_for()


def change_elsewhere(feature_id: int, **attributes) -> None:
    """Change a parcel through the API's path, as a colleague would in between."""
    feature = Feature.objects.get(pk=feature_id)
    services.feature_update(
        feature=feature,
        attributes={**feature.attributes, **attributes},
        by=services.WriteContext(user=UserFactory(username="colleague"), channel="api"),
    )


@pytest.mark.django_db(transaction=True)
def test_an_editor_moves_a_vertex_and_saves(map_page, editor):
    feature = saved_parcel()
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    open_parcel(map_page, panel)
    assert panel.get_by_label("Tên khu đất").input_value() == "Khu đất sửa"
    assert "phiên bản 1" in panel.locator(".edit-version").inner_text()
    # The tile drawing of the feature gives way to the one being edited.
    map_page.wait_idle()
    assert "Khu đất sửa" not in parcel_names(map_page)

    drag(map_page, (107.613, 16.458), (107.6136, 16.4586))
    map_page.screenshot("edit-vertex-moved")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()

    feature.refresh_from_db()
    assert feature.version == 2
    assert feature.geom.extent == pytest.approx((107.61, 16.456, 107.6136, 16.4586), abs=3e-5)
    assert feature.attributes["ten"] == "Khu đất sửa"
    event = ChangeEvent.objects.filter(feature_id=feature.pk).latest("at")
    assert (event.action, event.channel, event.user.username) == ("update", "map", "editor")
    wait_for_parcel(map_page, "Khu đất sửa")
    map_page.screenshot("edit-vertex-saved")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_a_save_over_a_colleagues_change_shows_both_versions(map_page, editor):
    feature = saved_parcel()
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    open_parcel(map_page, panel)
    panel.get_by_label("Tên khu đất").fill("Khu đất của tôi")
    change_elsewhere(feature.pk, area_m2=6000)
    panel.get_by_role("button", name="Lưu").click()

    dialog = panel.get_by_role("alertdialog")
    dialog.wait_for()
    assert "Người khác đã sửa đối tượng này" in dialog.inner_text()
    rows = {
        row.locator("th").inner_text(): row.locator("td").all_inner_texts()
        for row in dialog.locator("tbody tr").all()
    }
    assert rows["Tên khu đất"] == ["Khu đất sửa", "Khu đất của tôi"]
    assert rows["Diện tích (m²)"][0] != rows["Diện tích (m²)"][1]
    # Their version is drawn over the map, in its own colour.
    map_page.wait_idle()
    assert map_page.rendered("overlay", "overlay-line")
    map_page.screenshot("edit-conflict")

    # Keep theirs: the form now holds their version, and a save goes on from it.
    dialog.get_by_role("button", name="Giữ bản của họ").click()
    assert panel.get_by_label("Diện tích (m²)").input_value() == "6000"
    assert panel.get_by_label("Tên khu đất").input_value() == "Khu đất sửa"
    panel.get_by_label("Tên khu đất").fill("Khu đất của tôi")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    feature.refresh_from_db()
    assert (feature.version, feature.attributes["ten"], feature.attributes["area_m2"]) == (
        3,
        "Khu đất của tôi",
        6000,
    )

    # Overwrite with mine: sent again over their newer version, on purpose.
    open_parcel(map_page, panel)
    panel.get_by_label("Quy hoạch").fill("Nhà ở")
    change_elsewhere(feature.pk, zoning="Du lịch")
    panel.get_by_role("button", name="Lưu").click()
    panel.get_by_role("alertdialog").get_by_role("button", name="Ghi đè bằng bản của tôi").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    feature.refresh_from_db()
    assert (feature.version, feature.attributes["zoning"]) == (5, "Nhà ở")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_undo_reverts_a_change_and_a_delete(map_page, editor):
    feature = saved_parcel()
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    open_parcel(map_page, panel)
    panel.get_by_label("Tên khu đất").fill("Tên sai")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    wait_for_parcel(map_page, "Tên sai")

    panel.get_by_role("button", name="Hoàn tác thay đổi gần nhất").click()
    panel.locator("#edit-message").filter(has_text="Đã hoàn tác").wait_for()
    feature.refresh_from_db()
    assert (feature.attributes["ten"], feature.version) == ("Khu đất sửa", 3)
    actions = list(
        ChangeEvent.objects.filter(feature_id=feature.pk)
        .order_by("at", "id")
        .values_list("action", "channel")
    )
    assert actions == [("create", "api"), ("update", "map"), ("restore", "map")]
    wait_for_parcel(map_page, "Khu đất sửa")

    open_parcel(map_page, panel)
    panel.get_by_role("button", name="Xóa").click()
    panel.get_by_role("button", name="Có, xóa").click()
    panel.locator("#edit-message").filter(has_text="Đã xóa").wait_for()
    assert not Feature.objects.filter(pk=feature.pk).exists()
    wait_for_parcel(map_page, "Khu đất sửa", present=False)
    map_page.screenshot("edit-deleted")

    panel.get_by_role("button", name="Hoàn tác thay đổi gần nhất").click()
    panel.locator("#edit-message").filter(has_text="Đã hoàn tác").wait_for()
    assert Feature.objects.get(pk=feature.pk).attributes["ten"] == "Khu đất sửa"
    wait_for_parcel(map_page, "Khu đất sửa")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_undo_does_not_overwrite_a_colleagues_later_change(map_page, editor):
    feature = saved_parcel()
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    open_parcel(map_page, panel)
    panel.get_by_label("Tên khu đất").fill("Tên của tôi")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    change_elsewhere(feature.pk, ten="Tên của đồng nghiệp")

    panel.get_by_role("button", name="Hoàn tác thay đổi gần nhất").click()
    panel.locator("#edit-message").filter(has_text="Đã có người sửa").wait_for()
    feature.refresh_from_db()
    assert (feature.version, feature.attributes["ten"]) == (3, "Tên của đồng nghiệp")
    assert not ChangeEvent.objects.filter(feature_id=feature.pk, action="restore").exists()


@pytest.mark.django_db(transaction=True)
def test_the_popup_history_lists_versions_and_restores_one(map_page, editor):
    feature = saved_parcel()
    change_elsewhere(feature.pk, ten="Khu đất đổi tên", area_m2=5100)
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    map_page.click_at(107.6115, 16.457)
    popup = map_page.page.locator(".maplibregl-popup .feature-popup")
    popup.wait_for()
    popup.get_by_role("tab", name="Lịch sử").click()
    versions = popup.locator("li.version")
    versions.first.wait_for()
    assert versions.count() == 2
    newest = versions.nth(0).inner_text()
    assert "Phiên bản 2" in newest
    assert "colleague" in newest
    assert "REST API" in newest
    assert "Khu đất sửa → Khu đất đổi tên" in newest
    assert "Phiên bản 1" in versions.nth(1).inner_text()
    assert "null" not in popup.inner_text()

    # A past version is drawn on the map when chosen.
    versions.nth(1).click()
    map_page.wait_idle()
    drawn = map_page.rendered("overlay", "overlay-line")
    assert drawn
    assert {feature["properties"]["kind"] for feature in drawn} == {"past"}
    map_page.screenshot("history-tab")

    versions.nth(1).get_by_role("button", name="Khôi phục phiên bản này").click()
    popup.locator(".history-status").filter(has_text="Đã khôi phục phiên bản 1").wait_for()
    feature.refresh_from_db()
    assert (feature.version, feature.attributes["ten"], feature.attributes["area_m2"]) == (
        3,
        "Khu đất sửa",
        5000,
    )
    assert popup.locator("li.version").count() == 3
    # The popup's title and attributes follow the restored version.
    assert popup.locator(".popup-title").inner_text() == "Khu đất sửa"
    assert "Đã khôi phục" in popup.locator("li.version").first.inner_text()
    wait_for_parcel(map_page, "Khu đất sửa")
    map_page.screenshot("history-restored")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_a_visitor_who_is_no_editor_sees_no_edit_tool(map_page, editor):
    saved_parcel()
    UserFactory(username="viewer")
    sign_in(map_page, "viewer")
    map_page.open(VIEW)
    assert map_page.page.locator("#tool-distance").is_visible()
    assert map_page.page.locator("#tool-edit").count() == 0
    map_page.click_at(107.6115, 16.457)
    popup = map_page.page.locator(".maplibregl-popup .feature-popup")
    popup.wait_for()
    assert popup.get_by_role("tab").count() == 0
    assert popup.get_by_role("button", name="Sửa đối tượng này").count() == 0
    # Nor does the editing code reach the page.
    scripts = map_page.page.evaluate(
        "performance.getEntriesByType('resource').map((entry) => entry.name)"
    )
    assert not [url for url in scripts if "terra-draw" in url or "editing.js" in url]
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_an_editor_attaches_a_photo_and_removes_it(map_page, editor, tmp_path):
    feature = saved_parcel()
    photo = tmp_path / "hien-trang.png"
    Image.new("RGB", (640, 480), (22, 163, 74)).save(photo)
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    map_page.click_at(107.6115, 16.457)
    popup = map_page.page.locator(".maplibregl-popup .feature-popup")
    popup.locator("section.attachments input[type=file]").wait_for(state="attached")
    assert "Chưa có tệp nào." in popup.locator("section.attachments").inner_text()

    popup.get_by_label("Đính kèm ảnh hoặc PDF").set_input_files(str(photo))
    thumbnail = popup.locator("li.attachment img")
    thumbnail.wait_for()
    map_page.page.wait_for_function(
        "() => { const img = document.querySelector('li.attachment img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    assert popup.locator(".attachment-name").inner_text() == "hien-trang.png"
    events = ChangeEvent.objects.filter(feature_id=feature.pk, action="attach")
    assert events.get().channel == "map"
    map_page.screenshot("attachment-uploaded")

    popup.get_by_role("button", name="Gỡ hien-trang.png").click()
    popup.get_by_role("button", name="Có").click()
    popup.get_by_text("Chưa có tệp nào.").wait_for()
    assert ChangeEvent.objects.filter(feature_id=feature.pk, action="detach").count() == 1

    # The popup's Edit button opens the feature in the editor.
    popup.get_by_role("button", name="Sửa đối tượng này").click()
    panel = map_page.page.locator("#edit-panel")
    panel.locator("form.edit-form").wait_for()
    assert panel.get_by_label("Tên khu đất").input_value() == "Khu đất sửa"
    assert map_page.page.locator(".maplibregl-popup").count() == 0
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_an_outline_that_crosses_itself_is_not_saved(map_page, editor):
    feature = saved_parcel()
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    open_parcel(map_page, panel)
    # The north-east corner dragged west past the west edge: terra-draw stops the corner where
    # the east edge would cross it, so what is saved is a valid outline.
    drag(map_page, (107.613, 16.458), (107.6092, 16.4572))
    map_page.screenshot("edit-self-crossing")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    feature.refresh_from_db()
    assert feature.geom.valid
    assert feature.version == 2

    # A crossing outline that reached the form anyway is refused before it is sent, in words.
    problem = map_page.page.evaluate(
        """async () => {
            const { geometryProblem } = await import('/static/frontend/js/editing.js');
            const layer = window.webmap.config.layers.find((l) => l.slug === 'parcels');
            const bowTie = { type: 'Polygon', coordinates: [[[107.61, 16.456], [107.613, 16.458],
              [107.613, 16.456], [107.61, 16.458], [107.61, 16.456]]] };
            const far = { type: 'Polygon', coordinates: [[[105, 10], [105.1, 10], [105.1, 10.1],
              [105, 10]]] };
            const line = { type: 'LineString', coordinates: [[107.61, 16.456], [107.62, 16.46]] };
            const extent = window.webmap.config.edit_extent;
            return [bowTie, far, line].map((g) => geometryProblem(g, layer, extent));
        }"""
    )
    assert problem == [
        "Đường viền tự cắt nhau: hãy di chuyển các đỉnh để các cạnh không cắt nhau.",
        "Đối tượng nằm ngoài vùng bản đồ này bao phủ: hãy đưa nó vào trong.",
        "Lớp này nhận một vùng, không nhận LineString.",
    ]


@pytest.mark.django_db(transaction=True)
def test_an_editor_adds_a_point_to_a_point_layer(map_page, editor):
    landmarks = Layer.objects.get(slug="landmarks")
    landmarks.editor_groups.add(Group.objects.get(name="parcel-editors"))
    sign_in(map_page, "editor")
    map_page.open("#map=16/16.455/107.6105&layers=wards,roads,landmarks")
    panel = open_editor(map_page)
    assert panel.locator("#edit-layer").input_value() == "landmarks"
    panel.get_by_role("button", name="Thêm điểm").click()
    map_page.click_at(107.6120, 16.4570)
    panel.get_by_label("Tên", exact=True).fill("Điểm mới")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    point = Feature.objects.get(layer=landmarks, attributes__ten="Điểm mới").geom
    assert (point.geom_type, point.x, point.y) == (
        "Point",
        pytest.approx(107.612, abs=2e-5),
        pytest.approx(16.457, abs=2e-5),
    )
    map_page.page.wait_for_function(
        """() => window.webmap.map.queryRenderedFeatures({ layers: ['L:landmarks:0'] })
            .some((f) => f.properties.ten === 'Điểm mới')"""
    )
    map_page.screenshot("edit-point-saved")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_editor_leaves_the_map_visible(map_page, editor):
    map_page.page.set_viewport_size({"width": 390, "height": 800})
    sign_in(map_page, "editor")
    map_page.open(VIEW)
    panel = open_editor(map_page)
    box = panel.bounding_box()
    map_box = map_page.page.locator("#map").bounding_box()
    # A sheet over the lower part of the map, inside the screen.
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert box["y"] > map_box["y"] + map_box["height"] / 3
    assert box["y"] + box["height"] <= map_box["y"] + map_box["height"]
    map_page.screenshot("edit-phone")


@pytest.mark.django_db(transaction=True)
def test_an_editor_draws_a_street(map_page, editor):
    roads = Layer.objects.get(slug="roads")
    roads.editor_groups.add(Group.objects.get(name="parcel-editors"))
    sign_in(map_page, "editor")
    map_page.open("#map=16/16.455/107.6105&layers=wards,roads")
    panel = open_editor(map_page)
    assert panel.locator("#edit-layer").input_value() == "roads"
    panel.get_by_role("button", name="Vẽ đường").click()
    points = [(107.6100, 16.4565), (107.6120, 16.4575), (107.6135, 16.4560)]
    for lon, lat in [*points, points[-1]]:  # the last point clicked again finishes the line
        point = map_page.pixel_of(lon, lat)
        map_page.page.mouse.move(point["x"], point["y"], steps=3)
        map_page.page.mouse.click(point["x"], point["y"])
        map_page.page.wait_for_timeout(150)
    panel.get_by_label("Tên đường").fill("Đường mới")
    panel.get_by_role("button", name="Lưu").click()
    panel.locator("#edit-message").filter(has_text="Đã lưu").wait_for()
    line = Feature.objects.get(layer=roads, attributes__ten="Đường mới").geom
    assert line.geom_type == "LineString"
    assert [tuple(round(c, 4) for c in xy) for xy in line.coords] == points
    map_page.screenshot("edit-line-saved")
