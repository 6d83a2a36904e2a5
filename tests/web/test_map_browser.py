"""The web map in headless Chromium, used as a person would: look, click, type, share."""

from __future__ import annotations

import math
import re

import pytest
from django.contrib.auth.models import Group

from layers.models import Layer
from tests.factories import UserFactory
from tests.web import sample

DAI_NOI = next((lon, lat) for name, _en, lon, lat in sample.LANDMARKS if name == "Đại Nội")


def _names(features: list[dict]) -> set[str]:
    return {feature["properties"].get("ten") for feature in features}


@pytest.mark.django_db(transaction=True)
def test_the_map_draws_our_layers_from_our_tiles(map_page):
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    map_page.open()
    map_page.screenshot("map-default")

    assert {"Đại Nội", "Chợ Đông Ba", "Cầu Trường Tiền"} <= _names(map_page.rendered("landmarks"))
    assert {"Lê Lợi", "Trần Hưng Đạo"} <= _names(map_page.rendered("roads"))
    assert map_page.rendered("water")
    assert map_page.rendered("parcels")
    tiles = [url for url in requests if "/tiles/" in url]
    # The base map and the themes the map opens with come in one composite request per tile.
    assert tiles
    assert all("/tiles/wards,water,roads,buildings,parcels,landmarks/" in url for url in tiles)
    assert all(url.startswith(map_page.base_url) for url in requests if not url.startswith("data:"))
    # Labels in Vietnamese need our glyphs, served by us.
    assert any("/static/glyphs/noto-sans-regular/7680-7935.pbf" in url for url in requests)
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_switching_a_layer_off_removes_its_features(map_page):
    map_page.open()
    assert map_page.rendered("landmarks")

    credits = map_page.page.locator(".maplibregl-ctrl-attrib-inner")
    assert "Sample data (landmarks)" in credits.text_content()

    map_page.page.get_by_label("Di tích, danh thắng").uncheck()
    map_page.wait_idle()
    assert map_page.rendered("landmarks") == []
    assert "landmarks" not in map_page.page.evaluate("location.hash")
    # Its data rides in the base map's tiles, but its credit goes with it.
    assert "Sample data (landmarks)" not in credits.text_content()
    map_page.screenshot("layer-off")

    map_page.page.get_by_label("Di tích, danh thắng").check()
    map_page.wait_idle()
    assert "Đại Nội" in _names(map_page.rendered("landmarks"))
    assert "Sample data (landmarks)" in credits.text_content()


STYLE_IDS = "window.webmap.map.getStyle().layers.map((layer) => layer.id)"


@pytest.mark.django_db(transaction=True)
def test_a_layer_off_at_the_start_joins_the_map_when_switched_on(map_page):
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    map_page.open("#map=16/16.4525/107.611&layers=water,roads,landmarks")
    # The first style holds only the layers that are on.
    assert not [id for id in map_page.page.evaluate(STYLE_IDS) if id.startswith("L:parcels:")]
    assert not [url for url in requests if "parcels" in url]

    item = map_page.page.locator("li.layer[data-layer='parcels']")
    item.locator("button.more").click()
    item.locator("input[data-opacity='parcels']").fill("40")  # chosen while the layer is off
    item.get_by_role("checkbox").check()
    map_page.wait_idle()

    assert {"Khu đất A2", "Khu đất B1", "Khu đất B2"} <= _names(map_page.rendered("parcels"))
    ids = map_page.page.evaluate(STYLE_IDS)
    # In its place in the stack: above the base map and below the point themes, the highlights
    # and the labels, as if the style had been built with it on.
    assert ids.index("L:roads:0") < ids.index("L:parcels:0") < ids.index("L:landmarks:0")
    assert (
        ids.index("L:landmarks:0") < ids.index("L:parcels:hl-fill") < ids.index("L:landmarks:label")
    )
    opacity = map_page.page.evaluate(
        "window.webmap.map.getPaintProperty('L:parcels:0', 'fill-opacity')"
    )
    assert opacity == pytest.approx(0.5 * 0.4)
    # Not a theme the map opened with: it has tiles of its own, and its credit shows.
    assert any("/tiles/parcels/" in url for url in requests)
    credits = map_page.page.locator(".maplibregl-ctrl-attrib-inner").text_content()
    assert "Sample data (parcels)" in credits
    map_page.click_at(107.609 + 0.0006, 16.452 + 0.0005)  # Khu đất A2
    map_page.page.locator(".feature-popup").wait_for()
    map_page.wait_idle()
    assert map_page.rendered("parcels", "L:parcels:hl-fill")
    map_page.screenshot("layer-switched-on")


@pytest.mark.django_db(transaction=True)
def test_a_click_shows_the_feature_in_a_popup_and_highlights_it(map_page):
    map_page.open()
    map_page.click_at(*DAI_NOI)
    popup = map_page.page.locator(".maplibregl-popup .feature-popup")
    popup.wait_for()

    assert popup.locator(".popup-title").inner_text() == "Đại Nội"
    assert popup.locator(".popup-layer").inner_text().lower() == "di tích, danh thắng"
    rows = dict(
        zip(
            popup.locator("th").all_inner_texts(),
            popup.locator("td").all_inner_texts(),
            strict=True,
        )
    )
    assert rows["Tên tiếng Anh"] == "Imperial City"
    feature_id = int(popup.get_attribute("data-feature"))
    highlight = map_page.page.evaluate("window.webmap.map.getFilter('L:landmarks:hl-circle')")
    assert feature_id in highlight[1]
    map_page.wait_idle()
    map_page.screenshot("identify-popup")


@pytest.mark.django_db(transaction=True)
def test_attribute_text_holding_html_shows_as_text(map_page):
    map_page.open()
    map_page.click_at(*sample.XSS_LANDMARK)
    popup = map_page.page.locator(".maplibregl-popup .feature-popup")
    popup.wait_for()

    assert sample.XSS in popup.inner_text()
    assert popup.locator("img").count() == 0
    assert map_page.page.evaluate("window.__xss") is None
    map_page.screenshot("identify-html-as-text")


@pytest.mark.django_db(transaction=True)
def test_attribution_links_show_as_links_and_nothing_else_runs(map_page):
    # Written around the save-time cleaning, as rows saved before it were: cleaned on the way out.
    Layer.objects.filter(slug="landmarks").update(
        attribution='Sample data, <a href="https://www.openstreetmap.org/copyright">OSM</a>'
        '<img src="x" onerror="window.__xss = 1"><a href="javascript:window.__xss = 2">x</a>'
    )
    map_page.open()
    found = map_page.page.evaluate(
        """() => {
            const osm = 'a[href="https://www.openstreetmap.org/copyright"]';
            const control = document.querySelector('.maplibregl-ctrl-attrib');
            const credits = [...document.querySelectorAll('dl.credits dd')]
              .filter((dd) => dd.textContent.includes('Sample data, OSM'));
            return {
              control: control.querySelectorAll(osm).length,
              credits: credits.map((dd) => dd.querySelectorAll(osm).length),
              images: control.querySelectorAll('img').length
                + credits.reduce((n, dd) => n + dd.querySelectorAll('img').length, 0),
              scripted: [...document.querySelectorAll('a')]
                .filter((a) => (a.getAttribute('href') || '').startsWith('javascript:')).length,
              raw: credits.some((dd) => dd.textContent.includes('<a')),
            };
        }"""
    )
    assert found["control"] == 1  # MapLibre's attribution control, as a link
    assert found["credits"] == [1]  # the layer's details in the tree, as a link
    assert found["images"] == 0 and found["scripted"] == 0 and not found["raw"]
    assert map_page.page.evaluate("window.__xss") is None


@pytest.mark.django_db(transaction=True)
def test_searching_without_accents_flies_to_the_place(map_page):
    map_page.open("#map=13/16.44/107.62")
    box = map_page.page.get_by_role("search").get_by_role("combobox")
    box.fill("dai noi")
    result = map_page.page.locator("#search-results li[role=option]").first
    result.wait_for()
    assert result.locator(".hit-name").inner_text() == "Đại Nội"
    map_page.screenshot("search-results")

    result.click()
    map_page.page.locator(".maplibregl-popup .popup-title", has_text="Đại Nội").wait_for()
    map_page.wait_idle()
    view = map_page.view()
    assert view["zoom"] >= 16
    assert math.dist((view["lon"], view["lat"]), DAI_NOI) < 0.0005
    map_page.screenshot("search-flown")


@pytest.mark.django_db(transaction=True)
def test_3d_tilts_the_map_and_extrudes_the_buildings(map_page):
    lon, lat = sample.BUILDINGS_ORIGIN
    map_page.open(f"#map=17/{lat + 0.0006}/{lon + 0.0008}")
    assert map_page.rendered("buildings", "L:buildings:3d") == []

    map_page.page.locator("#tool-3d").click()
    map_page.page.wait_for_function("window.webmap.map.getPitch() > 50")
    map_page.wait_idle()
    extruded = map_page.rendered("buildings", "L:buildings:3d")
    assert extruded
    assert {feature["properties"]["height_m"] for feature in extruded} > {8}
    assert map_page.rendered("buildings", "L:buildings:0") == []  # the flat fill makes way
    assert "/60" in map_page.page.evaluate("location.hash")  # the pitch is in the shared view
    map_page.screenshot("3d-buildings")

    map_page.page.locator("#tool-3d").click()
    map_page.page.wait_for_function("window.webmap.map.getPitch() === 0")
    map_page.wait_idle()
    assert map_page.rendered("buildings", "L:buildings:3d") == []
    assert map_page.rendered("buildings", "L:buildings:0")


@pytest.mark.django_db(transaction=True)
def test_the_shared_url_restores_the_view_and_the_layers(map_page, browser_context):
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    map_page.open("#map=16.5/16.46800/107.58400/30/0&layers=water,roads,landmarks")
    # A layer that is off costs no request.
    assert not [url for url in requests if "/tiles/parcels/" in url]
    view = map_page.view()
    assert view["zoom"] == pytest.approx(16.5)
    assert (view["lat"], view["lon"]) == pytest.approx((16.468, 107.584))
    assert view["bearing"] == pytest.approx(30)
    assert map_page.page.get_by_label("Công trình xây dựng").is_checked() is False
    assert map_page.page.get_by_label("Khu đất kêu gọi đầu tư").is_checked() is False
    assert map_page.rendered("buildings") == []
    assert map_page.rendered("landmarks")

    # Move and switch a layer on: the address bar follows, and opening it elsewhere shows the same.
    map_page.page.evaluate("window.webmap.map.jumpTo({center: [107.59, 16.47], zoom: 15.25})")
    map_page.page.get_by_label("Công trình xây dựng").check()
    map_page.wait_idle()
    shared = map_page.page.url
    assert re.search(r"#map=15\.25/16\.47000/107\.59000/", shared)

    other = browser_context.new_page()
    from tests.web.conftest import MapPage

    second = MapPage(other, map_page.base_url)
    other.goto(shared)
    other.wait_for_function("window.webmap && window.webmap.map.loaded()")
    second.wait_idle()
    assert second.view()["zoom"] == pytest.approx(15.25)
    assert (second.view()["lat"], second.view()["lon"]) == pytest.approx((16.47, 107.59))
    assert other.get_by_label("Công trình xây dựng").is_checked()
    assert other.get_by_label("Khu đất kêu gọi đầu tư").is_checked() is False
    second.screenshot("shared-url-restored")
    other.close()


@pytest.mark.django_db(transaction=True)
def test_internal_layers_show_only_to_signed_in_users(map_page, hue_sample):
    map_page.open("#map=15/16.47/107.576&layers=internal-plan,landmarks")
    assert map_page.page.locator("li.layer[data-layer='internal-plan']").count() == 0
    assert "internal-plan" not in map_page.page.content()
    assert map_page.page.locator("#toast").inner_text()  # the link named a layer we cannot see
    map_page.screenshot("anonymous-layers")

    planner = UserFactory(username="planner")
    planner.groups.add(Group.objects.create(name="city-planners"))
    map_page.page.get_by_role("link", name="Đăng nhập").click()
    map_page.page.get_by_label("Tên người dùng").fill("planner")
    map_page.page.get_by_label("Mật khẩu").fill("secret-pass-123")
    map_page.page.get_by_role("button", name="Đăng nhập").click()
    map_page.page.wait_for_function("window.webmap && window.webmap.map.loaded()")
    map_page.page.evaluate("window.webmap.map.jumpTo({center: [107.576, 16.47], zoom: 15})")
    item = map_page.page.locator("li.layer[data-layer='internal-plan']")
    assert "Nội bộ" in item.inner_text()
    item.get_by_role("checkbox").check()
    map_page.wait_idle()
    assert _names(map_page.rendered("internal-plan")) == {"Khu nội bộ"}
    map_page.screenshot("signed-in-internal-layer")


@pytest.mark.django_db(transaction=True)
def test_measuring_a_distance_and_an_area(map_page):
    map_page.open("#map=15/16.465/107.585&layers=water")
    a, b, c = (107.580, 16.462), (107.590, 16.462), (107.590, 16.470)
    map_page.page.get_by_role("button", name="Đo khoảng cách").click()
    map_page.click_at(*a)
    map_page.click_at(*b)
    map_page.page.keyboard.press("Enter")
    value = map_page.page.locator(".measure-value")
    expected = 6371008.8 * math.radians(0.010) * math.cos(math.radians(16.462))
    assert float(value.get_attribute("data-length-m")) == pytest.approx(expected, rel=0.005)
    assert "km" in value.inner_text()
    # The measuring layers join the map with the first measure, on top of everything.
    map_page.wait_idle()
    assert map_page.page.evaluate(STYLE_IDS)[-3:] == [
        "measure-fill",
        "measure-line",
        "measure-points",
    ]
    assert map_page.rendered("measure", "measure-line")
    map_page.screenshot("measure-distance")

    map_page.page.get_by_role("button", name="Đo diện tích").click()
    for point in (a, b, c):
        map_page.click_at(*point)
    map_page.page.keyboard.press("Enter")
    # A right triangle of about 1.07 km by 0.89 km.
    width = 6371008.8 * math.radians(0.010) * math.cos(math.radians(16.466))
    height = 6371008.8 * math.radians(0.008)
    area = float(map_page.page.locator(".measure-value").get_attribute("data-area-m2"))
    assert area == pytest.approx(width * height / 2, rel=0.01)
    map_page.screenshot("measure-area")


@pytest.mark.django_db(transaction=True)
def test_exporting_the_view_as_png(map_page, tmp_path):
    map_page.open()
    with map_page.page.expect_download() as download:
        map_page.page.get_by_role("button", name="Tải ảnh PNG của khung nhìn này").click()
    path = tmp_path / "view.png"
    download.value.save_as(path)
    assert download.value.suggested_filename.endswith(".png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000  # a drawn map, not an empty canvas


@pytest.mark.django_db(transaction=True)
def test_the_language_switch_is_remembered(map_page):
    map_page.open()
    assert map_page.page.locator("#panel h2").inner_text() == "Lớp dữ liệu"
    map_page.page.get_by_role("button", name="EN").click()
    map_page.page.wait_for_function("document.documentElement.lang === 'en'")
    map_page.page.wait_for_function("window.webmap && window.webmap.map.loaded()")
    assert map_page.page.locator("#panel h2").inner_text() == "Layers"
    assert map_page.page.get_by_label("Landmarks").is_checked()
    cookies = {c["name"]: c["value"] for c in map_page.page.context.cookies()}
    assert cookies["django_language"] == "en"

    map_page.page.goto(f"{map_page.base_url}/investors/")
    assert map_page.page.locator("h1").inner_text() == "Investment parcels"
    map_page.screenshot("investors-english")


@pytest.mark.django_db(transaction=True)
def test_failures_are_said_clearly(map_page):
    map_page.page.route("**/api/v1/search/**", lambda route: route.fulfill(status=503))
    map_page.page.route("**/api/v1/identify/**", lambda route: route.fulfill(status=500))
    map_page.open()
    map_page.page.get_by_role("search").get_by_role("combobox").fill("dai noi")
    map_page.page.locator("#search-results .message.error").wait_for()

    map_page.click_at(*DAI_NOI)
    popup = map_page.page.locator(".maplibregl-popup")
    popup.locator(".popup-status.warn").wait_for()
    assert popup.locator(".popup-title").inner_text() == "Đại Nội"  # from the tile itself
    map_page.screenshot("failure-messages")


@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_layers_open_in_a_drawer(map_page):
    map_page.page.set_viewport_size({"width": 390, "height": 844})
    map_page.open()
    panel = map_page.page.locator("#panel")
    assert panel.bounding_box()["x"] + panel.bounding_box()["width"] <= 0
    map_page.screenshot("phone-map")
    map_page.page.get_by_role("button", name="Lớp dữ liệu").click()
    map_page.page.wait_for_function(
        "document.getElementById('panel').getBoundingClientRect().left >= 0"
    )
    map_page.page.wait_for_timeout(300)  # the drawer's slide, for the picture only
    map_page.screenshot("phone-layers")
    assert map_page.rendered("landmarks")


@pytest.mark.django_db(transaction=True)
def test_investors_filter_parcels_and_open_one_on_the_map(map_page):
    page = map_page.page
    page.goto(f"{map_page.base_url}/investors/")
    assert page.locator("table.parcels tbody tr").count() == 5
    page.get_by_label("Quy hoạch").select_option("Thương mại dịch vụ")
    page.get_by_label("Diện tích từ (m²)").fill("20000")
    page.get_by_role("button", name="Lọc").click()
    rows = page.locator("table.parcels tbody tr")
    assert rows.count() == 1
    assert "Khu đất B2" in rows.first.inner_text()
    map_page.screenshot("investors-filtered")

    rows.first.get_by_role("link", name="Xem trên bản đồ").click()
    page.wait_for_function("window.webmap && window.webmap.map.loaded()")
    popup = page.locator(".maplibregl-popup .feature-popup")
    popup.locator(".popup-title", has_text="Khu đất B2").wait_for()
    assert "25.000" in popup.inner_text() or "25,000" in popup.inner_text()
    map_page.wait_idle()
    assert "Khu đất B2" in _names(map_page.rendered("parcels"))
    map_page.screenshot("investor-parcel-on-map")
