"""Compare in headless Chromium, as a planner uses it: open it, tick a layer for each side, drag
the divider, pan, share the link; and the left side as the data were on a date."""

from __future__ import annotations

import datetime

import pytest
from PIL import Image

from layers.models import Category
from layers.services import FeatureRecord, layer_replace_features
from tests.web import sample
from tests.web.test_csp_browser import violations, wait_until, watched  # noqa: F401 (a fixture)

SPOT = (107.6200, 16.4400)  # away from the sample's other layers
PLAN_COLOUR = "#dc2626"
BUILT_COLOUR = "#1d4ed8"
PLAN_TITLE = "Quy hoạch sử dụng đất"
BUILT_TITLE = "Nhà ở hiện trạng"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def _close(rgb, hex_colour: str, tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, _rgb(hex_colour), strict=True))


@pytest.fixture
def two_layers(hue_sample):
    """A land-use plan and today's buildings, each one opaque box of its own colour covering
    the whole view around SPOT, so that any pixel of the map shows which one is drawn."""
    made = {}
    for slug, title_vi, title_en, category, colour in [
        ("plan", PLAN_TITLE, "Land-use plan", "planning", PLAN_COLOUR),
        ("built", BUILT_TITLE, "Buildings today", "urban", BUILT_COLOUR),
    ]:
        layer = sample._layer(
            slug, Category.objects.get(slug=category), title_vi=title_vi, title_en=title_en,
            geometry_type="polygon", name_field="ten",
            attribute_schema=[{"name": "ten", "type": "text", "label_vi": "Tên",
                               "label_en": "Name"}],
            style={"type": "fill", "paint": {"fill-color": colour, "fill-opacity": 1}},
        )  # fmt: skip
        layer_replace_features(
            layer=layer,
            records=[FeatureRecord(sample._box(*SPOT, 0.03, 0.02), {"ten": title_vi})],
        )
        made[slug] = layer
    return made


def _wait_both(map_page) -> None:
    """Wait until the map and the compare map have drawn everything."""
    map_page.wait_idle()
    map_page.page.wait_for_function("window.webmap.compare && window.webmap.compare.map.loaded()")
    map_page.page.evaluate(
        """() => new Promise((resolve) => {
            const map = window.webmap.compare.map;
            const done = () => !map.isMoving() && map.loaded() && map.areTilesLoaded();
            if (done()) { resolve(); return; }
            map.once('idle', () => resolve());
            map.triggerRepaint();
        })"""
    )


def _map_box(map_page) -> dict:
    return map_page.page.locator("#map").bounding_box()


def _colours(map_page, name: str) -> tuple[tuple, tuple]:
    """Return the colours drawn at 15% and at 80% of the map's width, low on the map (clear of
    the panel, the divider's grip, the controls and the labels)."""
    box = _map_box(map_page)
    image = Image.open(map_page.screenshot(name)).convert("RGB")
    y = round(box["y"] + box["height"] * 0.78)
    left = image.getpixel((round(box["x"] + box["width"] * 0.15), y))
    right = image.getpixel((round(box["x"] + box["width"] * 0.80), y))
    return left, right


def _divider(map_page) -> float:
    return float(map_page.page.locator("#compare-divider").get_attribute("aria-valuenow"))


def _centres(map_page) -> tuple[dict, dict]:
    return map_page.page.evaluate(
        """() => [window.webmap.map, window.webmap.compare.map].map((m) => (
            { lon: m.getCenter().lng, lat: m.getCenter().lat, zoom: m.getZoom() }))"""
    )


def _pan(page, x: float, y: float, dx: float, dy: float) -> None:
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=10)
    page.mouse.up()


@pytest.mark.django_db(transaction=True)
def test_a_planner_compares_two_layers_with_the_divider_and_shares_it(map_page, two_layers):
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    map_page.open(f"#map=16/{SPOT[1]}/{SPOT[0]}")
    # Compare's code is fetched only when it is first opened.
    assert not [url for url in requests if url.endswith("/compare.js")]
    map_page.page.get_by_role("button", name="So sánh hai bộ lớp").click()
    panel = map_page.page.locator("#compare-panel")
    panel.wait_for()
    assert [url for url in requests if url.endswith("/compare.js")]

    panel.get_by_role("checkbox", name=f"Bên trái: {PLAN_TITLE}").check()
    panel.get_by_role("checkbox", name=f"Bên phải: {BUILT_TITLE}").check()
    # The right side is the map itself: its layer tree follows.
    assert map_page.page.locator("#toggle-built").is_checked()
    _wait_both(map_page)

    # Drag the divider's grip with the mouse to 30% of the map's width.
    box = _map_box(map_page)
    grip = map_page.page.locator("#compare-divider .compare-grip").bounding_box()
    map_page.page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    map_page.page.mouse.down()
    map_page.page.mouse.move(box["x"] + box["width"] * 0.30, grip["y"] + 10, steps=8)
    map_page.page.mouse.up()
    assert abs(_divider(map_page) - 30) <= 1
    _wait_both(map_page)

    left, right = _colours(map_page, "compare-dragged")
    assert _close(left, PLAN_COLOUR), left
    assert _close(right, BUILT_COLOUR), right
    # Left of the divider, but right of 30%: the right side's colour.
    image = Image.open(map_page.screenshot("compare-dragged")).convert("RGB")
    y = round(box["y"] + box["height"] * 0.78)
    assert _close(image.getpixel((round(box["x"] + box["width"] * 0.27), y)), PLAN_COLOUR)
    assert _close(image.getpixel((round(box["x"] + box["width"] * 0.33), y)), BUILT_COLOUR)

    # Pan the right side: the left follows; pan the left side: the right follows.
    before = _centres(map_page)[0]
    _pan(map_page.page, box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, -120, 60)
    main, other = _centres(map_page)
    assert abs(main["lon"] - before["lon"]) > 1e-4
    assert main == other
    _pan(map_page.page, box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.6, 90, -40)
    moved, other = _centres(map_page)
    assert abs(moved["lon"] - main["lon"]) > 1e-4
    assert moved == other

    # The keyboard moves the divider too.
    map_page.page.locator("#compare-divider").focus()
    map_page.page.keyboard.press("ArrowRight")
    map_page.page.keyboard.press("ArrowRight")
    assert abs(_divider(map_page) - 34) <= 1
    map_page.page.keyboard.press("Shift+ArrowLeft")
    assert abs(_divider(map_page) - 14) <= 1
    map_page.page.keyboard.press("Shift+ArrowRight")
    _wait_both(map_page)
    assert abs(_divider(map_page) - 34) <= 1

    fragment = map_page.page.evaluate("location.hash")
    assert "&compare=" in fragment and "plan" in fragment.split("&compare=")[1].split("&")[0]
    assert "built" in fragment.split("&layers=")[1].split("&")[0]
    assert "&divider=3" in fragment

    # The link reopens the same comparison.
    map_page.page.goto("about:blank")
    map_page.open(fragment)
    _wait_both(map_page)
    assert map_page.page.locator("#compare-panel").is_visible()
    assert (
        map_page.page.get_by_role("button", name="So sánh hai bộ lớp").get_attribute("aria-pressed")
        == "true"
    )
    assert abs(_divider(map_page) - 34) <= 1
    assert panel.get_by_role("checkbox", name=f"Bên trái: {PLAN_TITLE}").is_checked()
    assert not panel.get_by_role("checkbox", name=f"Bên trái: {BUILT_TITLE}").is_checked()
    assert panel.get_by_role("checkbox", name=f"Bên phải: {BUILT_TITLE}").is_checked()
    main, other = _centres(map_page)
    assert main == other
    left, right = _colours(map_page, "compare-shared")
    assert _close(left, PLAN_COLOUR), left
    assert _close(right, BUILT_COLOUR), right

    # 3D raises the buildings on both sides.
    map_page.page.locator("#tool-3d").click()
    _wait_both(map_page)
    shown = map_page.page.evaluate(
        "[window.webmap.map, window.webmap.compare.map]"
        ".map((m) => m.getLayoutProperty('L:buildings:3d', 'visibility'))"
    )
    assert shown == ["visible", "visible"]

    # Closing it leaves the map as it was, and the link without it.
    panel.get_by_role("button", name="Đóng").click()
    assert not map_page.page.locator("#compare-map").is_visible()
    assert "compare=" not in map_page.page.evaluate("location.hash")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_the_left_side_shows_the_layers_as_they_were_on_a_date(map_page, two_layers):
    tile_requests = []
    map_page.page.on(
        "request",
        lambda request: tile_requests.append(request.url) if "/tiles/" in request.url else None,
    )
    map_page.open(f"#map=16/{SPOT[1]}/{SPOT[0]}&layers=plan&compare=plan&divider=50")
    _wait_both(map_page)
    left, right = _colours(map_page, "compare-as-of-today")
    assert _close(left, PLAN_COLOUR) and _close(right, PLAN_COLOUR)

    # The day before the plan was imported: the left side draws no plan.
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    tile_requests.clear()
    map_page.page.locator("#compare-as-of").fill(yesterday)
    _wait_both(map_page)
    assert any(f"as_of={yesterday}T23" in url for url in tile_requests)
    left, right = _colours(map_page, "compare-as-of-yesterday")
    assert not _close(left, PLAN_COLOUR, tolerance=40), left
    assert _close(right, PLAN_COLOUR), right
    fragment = map_page.page.evaluate("location.hash")
    assert f"&compare_as_of={yesterday}" in fragment

    map_page.page.goto("about:blank")
    map_page.open(fragment)
    _wait_both(map_page)
    assert map_page.page.locator("#compare-as-of").input_value() == yesterday
    left, right = _colours(map_page, "compare-as-of-shared")
    assert not _close(left, PLAN_COLOUR, tolerance=40), left
    assert _close(right, PLAN_COLOUR), right
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_compare_opens_under_the_content_security_policy(watched, live_server, two_layers):  # noqa: F811
    """The left map (its worker, its tiles), the lazily loaded module and stylesheet and the
    divider's inline clip work with the policy enforced, and nothing is refused."""
    watched.goto(f"{live_server.url}/#map=16/{SPOT[1]}/{SPOT[0]}&layers=built&compare=plan")
    wait_until(
        watched,
        "window.webmap && window.webmap.compare && window.webmap.compare.map.loaded()"
        " && window.webmap.compare.map.areTilesLoaded()",
    )
    drawn = watched.evaluate(
        "window.webmap.compare.map.queryRenderedFeatures({layers: ['L:plan:0']}).length"
    )
    assert drawn > 0
    clip = watched.evaluate("getComputedStyle(document.getElementById('compare-map')).clipPath")
    assert clip.startswith("inset(")
    assert violations(watched) == []
    assert watched.errors == []
