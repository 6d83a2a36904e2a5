# ruff: noqa: F811  (the fixture imported from test_csp_browser is used as an argument)
"""The time slider on the web map: two real boundary layers of Huế, the districts of the former
province valid until 2025-06-30 and the wards and communes of the city valid from 2025-07-01
(the 2025 reform), drawn at the day the slider names. Moving it with the keyboard across 1 July
2025 changes which features the map draws (read back with queryRenderedFeatures), the day goes
into the link and out as a `webmap:time` event, and the slider's code loads only once a
time-enabled layer is on."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.gis.gdal import DataSource

from layers.models import Category, Layer
from layers.services import FeatureRecord, layer_replace_features
from tests.web.test_csp_browser import violations, wait_until, watched  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

DISTRICTS = "huyen-truoc-2025"
WARDS = "phuong-xa-2025"
SCHEMA = [
    {"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"},
    {"name": "valid_from", "type": "date", "label_vi": "Hiệu lực từ", "label_en": "Valid from"},
    {"name": "valid_to", "type": "date", "label_vi": "Hiệu lực đến", "label_en": "Valid to"},
]
# The whole city at zoom 9, so that every boundary is on screen.
VIEW = "#map=8.60/16.38000/107.60000"


def shared_data() -> Path:
    """Return the shared data folder: beside the work tree (CI's copy), else the workplace's."""
    beside = Path(settings.BASE_DIR).resolve().parent / "shared" / "data"
    return beside if beside.exists() else Path("/work/shared/data")


def boundary_layer(slug: str, path: Path, name_field: str, *, start, end, colour: str) -> Layer:
    layer = Layer.objects.create(
        slug=slug,
        category=Category.objects.get(slug="boundaries"),
        status=Layer.Status.READY,
        visibility=Layer.Visibility.PUBLIC,
        geometry_type="polygon",
        max_zoom=18,
        title_vi=slug,
        name_field="ten",
        attribute_schema=SCHEMA,
        time_start_field="valid_from",
        time_end_field="valid_to",
        style={"layers": [
            {"type": "fill", "paint": {"fill-color": colour, "fill-opacity": 0.35}},
            {"type": "line", "paint": {"line-color": colour, "line-width": 2}},
        ]},
    )  # fmt: skip
    layer.full_clean()
    records = []
    for feature in DataSource(str(path))[0]:
        attributes = {"ten": feature.get(name_field)}
        attributes |= {"valid_from": start} if start else {}
        attributes |= {"valid_to": end} if end else {}
        records.append(FeatureRecord(geom=feature.geom.geos, attributes=attributes))
    layer_replace_features(layer=layer, records=records)
    return layer


@pytest.fixture
def reform(settings, hue_sample):
    data = shared_data()
    boundary_layer(
        DISTRICTS, data / "vn_admin_tth_gov" / "tth_districts.geojson", "ten",
        start=None, end="2025-06-30", colour="#7c3aed",
    )  # fmt: skip
    boundary_layer(
        WARDS, data / "hue_wards_2025" / "hue_wards_2025.gpkg", "name",
        start="2025-07-01", end=None, colour="#0f766e",
    )  # fmt: skip
    # The new wards in the base map (always on), the old districts a layer the map opens with:
    # both keep a source of their own, outside the base map's composite tiles.
    settings.WEBMAP_BASE_LAYERS = [*settings.WEBMAP_BASE_LAYERS, WARDS]
    settings.WEBMAP_DEFAULT_LAYERS = [*settings.WEBMAP_DEFAULT_LAYERS, DISTRICTS]


def drawn(map_page, slug: str) -> set[str]:
    return {feature["properties"]["ten"] for feature in map_page.rendered(slug)}


def settle(map_page, day: str) -> None:
    map_page.page.wait_for_function(f"window.webmap.config.time === '{day}'")
    map_page.wait_idle()


def test_the_slider_draws_the_boundaries_of_the_day(map_page, reform):
    page = map_page.page
    tiles = []
    page.on("request", lambda request: "/tiles/" in request.url and tiles.append(request.url))
    map_page.open(VIEW)
    # Today: the city's 40 wards and communes, no district.
    slider = page.locator("#time-range")
    slider.wait_for()
    assert page.locator("#time-panel").is_visible()
    map_page.wait_idle()
    assert len(drawn(map_page, WARDS)) >= 30 and not drawn(map_page, DISTRICTS)
    assert any(f"/tiles/{WARDS}/" in url and "datetime=" in url for url in tiles)
    # The base map's composite tiles carry no datetime (they stay cached).
    assert not any("datetime=" in url and "/tiles/wards," in url for url in tiles)
    page.evaluate(
        "() => { window.__times = []; document.addEventListener('webmap:time',"
        " (event) => window.__times.push([event.detail.datetime, event.detail.instant])); }"
    )

    # Keyboard only: Home is the slider's first day (a year before the first day known, as the
    # districts' start is open), Page Up a month, the arrows a day.
    slider.focus()
    page.keyboard.press("Home")
    settle(map_page, "2024-06-30")
    page.keyboard.press("PageUp")
    for _ in range(11):
        page.keyboard.press("PageUp")
    settle(map_page, "2025-06-25")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    settle(map_page, "2025-06-30")
    districts = drawn(map_page, DISTRICTS)
    assert len(districts) == 9 and "Thành phố Huế" in districts, districts
    assert not drawn(map_page, WARDS)
    label = page.locator("#time-label").inner_text()
    assert "30" in label and "2025" in label, label
    assert slider.get_attribute("aria-valuetext") == label
    assert "time=2025-06-30" in page.url
    map_page.screenshot("time-slider-2025-06-30")

    page.keyboard.press("ArrowRight")
    settle(map_page, "2025-07-01")
    wards = drawn(map_page, WARDS)
    assert len(wards) >= 30 and not drawn(map_page, DISTRICTS)
    assert "time=2025-07-01" in page.url
    map_page.screenshot("time-slider-2025-07-01")
    times = page.evaluate("window.__times")
    assert times[0] == ["2024-06-30", "2024-06-30T23:59:59+07:00"], times
    assert [day for day, _instant in times[-2:]] == ["2025-06-30", "2025-07-01"], times
    # A click in A Lưới identifies what is drawn: the ward or commune there, not the old district.
    map_page.click_at(107.25, 16.20)
    popup = page.locator(".maplibregl-popup .feature-popup")
    popup.wait_for()
    text = page.locator(".maplibregl-popup").inner_text().lower()  # layer names in capitals
    assert WARDS in text and DISTRICTS not in text and "huyện a lưới" not in text, text
    # End: the last day, today (the wards' end is open), which is "now" for the sensors' replay.
    slider.focus()
    page.keyboard.press("End")
    today = page.evaluate("window.webmap.config.today")
    settle(map_page, today)
    assert page.evaluate("window.__times.at(-1)") == [today, None]
    assert page.errors == []

    # The link opens at its day (in a new page: a changed fragment alone reloads nothing).
    link = page.url
    page.goto("about:blank")
    assert f"time={today}" in link
    map_page.open(link[link.index("#") :].replace(f"time={today}", "time=2025-05-01"))
    settle(map_page, "2025-05-01")
    assert len(drawn(map_page, DISTRICTS)) == 9 and not drawn(map_page, WARDS)
    assert "1" in page.locator("#time-label").inner_text()


def test_the_slider_loads_only_with_a_time_enabled_layer(map_page, reform, settings):
    settings.WEBMAP_BASE_LAYERS = [slug for slug in settings.WEBMAP_BASE_LAYERS if slug != WARDS]
    page = map_page.page
    scripts = []
    page.on("request", lambda request: scripts.append(request.url))
    map_page.open(VIEW + "&layers=landmarks")
    assert not any("timeslider" in url for url in scripts)
    assert page.locator("#time-panel").count() == 0
    page.evaluate(f"() => window.webmap.setLayer('{DISTRICTS}', true)")
    page.locator("#time-panel").wait_for()
    assert any(url.endswith("/timeslider.js") for url in scripts)
    map_page.wait_idle()
    # Drawn at today: the districts ended on 2025-06-30.
    assert not drawn(map_page, DISTRICTS)
    page.evaluate(f"() => window.webmap.setLayer('{DISTRICTS}', false)")
    assert page.locator("#time-panel").is_hidden()


def test_the_slider_under_the_content_security_policy(watched, live_server, reform):
    """The slider's module and stylesheet load, and it works, with the policy enforced."""
    watched.goto(f"{live_server.url}/{VIEW}")
    wait_until(watched, "document.getElementById('time-range')")
    wait_until(
        watched, "getComputedStyle(document.getElementById('time-panel')).position === 'absolute'"
    )
    watched.locator("#time-range").focus()
    watched.keyboard.press("Home")
    wait_until(watched, "window.webmap.config.time === '2024-06-30'")
    assert violations(watched) == [] and watched.errors == []


def test_only_matching_in_the_table_keeps_the_day(map_page, reform):
    """The attribute table's "only matching" source of a time-enabled layer follows the slider."""
    page = map_page.page
    map_page.open(VIEW + "&time=2025-06-30")
    page.locator("#time-range").wait_for()
    page.evaluate(
        "async (slug) => { const table = await window.webmap.toggleTable(true);"
        " table.restore({layer: slug, filters: {[slug]: {ten: {text: 'huyen'}}}, only: [slug]}); }",
        DISTRICTS,
    )
    page.wait_for_function(f"window.webmap.map.getSource('F:{DISTRICTS}') !== undefined")
    map_page.wait_idle()
    # The six "Huyện" of the former province, drawn from the filtered source at 30 June 2025.
    assert drawn(map_page, DISTRICTS) == {
        "Huyện Phong Điền", "Huyện Quảng Điền", "Huyện Phú Vang", "Huyện A Lưới",
        "Huyện Phú Lộc", "Huyện Nam Đông",
    }  # fmt: skip
    page.locator("#time-range").focus()
    page.keyboard.press("ArrowRight")
    settle(map_page, "2025-07-01")
    assert not drawn(map_page, DISTRICTS)


def test_a_saved_map_keeps_the_day(map_page, reform):
    """Saved with the slider at 30 June 2025, the map reopens by its short link at that day."""
    from maps.models import SavedMap
    from tests.factories import UserFactory
    from tests.web.test_editing_browser import sign_in

    UserFactory(username="planner")
    sign_in(map_page, "planner")
    page = map_page.page
    map_page.open(VIEW + "&time=2025-06-29")
    slider = page.locator("#time-range")
    slider.focus()
    page.keyboard.press("ArrowRight")
    settle(map_page, "2025-06-30")
    page.get_by_role("button", name="Bản đồ đã lưu").click()
    panel = page.locator("#maps-panel")
    panel.get_by_label("Tên").fill("Huyện trước sáp nhập")
    panel.get_by_role("button", name="Lưu", exact=True).click()
    panel.locator("li.maps-item", has_text="Huyện trước sáp nhập").wait_for()
    saved = SavedMap.objects.get(name="Huyện trước sáp nhập")
    assert saved.state["time"] == "2025-06-30"
    # Opened elsewhere (today is the default day): the districts of that day, not today's wards.
    page.goto("about:blank")
    page.goto(f"{map_page.base_url}/m/{saved.code}")
    settle(map_page, "2025-06-30")
    assert len(drawn(map_page, DISTRICTS)) == 9 and not drawn(map_page, WARDS)
    assert (
        page.locator("#time-range").get_attribute("aria-valuetext")
        == page.locator("#time-label").inner_text()
    )
    assert page.errors == []


LEFT_DISTRICTS = f"""() => {{
    const map = window.webmap.compare.map;
    const layers = map.getStyle().layers.map((l) => l.id)
      .filter((id) => id.startsWith('L:{DISTRICTS}:') && !id.includes(':hl-')
        && !id.endsWith(':label'));
    return [...new Set(map.queryRenderedFeatures({{ layers }}).map((f) => f.properties.ten))];
}}"""


def test_compare_left_side_follows_the_slider_unless_it_has_its_own_date(map_page, reform):
    from tests.web.test_compare_browser import _wait_both

    page = map_page.page
    map_page.open(VIEW + "&time=2025-07-01")
    page.locator("#time-range").wait_for()
    page.evaluate(
        f"() => window.webmap.toggleCompare(true, {{layers: ['{DISTRICTS}'], divider: 50}})"
    )
    _wait_both(map_page)
    assert page.evaluate(LEFT_DISTRICTS) == []  # the districts ended on 2025-06-30
    page.locator("#time-range").focus()
    page.keyboard.press("ArrowLeft")
    settle(map_page, "2025-06-30")
    page.wait_for_function(f"({LEFT_DISTRICTS})().length === 9")
    _wait_both(map_page)
    map_page.screenshot("compare-left-follows-the-slider")
    # A date of its own (today): the left side is the map of that day, whatever the slider says.
    today = page.evaluate("window.webmap.config.today")
    page.locator("#compare-as-of").fill(today)
    page.locator("#compare-as-of").dispatch_event("change")
    _wait_both(map_page)
    page.wait_for_function(f"({LEFT_DISTRICTS})().length === 0")
    assert len(drawn(map_page, DISTRICTS)) == 9  # the right side still at the slider's day
    assert "compare_as_of=" in page.url and "time=2025-06-30" in page.url
    assert page.errors == []
