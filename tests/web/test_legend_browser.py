"""Layer order, the legend and "zoom to layer" in headless Chromium, as a planner uses them: switch
layers on, drag one above another, read the legend, jump to a layer."""

from __future__ import annotations

import re

import pytest
from django.contrib.gis.geos import Polygon
from PIL import Image

from layers.models import Category
from layers.services import FeatureRecord, layer_replace_features
from tests.web import sample
from tests.web.test_csp_browser import violations, wait_until, watched  # noqa: F401 (a fixture)

# Where both test layers draw, away from the sample's other layers.
SPOT = (107.6200, 16.4400)
PROBE = (107.6208, 16.4406)  # inside both, off the flood zone's label
ZONING_BOX = (107.6150, 16.4360, 107.6290, 16.4440)  # its extent, the oracle of "zoom to layer"
ZONING_COLOURS = {"Đất ở": "#dc2626", "Cây xanh": "#16a34a", "Thương mại": "#f59e0b"}
FLOOD_COLOUR = "#1d4ed8"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture
def planning_layers(hue_sample):
    """A land-use plan styled by category (`match` on its `loai`, labelled by the schema's
    choices) and a flood zone over part of it, both opaque."""
    zoning = sample._layer(
        "zoning", Category.objects.get(slug="planning"), title_vi="Quy hoạch sử dụng đất",
        title_en="Land-use plan", geometry_type="polygon", name_field="ten",
        attribute_schema=[
            {"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"},
            {"name": "loai", "type": "text", "label_vi": "Loại đất", "label_en": "Land use",
             "choices": [{"value": "odt", "label_vi": "Đất ở", "label_en": "Housing"},
                         {"value": "cx", "label_vi": "Cây xanh", "label_en": "Green space"},
                         {"value": "tmd", "label_vi": "Thương mại", "label_en": "Commerce"}]},
        ],
        style={"type": "fill", "paint": {
            "fill-color": ["match", ["get", "loai"], "odt", "#dc2626", "cx", "#16a34a",
                           "tmd", "#f59e0b", "#9ca3af"],
            "fill-opacity": 1}},
    )  # fmt: skip
    west, south, east, north = ZONING_BOX
    layer_replace_features(
        layer=zoning,
        records=[
            FeatureRecord(Polygon.from_bbox((west, south, 107.6230, north)),
                          {"ten": "Khu ở", "loai": "odt"}),
            FeatureRecord(Polygon.from_bbox((107.6230, south, 107.6260, north)),
                          {"ten": "Công viên", "loai": "cx"}),
            FeatureRecord(Polygon.from_bbox((107.6260, south, east, north)),
                          {"ten": "Chợ", "loai": "tmd"}),
        ],
    )  # fmt: skip
    flood = sample._layer(
        "flood", Category.objects.get(slug="water"), title_vi="Vùng ngập lụt",
        title_en="Flood zone", geometry_type="polygon", name_field="ten",
        attribute_schema=[{"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"}],
        style={"type": "fill", "paint": {"fill-color": FLOOD_COLOUR, "fill-opacity": 1}},
    )  # fmt: skip
    layer_replace_features(
        layer=flood,
        records=[FeatureRecord(sample._box(*SPOT, 0.0015, 0.0012), {"ten": "Vùng trũng"})],
    )
    return {"zoning": zoning, "flood": flood}


def _style_order(map_page) -> list[str]:
    return map_page.page.evaluate(
        "window.webmap.map.getStyle().layers.map((l) => l.id)"
        ".filter((id) => /^L:.+:\\d+$/.test(id))"
    )


def _colour_at(map_page, name: str, lon: float, lat: float) -> tuple[int, int, int]:
    point = map_page.pixel_of(lon, lat)
    image = Image.open(map_page.screenshot(name)).convert("RGB")
    return image.getpixel((round(point["x"]), round(point["y"])))


def _close(rgb, hex_colour: str, tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, _rgb(hex_colour), strict=True))


def _order_list(map_page) -> list[str]:
    return map_page.page.locator("#layer-order li.order-item").evaluate_all(
        "(items) => items.map((item) => item.dataset.layer)"
    )


def _drag(page, handle, target) -> None:
    """Drag a row by its handle over another row, with the mouse, in small steps."""
    start = handle.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 20, end["y"] + 2, steps=8)
    page.mouse.up()


@pytest.mark.django_db(transaction=True)
def test_dragging_a_layer_above_another_draws_it_on_top_and_the_link_keeps_it(
    map_page, planning_layers
):
    map_page.open(f"#map=16/{SPOT[1]}/{SPOT[0]}&layers=flood")
    map_page.page.get_by_label("Quy hoạch sử dụng đất").check()
    map_page.wait_idle()

    # Switched on, the plan joins where the default order puts it: above the flood zone.
    assert _order_list(map_page) == ["zoning", "flood"]
    order = _style_order(map_page)
    assert order.index("L:flood:0") < order.index("L:zoning:0")
    assert _close(_colour_at(map_page, "legend-order-before", *PROBE), "#dc2626")

    items = map_page.page.locator("#layer-order li.order-item")
    _drag(map_page.page, items.nth(1).locator(".drag-handle"), items.nth(0))
    map_page.wait_idle()

    assert _order_list(map_page) == ["flood", "zoning"]
    order = _style_order(map_page)
    assert order.index("L:zoning:0") < order.index("L:flood:0")
    # Labels and highlights stay above every drawn layer.
    ids = map_page.page.evaluate("window.webmap.map.getStyle().layers.map((l) => l.id)")
    assert ids.index("L:flood:0") < ids.index("L:zoning:hl-fill")
    assert _close(_colour_at(map_page, "legend-order-dragged", *PROBE), FLOOD_COLOUR)
    fragment = map_page.page.evaluate("location.hash")
    assert "&layers=zoning,flood" in fragment

    # A shared link draws the same order, and the list shows it.
    map_page.page.goto("about:blank")
    map_page.open(fragment)
    assert _order_list(map_page) == ["flood", "zoning"]
    order = _style_order(map_page)
    assert order.index("L:zoning:0") < order.index("L:flood:0")
    assert _close(_colour_at(map_page, "legend-order-shared", *PROBE), FLOOD_COLOUR)

    # Keyboard: the arrow key on the handle (and the buttons) move a layer, focus stays on it.
    handle = map_page.page.locator("#layer-order li[data-layer='flood'] .drag-handle")
    handle.focus()
    map_page.page.keyboard.press("ArrowDown")
    map_page.wait_idle()
    assert _order_list(map_page) == ["zoning", "flood"]
    assert map_page.page.evaluate("document.activeElement.closest('li').dataset.layer") == "flood"
    assert _close(_colour_at(map_page, "legend-order-keyboard", *PROBE), "#dc2626")
    map_page.page.locator("#layer-order li[data-layer='flood'] .move-up").click()
    assert _order_list(map_page) == ["flood", "zoning"]
    assert map_page.page.errors == []


def _legend(map_page) -> list[dict]:
    return map_page.page.locator("#legend-panel li.legend-layer").evaluate_all(
        """(items) => items.map((item) => ({
            layer: item.dataset.layer,
            title: item.querySelector('.title').textContent,
            head: [...item.querySelectorAll('.legend-layer-head svg [data-kind]')].map((shape) => ({
                kind: shape.dataset.kind, fill: shape.getAttribute('fill'),
                stroke: shape.getAttribute('stroke'),
                opacity: shape.getAttribute('fill-opacity') })),
            classes: [...item.querySelectorAll('.legend-classes > li')].map((row) => ({
                label: row.querySelector('span').textContent,
                shapes: [...row.querySelectorAll('[data-kind]')].map((shape) => ({
                    kind: shape.dataset.kind, fill: shape.getAttribute('fill'),
                    stroke: shape.getAttribute('stroke'),
                    opacity: shape.getAttribute('fill-opacity') })) })),
        }))"""
    )


@pytest.mark.django_db(transaction=True)
def test_the_legend_shows_what_is_on_with_its_symbols_and_classes(map_page, planning_layers):
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    map_page.open(f"#map=15/{SPOT[1]}/{SPOT[0]}&layers=flood,zoning,landmarks")
    # The legend's code is fetched only when the legend is first opened.
    assert not [url for url in requests if url.endswith("/legend.js")]
    map_page.page.locator("#tool-legend").click()
    map_page.page.locator("#legend-panel li.legend-layer").first.wait_for()
    assert [url for url in requests if url.endswith("/legend.js")]

    legend = _legend(map_page)
    assert [item["layer"] for item in legend] == ["landmarks", "zoning", "flood"]
    landmarks, zoning, flood = legend
    assert flood["title"] == "Vùng ngập lụt"
    assert flood["head"] == [{"kind": "fill", "fill": FLOOD_COLOUR, "stroke": FLOOD_COLOUR,
                              "opacity": "1"}]  # fmt: skip
    assert landmarks["head"][0]["kind"] == "circle"
    assert landmarks["head"][0]["fill"] == "#b91c1c"
    assert landmarks["head"][0]["stroke"] == "#fff"
    # One row per class, labelled from the schema's choices; every choice named: no "Other".
    assert {row["label"]: row["shapes"][0]["fill"] for row in zoning["classes"]} == ZONING_COLOURS
    assert zoning["head"] == []
    map_page.screenshot("legend-panel")

    # A line layer classified with a fallback: its classes, then "Khác" (other), as strokes. A
    # layer of the base map, it joins at the bottom.
    map_page.page.get_by_label("Đường phố").check()
    map_page.wait_idle()
    legend = _legend(map_page)
    assert [item["layer"] for item in legend] == ["landmarks", "zoning", "flood", "roads"]
    roads = legend[3]
    assert [(row["label"], row["shapes"][0]["kind"], row["shapes"][0]["stroke"])
            for row in roads["classes"]] == [("chinh", "line", "#f59e0b"),
                                             ("Khác", "line", "#ffffff")]  # fmt: skip

    # Dimmed in the tree, dimmed in the legend; switched off, gone from it.
    item = map_page.page.locator("li.layer[data-layer='zoning']")
    item.locator("button.more").click()
    # The tree's key names the classes by the schema's choices too.
    assert "Đất ở" in item.locator("ul.legend").inner_text()
    item.locator("input[data-opacity='zoning']").fill("50")
    zoning = next(entry for entry in _legend(map_page) if entry["layer"] == "zoning")
    assert {row["shapes"][0]["opacity"] for row in zoning["classes"]} == {"0.5"}
    map_page.page.get_by_label("Vùng ngập lụt").uncheck()
    assert [item["layer"] for item in _legend(map_page)] == ["landmarks", "zoning", "roads"]
    # Reordered on the map, reordered in the legend.
    map_page.page.locator("#layer-order li[data-layer='roads'] .move-up").click()
    assert [item["layer"] for item in _legend(map_page)] == ["landmarks", "roads", "zoning"]
    map_page.wait_idle()
    map_page.screenshot("legend-panel-changed")

    # On a phone the legend spans the map's width and stays on screen.
    map_page.page.set_viewport_size({"width": 390, "height": 760})
    box = map_page.page.locator("#legend-panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0
    assert box["y"] + box["height"] <= 760 and box["width"] > 300
    map_page.screenshot("legend-panel-phone")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_zoom_to_layer_fits_the_map_to_its_extent(map_page, planning_layers):
    map_page.open("#map=13/16.47/107.58&layers=landmarks,zoning")
    map_page.page.locator("#layer-order li[data-layer='zoning'] .zoom-to").click()
    map_page.wait_idle()
    bounds = map_page.page.evaluate("window.webmap.map.getBounds().toArray().flat()")
    west, south, east, north = ZONING_BOX
    # The whole extent is in view, and it fills the view across (padding aside).
    assert bounds[0] < west and bounds[1] < south and bounds[2] > east and bounds[3] > north
    assert (east - west) / (bounds[2] - bounds[0]) > 0.6 or (north - south) / (
        bounds[3] - bounds[1]
    ) > 0.6
    assert map_page.view()["zoom"] > 14
    map_page.screenshot("legend-zoom-to-layer")

    # From the legend too, for a layer that is on.
    map_page.page.locator("#tool-legend").click()
    map_page.page.locator("#legend-panel li[data-layer='landmarks'] .zoom-to").click()
    map_page.wait_idle()
    bounds = map_page.page.evaluate("window.webmap.map.getBounds().toArray().flat()")
    lons = [lon for _name, _en, lon, _lat in sample.LANDMARKS]
    assert bounds[0] < min(lons) and bounds[2] > max(lons)
    assert re.search(r"#map=1[0-9]\.", map_page.page.evaluate("location.hash"))


@pytest.mark.django_db(transaction=True)
def test_the_legend_loads_and_draws_under_the_policy(watched, live_server, planning_layers):  # noqa: F811
    watched.goto(f"{live_server.url}/#map=15/{SPOT[1]}/{SPOT[0]}&layers=roads,flood,zoning")
    wait_until(watched, "window.webmap && window.webmap.map.loaded()")
    watched.locator("#tool-legend").click()
    wait_until(watched, "document.querySelectorAll('#legend-panel li.legend-layer').length === 3")
    watched.locator("#layer-order li[data-layer='flood'] .move-up").click()
    wait_until(watched, "location.hash.includes('layers=roads,zoning,flood')")
    assert violations(watched) == []
    assert watched.errors == []
