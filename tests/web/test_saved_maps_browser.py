"""Saved maps in headless Chromium, as a planner uses them: turn layers on, dim one, move the map,
save it under a name, and open its short link elsewhere: the same view and layers come back, and a
visitor who may not see one of them is told one was left out (not which). The QR code on screen
reads back, with zbar, as the short link."""

from __future__ import annotations

import subprocess
import tempfile

import pytest
from django.contrib.auth.models import Group

from layers.models import Layer
from maps.models import SavedMap
from tests.factories import UserFactory
from tests.web.conftest import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS, MapPage
from tests.web.test_editing_browser import sign_in

DRAWN_LAYERS = """() => {
    const map = window.webmap.map;
    return map.getStyle().layers
      .filter((l) => l.id.startsWith('L:') && !l.id.includes(':hl-')
        && map.getLayoutProperty(l.id, 'visibility') !== 'none')
      .map((l) => l.id).sort();
}"""
WATER_OPACITY = "() => window.webmap.map.getPaintProperty('L:water:0', 'fill-opacity')"


@pytest.fixture
def planner(hue_sample):
    """A planner of the group that alone may see the (now restricted) internal plan."""
    group = Group.objects.create(name="city-planners")
    Layer.objects.filter(slug="internal-plan").update(visibility=Layer.Visibility.RESTRICTED)
    hue_sample["internal-plan"].groups.add(group)
    user = UserFactory(username="planner")
    user.groups.add(group)
    return user


@pytest.fixture
def fresh_page(playwright_driver, tmp_path_factory):
    """A second browser with a profile of its own: nobody is signed in there."""
    context = playwright_driver.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="chromium-", dir=tmp_path_factory.getbasetemp()),
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 800}, locale="vi-VN", bypass_csp=True,
    )  # fmt: skip
    context.set_default_timeout(TIMEOUT_MS)
    yield context.pages[0] if context.pages else context.new_page()
    context.close()


@pytest.mark.django_db(transaction=True)
def test_a_saved_map_reopens_by_its_short_link(map_page, planner, fresh_page, tmp_path):
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    sign_in(map_page, "planner")
    map_page.open("#map=15/16.466/107.585&layers=wards,water")
    page = map_page.page
    for title in ("Công trình xây dựng", "Di tích, danh thắng", "Quy hoạch nội bộ"):
        page.get_by_label(title).check()
    water = page.locator("li.layer[data-layer='water']")
    undimmed = page.evaluate(WATER_OPACITY)
    water.get_by_role("button", name="Chi tiết").click()
    water.get_by_label("Độ mờ").fill("40")
    page.evaluate(
        "window.webmap.map.jumpTo({center: [107.5905, 16.4630], zoom: 15.6, bearing: 25})"
    )
    map_page.wait_idle()
    before = {"view": map_page.view(), "drawn": page.evaluate(DRAWN_LAYERS)}
    assert "L:internal-plan:0" in before["drawn"]
    water_opacity = page.evaluate(WATER_OPACITY)
    assert water_opacity == pytest.approx(0.4 * (undimmed if undimmed is not None else 1))
    # The attribute table of the buildings: those from 30 m, only they drawn on the map.
    page.get_by_role("button", name="Bảng thuộc tính").click()
    page.locator("#table-layer").select_option("buildings")
    page.get_by_label("Chiều cao (m) từ").fill("30")
    page.locator(".table-count[data-matched='8']").wait_for()
    page.locator("#table-only-matching").check()
    map_page.wait_idle()
    tall = sorted(f["properties"]["ten"] for f in map_page.rendered("buildings"))
    assert tall and all(f["properties"]["height_m"] >= 30 for f in map_page.rendered("buildings"))
    # The panel's code is not part of the first visit.
    assert not [url for url in requests if "savedmaps" in url]

    page.get_by_role("button", name="Bản đồ đã lưu").click()
    panel = page.locator("#maps-panel")
    panel.get_by_label("Tên").fill("Quy hoạch khu Vĩnh Ninh")
    panel.get_by_label("Chia sẻ với").select_option(label="Bất kỳ ai có liên kết")
    panel.get_by_role("button", name="Lưu", exact=True).click()
    item = panel.locator("li.maps-item", has_text="Quy hoạch khu Vĩnh Ninh")
    item.wait_for()
    saved = SavedMap.objects.get(name="Quy hoạch khu Vĩnh Ninh")
    assert (saved.owner, saved.sharing) == (planner, "public")
    link = f"{map_page.base_url}/m/{saved.code}"
    assert item.get_by_role("link", name="Mở").get_attribute("href") == link

    # The QR code as drawn on screen reads back as the short link.
    item.get_by_role("button", name="Mã QR").click()
    qr = item.get_by_role("img", name="Mã QR của Quy hoạch khu Vĩnh Ninh")
    page.wait_for_function("document.querySelector('.maps-qr').naturalWidth > 0")
    qr.screenshot(path=str(tmp_path / "qr.png"))
    decoded = subprocess.run(["zbarimg", "--quiet", "--raw", str(tmp_path / "qr.png")],
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert decoded.stdout.strip() == link
    map_page.screenshot("saved-maps-panel")

    # The planner opens the link again: exactly the same view and layers.
    page.goto(link)
    page.wait_for_function("window.webmap && window.webmap.map.loaded()")
    map_page.wait_idle()
    again = map_page.view()
    assert again == pytest.approx(before["view"], abs=1e-5)
    assert page.evaluate(DRAWN_LAYERS) == before["drawn"]
    assert page.evaluate(WATER_OPACITY) == pytest.approx(water_opacity)
    assert page.locator("input[data-opacity='water']").input_value() == "40"
    assert page.locator("#table-panel").is_visible()
    assert page.get_by_label("Chiều cao (m) từ").input_value() == "30"
    page.locator(".table-count[data-matched='8']").wait_for()
    assert page.locator("#table-only-matching").is_checked()
    map_page.wait_idle()
    assert sorted(f["properties"]["ten"] for f in map_page.rendered("buildings")) == tall

    # A fresh browser, nobody signed in: the same view, every layer but the restricted one, and
    # word that one layer was left out.
    other = MapPage(fresh_page, map_page.base_url).open(path=f"/m/{saved.code}")
    assert other.view() == pytest.approx(before["view"], abs=1e-5)
    expected = [layer for layer in before["drawn"] if not layer.startswith("L:internal-plan:")]
    assert fresh_page.evaluate(DRAWN_LAYERS) == expected
    assert "internal-plan" not in fresh_page.content()
    toast = fresh_page.locator("#toast")
    assert "1 lớp" in toast.inner_text()
    assert other.rendered("buildings") and other.rendered("landmarks")
    other.screenshot("saved-map-opened-by-a-visitor")
    assert not page.errors


@pytest.mark.django_db(transaction=True)
def test_my_maps_lists_deletes_and_a_private_map_is_404_to_others(map_page, planner, fresh_page):
    other_user = UserFactory(username="other")
    theirs = SavedMap.objects.create(
        name="Của người khác", owner=other_user, sharing="public",
        state={"version": 1, "view": {"center": [107.58, 16.46], "zoom": 14}, "layers": []},
    )  # fmt: skip
    mine = SavedMap.objects.create(
        name="Bản nháp riêng", owner=planner,
        state={"version": 1, "view": {"center": [107.58, 16.46], "zoom": 14}, "layers": []},
    )  # fmt: skip
    sign_in(map_page, "planner")
    map_page.open("#map=15/16.466/107.585&layers=wards")
    page = map_page.page
    page.get_by_role("button", name="Bản đồ đã lưu").click()
    items = page.locator("#maps-panel li.maps-item")
    items.first.wait_for()
    assert items.count() == 1  # someone else's public map is opened by its link, not listed
    assert "Bản nháp riêng" in items.first.inner_text()
    assert "Chỉ mình tôi" in items.first.inner_text()

    # The private map is no page for anyone else (the same 404 as a code never given).
    response = fresh_page.goto(f"{map_page.base_url}/m/{mine.code}")
    assert response.status == 404
    assert fresh_page.goto(f"{map_page.base_url}/m/{theirs.code}").status == 200

    page.once("dialog", lambda dialog: dialog.accept())
    items.first.get_by_role("button", name="Xóa").click()
    page.locator("#maps-panel .maps-empty").wait_for()
    assert not SavedMap.objects.filter(pk=mine.pk).exists()
    assert fresh_page.goto(f"{map_page.base_url}/m/{mine.code}").status == 404
