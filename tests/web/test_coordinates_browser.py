"""VN-2000 coordinates in the web map, checked against PostGIS: the cursor's position in WGS 84 and
in VN-2000 / TM-3 107°00′ (EPSG:9214), "go to a coordinate" in both notations, and proj4js in the
page transforming as ST_Transform does."""

# The inputs are typed as people type them, with primes and typographic quotes.
# ruff: noqa: RUF001, RUF002, F811  (the CSP fixture imported from test_csp_browser is an argument)

from __future__ import annotations

import math
import re

import pytest
from django.db import connection

from tests.web import sample
from tests.web.test_csp_browser import violations, wait_until, watched  # noqa: F401

SRID = 9214
DAI_NOI = next((lon, lat) for name, _en, lon, lat in sample.LANDMARKS if name == "Đại Nội")
# Twenty points over Huế and its region, from the sea to the hills.
HUE_POINTS = [
    (107.35 + 0.1 * i, 16.25 + 0.1 * j) for i in range(5) for j in range(4)
]  # fmt: skip


def _vn2000(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Return PostGIS's VN-2000 (X northing, Y easting) of lon/lat points."""
    with connection.cursor() as cursor:
        out = []
        for lon, lat in points:
            cursor.execute(
                "SELECT ST_Y(p), ST_X(p) FROM "
                "ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s) AS p",
                [lon, lat, SRID],
            )
            out.append(cursor.fetchone())
    return out


def _numbers(text: str) -> list[float]:
    """Return the numbers of a text as shown in Vietnamese (decimal comma, no grouping)."""
    return [float(n.replace(",", ".")) for n in re.findall(r"\d+(?:,\d+)?", text)]


def _open_bar(map_page):
    map_page.open()
    map_page.page.wait_for_function("window.webmap.coordinates")
    return map_page.page.locator("#coordinate-value")


def _hover(map_page, dx: float, dy: float) -> tuple[float, float]:
    """Move the mouse over the map (dx, dy from its centre); return the lon/lat under it."""
    box = map_page.page.locator("#map").bounding_box()
    x, y = box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy
    map_page.page.mouse.move(x, y)
    return tuple(
        map_page.page.evaluate(
            "([x, y]) => window.webmap.map.unproject([x, y]).toArray()",
            [x - box["x"], y - box["y"]],
        )
    )


def _goto(map_page, text: str) -> str:
    page = map_page.page
    if page.locator("#goto-form").is_hidden():
        page.get_by_role("button", name="Đi tới một toạ độ").click()
    page.locator("#goto-input").fill(text)
    page.locator("#goto-input").press("Enter")
    page.wait_for_function("document.getElementById('goto-message').textContent !== ''")
    return page.locator("#goto-message").text_content()


@pytest.mark.django_db(transaction=True)
def test_the_bar_shows_the_cursor_in_wgs84_and_vn2000_as_postgis_does(map_page):
    page = map_page.page
    value = _open_bar(map_page)
    page.evaluate("localStorage.removeItem('webmap.coordinates')")

    lon, lat = _hover(map_page, 120, -80)
    page.wait_for_function(f"document.getElementById('coordinate-value').dataset.lon === '{lon}'")
    shown = value.text_content()
    assert "Vĩ độ" in shown and "Kinh độ" in shown, shown
    shown_lat, shown_lon = _numbers(shown)
    assert abs(shown_lat - lat) < 6e-7 and abs(shown_lon - lon) < 6e-7, (shown, lon, lat)

    page.locator("#coordinate-system").select_option("vn2000")
    page.wait_for_function(
        "document.getElementById('coordinate-value').textContent.startsWith('X')"
    )
    lon, lat = _hover(map_page, -150, 60)
    page.wait_for_function(f"document.getElementById('coordinate-value').dataset.lon === '{lon}'")
    shown = value.text_content()
    x, y = _numbers(shown.replace("VN-2000", ""))
    [(x_db, y_db)] = _vn2000([(lon, lat)])
    assert abs(x - x_db) < 0.05 and abs(y - y_db) < 0.05, (shown, x_db, y_db)
    map_page.screenshot("coordinates-vn2000")

    # The choice is remembered: the next visit opens with VN-2000.
    value = _open_bar(map_page)
    assert page.locator("#coordinate-system").input_value() == "vn2000"
    page.wait_for_function(
        "document.getElementById('coordinate-value').textContent.startsWith('X')"
    )
    page.locator("#coordinate-system").select_option("wgs84")
    assert "Vĩ độ" in value.text_content()
    assert page.evaluate("localStorage.getItem('webmap.coordinates')") == "wgs84"
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_go_to_a_vn2000_xy_or_a_latitude_longitude(map_page):
    page = map_page.page
    _open_bar(map_page)

    said = _goto(map_page, "X: 1820000 Y: 560000")
    map_page.wait_idle()
    assert "X (northing)" in said or "X (hướng bắc)" in said, said
    view = map_page.view()
    [(x, y)] = _vn2000([(view["lon"], view["lat"])])
    assert abs(x - 1820000) < 0.05 and abs(y - 560000) < 0.05, (x, y)
    assert view["zoom"] >= 17
    marker = page.evaluate("window.webmap.coordinates.marker.getLngLat().toArray()")
    assert marker == pytest.approx([view["lon"], view["lat"]], abs=1e-9)
    map_page.screenshot("coordinates-goto-vn2000")

    # Northing and easting given the other way round: read by their size, and said so.
    said = _goto(map_page, "560000,5 1820000,25")
    map_page.wait_idle()
    view = map_page.view()
    [(x, y)] = _vn2000([(view["lon"], view["lat"])])
    assert abs(x - 1820000.25) < 0.05 and abs(y - 560000.5) < 0.05, (x, y)
    assert "1820000,25" in said

    _goto(map_page, "16°28'12\"N 107°35'24\"E")
    map_page.wait_idle()
    view = map_page.view()
    assert view["lat"] == pytest.approx(16.47, abs=1e-9)
    assert view["lon"] == pytest.approx(107.59, abs=1e-9)

    lon, lat = DAI_NOI
    said = _goto(map_page, f"{lat:.6f}".replace(".", ",") + " " + f"{lon:.6f}".replace(".", ","))
    map_page.wait_idle()
    view = map_page.view()
    assert (view["lon"], view["lat"]) == pytest.approx((round(lon, 6), round(lat, 6)), abs=1e-9)
    assert "WGS 84" in said

    said = _goto(map_page, "toạ độ đâu đó")
    assert page.locator("#goto-message.error").is_visible()
    assert "X: 1820000 Y: 560000" in said, said  # it says how to write one
    said = _goto(map_page, "1820000 1830000")
    assert page.locator("#goto-message.error").is_visible()
    map_page.screenshot("coordinates-goto-error")
    assert page.errors == []


PARSED = [
    ("X: 1820000 Y: 560000", {"kind": "metres", "x": 1820000, "y": 560000, "swapped": False}),
    ("x=1 820 000,5; y=560 000", {"kind": "metres", "x": 1820000.5, "y": 560000, "swapped": False}),
    ("Y: 560000 X: 1820000", {"kind": "metres", "x": 1820000, "y": 560000, "swapped": False}),
    ("X: 560000 Y: 1820000", {"kind": "metres", "x": 1820000, "y": 560000, "swapped": True}),
    ("1820000 560000", {"kind": "metres", "x": 1820000, "y": 560000, "swapped": False}),
    ("560000, 1820000", {"kind": "metres", "x": 1820000, "y": 560000, "swapped": True}),
    ("1.820.000,25  560.000,5", {"kind": "metres", "x": 1820000.25, "y": 560000.5}),
    ("1,820,000.25 / 560,000.5", {"kind": "metres", "x": 1820000.25, "y": 560000.5}),
    ("X 1820569,22 m  Y 562802,98 m", {"kind": "metres", "x": 1820569.22, "y": 562802.98}),
    ("16.4637, 107.5905", {"kind": "degrees", "lat": 16.4637, "lon": 107.5905, "swapped": False}),
    ("16,4637 107,5905", {"kind": "degrees", "lat": 16.4637, "lon": 107.5905}),
    ("16,4637; 107,5905", {"kind": "degrees", "lat": 16.4637, "lon": 107.5905}),
    ("107.5905 16.4637", {"kind": "degrees", "lat": 16.4637, "lon": 107.5905, "swapped": True}),
    ("16°28'12\"N 107°35'24\"E", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("16º28’12” N, 107º35’24” E", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("16°28.2' 107°35.4'", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("16°28,2′B 107°35,4′Đ", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("N 16° 28′ 12″ E 107° 35′ 24″", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("107°35'24\"E 16°28'12\"N", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("Vĩ độ: 16,47 Kinh độ: 107,59", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("kinh do 107,59 vi do 16,47", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("Vĩ độ 16,470000°  Kinh độ 107,590000°", {"kind": "degrees", "lat": 16.47, "lon": 107.59}),
    ("lat -16.47 lon -107.59", {"kind": "degrees", "lat": -16.47, "lon": -107.59}),
    ("16°28'12\"S 107°35'24\"W", {"kind": "degrees", "lat": -16.47, "lon": -107.59}),
]
REFUSED = [
    "",
    "abc",
    "16.4637",
    "1 2 3",
    "1820000 1830000",
    "560000 570000",
    "16°75' 107°",
    "95 200",
    "X: 1820000",
    "X: 1820000 lat 16",
    "16.4637 560000",
    "16°28'N 17°N",
    "X: 1820000 Y: 960000",
]


@pytest.mark.django_db(transaction=True)
def test_typed_coordinates_are_read_in_the_usual_notations(map_page):
    map_page.open()
    url = f"{map_page.base_url}/static/frontend/js/coordparse.js"
    results = map_page.page.evaluate(
        """async ([url, good, bad]) => {
            const { parseCoordinate, CoordinateError } = await import(url);
            const read = (text) => {
              try { return parseCoordinate(text); }
              catch (error) {
                return { error: error.message, typed: error instanceof CoordinateError };
              }
            };
            return { good: good.map(read), bad: bad.map(read) };
        }""",
        [url, [text for text, _ in PARSED], REFUSED],
    )
    for (text, expected), got in zip(PARSED, results["good"], strict=True):
        assert "error" not in got, (text, got)
        for key, value in expected.items():
            if isinstance(value, float) or key in ("lat", "lon", "x", "y"):
                assert got[key] == pytest.approx(value, abs=1e-9), (text, got)
            else:
                assert got[key] == value, (text, got)
    for text, got in zip(REFUSED, results["bad"], strict=True):
        assert got.get("typed") is True, (text, got)
        # Each refusal says what would be read (the examples) or what is wrong.
        assert len(got["error"]) > 20, (text, got)


@pytest.mark.django_db(transaction=True)
def test_proj4_in_the_page_transforms_as_postgis_does(map_page):
    _open_bar(map_page)
    config = map_page.page.evaluate("window.webmap.config.projected_crs")
    with connection.cursor() as cursor:
        cursor.execute("SELECT proj4text FROM spatial_ref_sys WHERE srid = %s", [SRID])
        assert config["proj4"] == cursor.fetchone()[0].strip()
    assert config["srid"] == SRID and config["name"] == "VN-2000 / TM-3 107°00′"

    forward, back = map_page.page.evaluate(
        """async (points) => {
            const converter = await window.webmap.coordinates.transformer();
            const forward = points.map((p) => converter.forward(p));
            return [forward, forward.map((p) => converter.inverse(p))];
        }""",
        HUE_POINTS,
    )
    expected = _vn2000(HUE_POINTS)
    worst = max(
        math.hypot(easting - y, northing - x)
        for (easting, northing), (x, y) in zip(forward, expected, strict=True)
    )
    assert worst < 0.01, f"proj4js and PostGIS differ by up to {worst:.4f} m"
    # And back ("go to" an X/Y): proj4js's inverse lands where PostGIS's does.
    with connection.cursor() as cursor:
        for (easting, northing), (lon, lat) in zip(forward, back, strict=True):
            cursor.execute(
                "SELECT ST_Distance("
                " ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), %s), 4326)::geography,"
                " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)",
                [easting, northing, SRID, lon, lat],
            )
            apart_m = cursor.fetchone()[0]
            assert apart_m < 0.01, f"the inverse differs from PostGIS's by {apart_m:.4f} m"


@pytest.mark.django_db(transaction=True)
def test_measurements_read_in_metres_and_hectares_the_vietnamese_way(map_page):
    page = map_page.page
    map_page.open("#map=15/16.465/107.585&layers=water")
    url = f"{map_page.base_url}/static/frontend/js/tools.js"
    shown = page.evaluate(
        """async (url) => {
            const { formatArea, formatLength } = await import(url);
            return [formatLength(850), formatLength(1234.5), formatLength(12345.678),
                    formatArea(950.54), formatArea(474712.3), formatArea(12500000)];
        }""",
        url,
    )
    assert shown == [
        "850,0 m",
        "1,23 km",
        "12,35 km",
        "950,5 m²",
        "47,47 ha (474.712 m²)",
        "1.250,00 ha (12.500.000 m²)",
    ]

    a, b, c = (107.580, 16.462), (107.590, 16.462), (107.590, 16.470)
    page.get_by_role("button", name="Đo diện tích").click()
    for point in (a, b, c):
        map_page.click_at(*point)
    page.keyboard.press("Enter")
    value = page.locator(".measure-value")
    area_m2 = float(value.get_attribute("data-area-m2"))
    match = re.search(r"(\d+),(\d\d) ha \(([\d.]+) m²\)", value.inner_text())
    assert match, value.inner_text()
    assert float(f"{match[1]}.{match[2]}") == pytest.approx(area_m2 / 1e4, abs=0.005)
    assert int(match[3].replace(".", "")) == round(area_m2)
    map_page.screenshot("measure-area-hectares")


@pytest.mark.django_db(transaction=True)
def test_vn2000_works_under_the_content_security_policy(watched, live_server, hue_sample):
    """proj4js's one-file build loads through the import map and runs without eval."""
    watched.goto(f"{live_server.url}/")
    wait_until(watched, "window.webmap && window.webmap.coordinates")
    watched.locator("#coordinate-system").select_option("vn2000")
    shown = wait_until(
        watched,
        "document.getElementById('coordinate-value').textContent.startsWith('X')"
        " && document.getElementById('coordinate-value').textContent",
    )
    lon, lat = watched.evaluate("window.webmap.map.getCenter().toArray()")
    [(x, y)] = _vn2000([(lon, lat)])
    shown_x, shown_y = (float(n.replace(",", ".")) for n in re.findall(r"\d+[.,]\d+", shown))
    assert abs(shown_x - x) < 0.05 and abs(shown_y - y) < 0.05, (shown, x, y)
    assert violations(watched) == []
    assert watched.errors == []
