"""The attribute table in headless Chromium, as a planner uses it: open it under the map, sort,
filter with and without accents, read the count, click a row (the map goes there), pick a feature
on the map (its row lights up), show only the matching features on the map, export what was
filtered. Expected answers come from the fixture's own list, not from the code under test."""

from __future__ import annotations

import csv
import datetime
import json
import unicodedata
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.gis.geos import Polygon

from layers.models import Category
from layers.services import FeatureRecord, layer_replace_features
from tests.web import sample

SLUG = "cong-trinh"
# A 4 x 3 grid of buildings south-west of the citadel, away from the sample's other layers.
ORIGIN = (107.5600, 16.4400)
STEP = 0.0016
HALF = 0.0005
# (name, kind, floors, licensed on)
BUILDINGS = [
    ("Trường Tiểu học Phú Hội", "truong", 3, "2019-03-12"),
    ("Trường THCS Nguyễn Tri Phương", "truong", 4, "2020-07-01"),
    ("Trường Mầm non Hoa Mai", "truong", 2, "2021-01-20"),
    ("Chợ Bến Ngự", "cho", 2, "2018-05-05"),
    ("Chợ An Cựu", "cho", 1, "2022-09-30"),
    ("Nhà văn hóa Vĩnh Ninh", "nha_o", 2, "2020-02-14"),
    ("Nhà ở Lê Lợi 12", "nha_o", 5, "2021-11-11"),
    ("Nhà ở Hùng Vương 8", "nha_o", 7, "2023-04-02"),
    ("Khách sạn Sông Hương", "nha_o", 9, "2017-08-08"),
    ("Trạm y tế Phú Nhuận", "nha_o", 2, "2016-12-24"),
    ("Nhà ở Trần Phú 3", "nha_o", 3, "2024-06-15"),
    ("Chợ Đông Ba mở rộng", "cho", 3, "2025-01-10"),
]
LABELS = ["Tên công trình", "Loại công trình", "Số tầng", "Ngày cấp phép"]


def _plain(text: str) -> str:
    """Lower case without accents (đ → d too): the oracle of "contains, accents ignored"."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _centre(index: int) -> tuple[float, float]:
    return ORIGIN[0] + (index % 4) * STEP, ORIGIN[1] + (index // 4) * STEP


@pytest.fixture
def buildings(hue_sample):
    layer = sample._layer(
        SLUG, Category.objects.get(slug="planning"), title_vi="Công trình được cấp phép",
        title_en="Licensed buildings", geometry_type="polygon", name_field="ten",
        attribute_schema=[
            {"name": "ten", "type": "text", "label_vi": LABELS[0], "label_en": "Name"},
            {"name": "loai", "type": "text", "label_vi": LABELS[1], "label_en": "Kind",
             "choices": [{"value": "truong", "label_vi": "Trường học", "label_en": "School"},
                         {"value": "cho", "label_vi": "Chợ", "label_en": "Market"},
                         {"value": "nha_o", "label_vi": "Nhà ở, công cộng", "label_en": "Other"}]},
            {"name": "so_tang", "type": "integer", "label_vi": LABELS[2], "label_en": "Floors"},
            {"name": "ngay_cap", "type": "date", "label_vi": LABELS[3], "label_en": "Licensed"},
        ],
        style={"type": "fill", "paint": {"fill-color": "#0f766e", "fill-opacity": 0.6}},
    )  # fmt: skip
    records = []
    for index, (name, kind, floors, day) in enumerate(BUILDINGS):
        lon, lat = _centre(index)
        box = Polygon.from_bbox((lon - HALF, lat - HALF, lon + HALF, lat + HALF))
        records.append(
            FeatureRecord(box, {"ten": name, "loai": kind, "so_tang": floors, "ngay_cap": day})
        )
    layer_replace_features(layer=layer, records=records)
    layer.refresh_from_db()
    ids = dict(layer.features.values_list("attributes__ten", "id"))
    return layer, ids


def _open(map_page):
    loaded: list[str] = []
    map_page.page.on("request", lambda request: loaded.append(request.url))
    layers = ",".join([*sample.BASE_LAYERS, SLUG])
    lon = ORIGIN[0] + 1.5 * STEP
    lat = ORIGIN[1] + STEP
    map_page.open(f"#map=16/{lat}/{lon}&layers={layers}")
    # The table's code and style are not part of the first visit: they come with the first open.
    assert not [url for url in loaded if "table.js" in url or "table.css" in url]
    map_page.page.locator("#tool-table").click()
    map_page.page.locator("#table-panel").wait_for()
    _wait_rows(map_page)


def _wait_rows(map_page):
    """Wait until the table has answered its last request."""
    map_page.page.wait_for_function(
        "(() => { const p = document.getElementById('table-panel');"
        " return p && !p.hasAttribute('aria-busy') && p.querySelector('tbody tr'); })()"
    )


def _matched(map_page) -> int:
    return int(map_page.page.locator(".table-count").get_attribute("data-matched"))


def _column(map_page, index: int) -> list[str]:
    return map_page.page.locator(
        f"#table-panel .table-scroll tbody tr td:nth-child({index})"
    ).all_inner_texts()


def _filter(map_page, label: str, value: str) -> None:
    """Type into a column's filter as a person does, and wait for the table to answer."""
    box = map_page.page.get_by_label(label, exact=True)
    box.fill("")
    box.press_sequentially(value, delay=20)
    map_page.page.wait_for_timeout(400)  # the table waits for a pause in the typing
    _wait_rows(map_page)


@pytest.mark.django_db(transaction=True)
def test_a_planner_sorts_filters_and_reads_the_count(map_page, buildings):
    _open(map_page)
    page = map_page.page
    headings = page.locator("#table-panel thead tr:first-child th").all_inner_texts()
    assert [text.strip(" ▲▼") for text in headings] == LABELS
    assert _matched(map_page) == len(BUILDINGS)
    assert sorted(_column(map_page, 1)) == sorted(name for name, *_ in BUILDINGS)

    # Sort by floors: ascending, then descending (the server sorts; ties by id).
    page.locator("#table-panel th[data-field='so_tang'] button").click()
    _wait_rows(map_page)
    assert [int(v) for v in _column(map_page, 3)] == sorted(b[2] for b in BUILDINGS)
    assert page.locator("th[data-field='so_tang']").get_attribute("aria-sort") == "ascending"
    page.locator("#table-panel th[data-field='so_tang'] button").click()
    _wait_rows(map_page)
    assert [int(v) for v in _column(map_page, 3)] == sorted((b[2] for b in BUILDINGS), reverse=True)

    # Text contains, without and with accents: the same buildings.
    schools = [b[0] for b in BUILDINGS if "truong" in _plain(b[0])]
    _filter(map_page, "Lọc theo Tên công trình", "truong")
    assert _matched(map_page) == len(schools) == 3
    assert sorted(_column(map_page, 1)) == sorted(schools)
    map_page.screenshot("table-filter-no-accents")
    _filter(map_page, "Lọc theo Tên công trình", "Trường")
    assert _matched(map_page) == len(schools)
    _filter(map_page, "Lọc theo Tên công trình", "dong ba")
    assert _column(map_page, 1) == ["Chợ Đông Ba mở rộng"]
    _filter(map_page, "Lọc theo Tên công trình", "")

    # A number range, a choice and a date range, combined into one filter.
    _filter(map_page, "Số tầng từ", "2")
    _filter(map_page, "Số tầng đến", "4")
    assert _matched(map_page) == sum(1 for b in BUILDINGS if 2 <= b[2] <= 4)
    page.get_by_label("Lọc theo Loại công trình").select_option(label="Chợ")
    _wait_rows(map_page)
    markets = [b[0] for b in BUILDINGS if b[1] == "cho" and 2 <= b[2] <= 4]
    assert sorted(_column(map_page, 1)) == sorted(markets)
    assert _matched(map_page) == len(markets) == 2
    page.get_by_label("Ngày cấp phép từ").fill("2018-01-01")
    _wait_rows(map_page)
    page.get_by_label("Ngày cấp phép đến").fill("2024-12-31")
    _wait_rows(map_page)
    since = datetime.date(2018, 1, 1)
    until = datetime.date(2024, 12, 31)
    picked = [
        b[0] for b in BUILDINGS
        if b[1] == "cho" and 2 <= b[2] <= 4
        and since <= datetime.date.fromisoformat(b[3]) <= until
    ]  # fmt: skip
    assert _column(map_page, 1) == picked == ["Chợ Bến Ngự"]
    assert _matched(map_page) == len(picked)
    map_page.screenshot("table-combined-filters")
    page.locator(".table-clear").click()
    _wait_rows(map_page)
    assert _matched(map_page) == len(BUILDINGS)
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_rows_and_the_map_follow_each_other(map_page, buildings):
    _layer, ids = buildings
    _open(map_page)
    page = map_page.page
    target = "Nhà ở Hùng Vương 8"
    page.locator("#table-panel tbody tr", has_text=target).click()
    page.locator(".maplibregl-popup .feature-popup").wait_for()
    map_page.wait_idle()
    # The map went there: the feature's centre is the map's, closer in; it is highlighted.
    view = map_page.view()
    lon, lat = _centre([b[0] for b in BUILDINGS].index(target))
    assert view["zoom"] > 16
    assert abs(view["lon"] - lon) < 1e-4 and abs(view["lat"] - lat) < 1e-4
    assert page.locator(".popup-title").inner_text() == target
    highlight = page.evaluate(f"window.webmap.map.getFilter('L:{SLUG}:hl-fill')")
    assert highlight == ["==", ["id"], ids[target]]
    drawn = page.evaluate(
        "(id) => window.webmap.map.queryRenderedFeatures({ layers: [id] }).map((f) => f.id)",
        f"L:{SLUG}:hl-fill",
    )
    assert ids[target] in drawn
    selected = page.locator("#table-panel .table-scroll tr.selected")
    assert selected.count() == 1 and target in selected.inner_text()
    map_page.screenshot("table-row-to-map")

    # The other way: a click on the map marks the feature's row.
    page.evaluate("window.webmap.identify.close()")
    other = "Chợ Bến Ngự"
    map_page.page.evaluate(
        "([lon, lat]) => window.webmap.map.jumpTo({ center: [lon, lat], zoom: 17 })",
        list(_centre([b[0] for b in BUILDINGS].index(other))),
    )
    map_page.wait_idle()
    map_page.click_at(*_centre([b[0] for b in BUILDINGS].index(other)))
    page.locator(".popup-title", has_text=other).wait_for()
    page.wait_for_function(
        "(name) => document.querySelector('#table-panel .table-scroll tr.selected')"
        "?.innerText.includes(name)",
        arg=other,
    )
    assert page.locator("#table-panel .table-scroll tr.selected").count() == 1
    # Scrolled into sight: below the sticky headings, above the pager.
    shown = page.evaluate(
        """() => {
            const row = document.querySelector('#table-panel .table-scroll tr.selected');
            const head = document.querySelector('#table-panel .table-filters td')
              .getBoundingClientRect();
            const box = document.querySelector('#table-panel .table-scroll')
              .getBoundingClientRect();
            const r = row.getBoundingClientRect();
            return r.top >= head.bottom - 1 && r.bottom <= box.bottom + 1;
        }"""
    )
    assert shown
    map_page.screenshot("table-map-to-row")

    # A feature chosen on the map that the filtered page does not hold is shown pinned above.
    _filter(map_page, "Lọc theo Tên công trình", "truong")
    page.locator(".table-selected-note tr.selected", has_text=other).wait_for()
    assert page.locator("#table-panel .table-scroll tr.selected").count() == 0
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_only_matching_features_on_the_map_and_export_what_was_filtered(map_page, buildings):
    _layer, ids = buildings
    requests: list[str] = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    _open(map_page)
    page = map_page.page
    map_page.wait_idle()
    every = {f["id"] for f in map_page.rendered(SLUG)}
    assert every == set(ids.values())

    _filter(map_page, "Lọc theo Tên công trình", "cho")
    markets = {ids[b[0]] for b in BUILDINGS if "cho" in _plain(b[0])}
    assert _matched(map_page) == len(markets) == 3
    requests.clear()
    page.locator("#table-only-matching").check()
    map_page.wait_idle()
    tiles = [url for url in requests if f"/tiles/{SLUG}/" in url]
    assert tiles, requests
    for url in tiles:
        query = parse_qs(urlsplit(url).query)
        assert json.loads(query["filter"][0]) == {
            "op": "like", "args": [{"property": "ten"}, "%cho%"]
        }  # fmt: skip
        assert query["filter-lang"] == ["cql2-json"]
    assert {f["id"] for f in map_page.rendered(SLUG)} == markets
    map_page.screenshot("table-only-matching")

    # Narrowing the filter redraws the map with it.
    _filter(map_page, "Lọc theo Tên công trình", "cho b")
    map_page.wait_idle()
    assert {f["id"] for f in map_page.rendered(SLUG)} == {ids["Chợ Bến Ngự"]}

    # Export what I filtered: the CSV holds exactly the rows the table counts.
    _filter(map_page, "Lọc theo Tên công trình", "cho")
    page.locator("#table-export-format").select_option("csv")
    with page.expect_download() as download_info:
        page.locator("#table-export").click()
    download = download_info.value
    assert download.suggested_filename == f"{SLUG}.csv"
    with open(download.path(), encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["ten"] for row in rows) == sorted(
        b[0] for b in BUILDINGS if "cho" in _plain(b[0])
    )
    assert {int(row["id"]) for row in rows} == markets

    # What a saved map keeps of the table, taken back after everything was cleared.
    saved = page.evaluate("window.webmap.table.state()")
    assert saved["filters"] == {SLUG: {"ten": {"text": "cho"}}} and saved["only"] == [SLUG]
    page.locator(".table-clear").click()
    page.locator("#table-only-matching").uncheck()
    _wait_rows(map_page)
    assert _matched(map_page) == len(BUILDINGS)
    page.evaluate("(state) => window.webmap.table.restore(state)", saved)
    _wait_rows(map_page)
    map_page.wait_idle()
    assert _matched(map_page) == len(markets)
    assert page.get_by_label("Lọc theo Tên công trình", exact=True).input_value() == "cho"
    assert page.locator("#table-only-matching").is_checked()
    assert {f["id"] for f in map_page.rendered(SLUG)} == markets

    # And back: every building again.
    page.locator("#table-only-matching").uncheck()
    map_page.wait_idle()
    assert {f["id"] for f in map_page.rendered(SLUG)} == set(ids.values())
    assert page.evaluate(f"window.webmap.map.getSource('F:{SLUG}') === undefined")
    assert page.errors == []
