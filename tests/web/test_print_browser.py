"""Print to PDF in headless Chromium, as a planner uses it: switch layers on, open Print, choose
paper, scale and resolution, type a title and a note, download the PDF; then read the PDF back with
poppler (pdfinfo, pdftotext, pdfimages, pdftoppm), which knows nothing of how it was made."""

from __future__ import annotations

import datetime
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.gis.geos import LineString
from PIL import Image

from layers.models import Category
from layers.services import FeatureRecord, layer_replace_features
from tests.web import sample
from tests.web.conftest import ARTIFACTS
from tests.web.test_csp_browser import violations, wait_until, watched  # noqa: F401 (a fixture)

CENTRE = (107.6200, 16.4400)
FLOOD_HALF_DEG = (0.0015, 0.0010)  # the flood zone's half width and height, in degrees
FLOOD_RGB = (29, 78, 216)  # #1d4ed8
EARTH_RADIUS_M = 6378137  # Web Mercator's sphere: a print at 1:N is N at the centre's parallel
POPPLER = ("pdfinfo", "pdftotext", "pdfimages", "pdftoppm")


@pytest.fixture
def print_layers(hue_sample):
    """Two layers for the planner to switch on: an opaque flood zone and a drainage line."""
    flood = sample._layer(
        "flood", Category.objects.get(slug="water"), title_vi="Vùng ngập lụt",
        title_en="Flood zone", geometry_type="polygon", name_field="ten",
        attribute_schema=[{"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"}],
        style={"type": "fill", "paint": {"fill-color": "#1d4ed8", "fill-opacity": 1}},
        attribution="Sở Xây dựng Huế 2024",
    )  # fmt: skip
    layer_replace_features(
        layer=flood,
        records=[FeatureRecord(sample._box(*CENTRE, *FLOOD_HALF_DEG), {"ten": "Vùng trũng"})],
    )
    drains = sample._layer(
        "drains", Category.objects.get(slug="water"), title_vi="Mương thoát nước",
        title_en="Drains", geometry_type="line", name_field="ten",
        attribute_schema=[{"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"}],
        style={"type": "line", "paint": {"line-color": "#0f766e", "line-width": 3}},
        attribution="Công ty Thoát nước",
    )  # fmt: skip
    layer_replace_features(
        layer=drains,
        records=[FeatureRecord(LineString((107.615, 16.438), (107.626, 16.442)), {"ten": "M1"})],
    )
    return {"flood": flood, "drains": drains}


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _poppler() -> None:
    missing = [tool for tool in POPPLER if not shutil.which(tool)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: scripts/setup.sh installs poppler-utils.")


def _page_size_pt(pdf: Path) -> tuple[float, float]:
    info = _run("pdfinfo", str(pdf))
    assert re.search(r"^Pages:\s+1$", info, re.M), info
    width, height = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups()
    return float(width), float(height)


def _images(pdf: Path) -> list[dict]:
    """Return the page's images as pdfimages lists them: width, height, x-ppi, y-ppi."""
    rows = _run("pdfimages", "-list", str(pdf)).splitlines()[2:]
    images = []
    for row in rows:
        cols = row.split()
        images.append({"width": int(cols[3]), "height": int(cols[4]), "x_ppi": int(cols[12]),
                       "y_ppi": int(cols[13])})  # fmt: skip
    return images


def _legend_text(text: str) -> list[str]:
    """Return the lines of the legend: from its heading to the scale said in words."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    start = lines.index("Chú giải")
    end = next(i for i, line in enumerate(lines) if line.startswith("Tỷ lệ"))
    return lines[start + 1 : end]


def _open_print(map_page) -> None:
    map_page.page.locator("#tool-print").click()
    map_page.page.locator("#print-panel").wait_for()


def _download(map_page, tmp_path: Path, name: str) -> tuple[Path, dict]:
    page = map_page.page
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Tạo PDF").click()
    pdf = ARTIFACTS / f"{name}.pdf"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    download.value.save_as(pdf)
    assert download.value.suggested_filename.endswith(".pdf")
    info = page.evaluate("window.webmap.printPanel.lastInfo")
    return pdf, info


def _render(pdf: Path, name: str, dpi: int = 60) -> Image.Image:
    """Render the page to PNG (test-artifacts/web/NAME.png), as a person would look at it."""
    out = ARTIFACTS / name
    _run("pdftoppm", "-png", "-r", str(dpi), "-singlefile", str(pdf), str(out))
    return Image.open(f"{out}.png").convert("RGB")


def _map_image(pdf: Path, tmp_path: Path) -> Image.Image:
    """Return the page's largest image (the map) as extracted from the PDF."""
    _run("pdfimages", "-png", str(pdf), str(tmp_path / "img"))
    files = sorted(tmp_path.glob("img-*.png"), key=lambda p: Image.open(p).size[0], reverse=True)
    return Image.open(files[0]).convert("RGB")


def _flood_width_px(image: Image.Image) -> int:
    """Return how many pixels wide the flood zone is drawn along the image's middle row."""
    y = image.height // 2
    row = [image.getpixel((x, y)) for x in range(image.width)]
    close = [all(abs(a - b) <= 6 for a, b in zip(rgb, FLOOD_RGB, strict=True)) for rgb in row]
    hits = [x for x, hit in enumerate(close) if hit]
    return (hits[-1] - hits[0] + 1) if hits else 0


@pytest.mark.django_db(transaction=True)
def test_printing_a4_landscape_at_1_to_5000_and_300_dpi(map_page, print_layers, tmp_path):
    _poppler()
    requests = []
    map_page.page.on("request", lambda request: requests.append(request.url))
    map_page.open(f"#map=16/{CENTRE[1]}/{CENTRE[0]}&layers=landmarks")
    # The print code, jsPDF and the fonts are fetched only when the panel is first opened.
    assert not [url for url in requests if "/print.js" in url or "jspdf" in url]
    map_page.page.get_by_label("Vùng ngập lụt").check()
    map_page.page.get_by_label("Mương thoát nước").check()
    map_page.wait_idle()
    _open_print(map_page)
    assert [url for url in requests if "jspdf" in url]

    panel = map_page.page.locator("#print-panel")
    panel.get_by_label("Khổ giấy").select_option("a4")
    panel.get_by_label("Hướng giấy").select_option("landscape")
    panel.get_by_label("Tỷ lệ").select_option("5000")
    panel.get_by_label("Độ phân giải").select_option("300")
    panel.get_by_label("Tiêu đề").fill("Bản đồ vùng ngập phường Vĩnh Ninh")
    panel.get_by_label("Ghi chú").fill("Khảo sát ngày 12/11: mương M1 bị tắc ở đoạn giữa.")
    map_page.screenshot("print-panel")
    pdf, info = _download(map_page, tmp_path, "print-a4-landscape-5000")

    width, height = _page_size_pt(pdf)
    assert (round(width), round(height)) == (842, 595)
    text = _run("pdftotext", "-raw", str(pdf), "-")
    words = " ".join(text.split())  # the note and the credits wrap in their boxes
    assert "Bản đồ vùng ngập phường Vĩnh Ninh" in text
    assert "Khảo sát ngày 12/11: mương M1 bị tắc ở đoạn giữa." in words
    assert datetime.date.today().strftime("%d/%m/%Y") in text
    assert "Tỷ lệ 1:5.000" in text
    for credit in ("Sở Xây dựng Huế 2024", "Công ty Thoát nước", "Sample data (landmarks)"):
        assert credit in words
    assert "Sample data (parcels)" not in words  # a layer that is off is not credited
    # The legend lists exactly the layers that were on, top first as the map draws them.
    assert _legend_text(text) == ["Di tích, danh thắng", "Mương thoát nước", "Vùng ngập lụt"]
    assert info["legend"] == map_page.page.evaluate("window.webmap.order.slugs.slice().reverse()")

    # The map is one image at 300 pixels per inch of paper, the frame's size at that density.
    images = _images(pdf)
    big = max(images, key=lambda image: image["width"])
    assert abs(big["x_ppi"] - 300) <= 1 and abs(big["y_ppi"] - 300) <= 1, images
    frame_w_mm, frame_h_mm = info["frameMm"]
    assert abs(big["width"] - frame_w_mm / 25.4 * 300) <= 3
    assert abs(big["height"] - frame_h_mm / 25.4 * 300) <= 3

    # At 1:5,000 the flood zone (0.003° of longitude) is its ground width / 5,000 on paper.
    map_image = _map_image(pdf, tmp_path)
    parallel_m = EARTH_RADIUS_M * math.cos(math.radians(CENTRE[1]))
    ground_m = math.radians(2 * FLOOD_HALF_DEG[0]) * parallel_m
    expected_px = ground_m / 5000 / 0.0254 * 300
    assert abs(_flood_width_px(map_image) - expected_px) <= expected_px * 0.01 + 3
    _render(pdf, "print-a4-landscape-5000")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_printing_a3_portrait_at_150_dpi_the_current_view_with_a_vn2000_grid(
    map_page, print_layers, tmp_path
):
    _poppler()
    map_page.open(f"#map=15/{CENTRE[1]}/{CENTRE[0]}&layers=flood,parcels")
    _open_print(map_page)
    panel = map_page.page.locator("#print-panel")
    panel.get_by_label("Khổ giấy").select_option("a3")
    panel.get_by_label("Hướng giấy").select_option("portrait")
    panel.get_by_label("Tỷ lệ").select_option("0")
    panel.get_by_label("Độ phân giải").select_option("150")
    panel.get_by_label("Lưới tọa độ").select_option("vn2000")
    pdf, info = _download(map_page, tmp_path, "print-a3-portrait-view")

    width, height = _page_size_pt(pdf)
    assert (round(width), round(height)) == (842, 1191)
    text = _run("pdftotext", "-raw", str(pdf), "-")
    assert "Bản đồ thành phố Huế" in text  # the title it offers
    assert _legend_text(text)[:1] == ["Khu đất kêu gọi đầu tư"]
    assert "Vùng ngập lụt" in _legend_text(text)
    # The VN-2000 grid is labelled in metres (X northing ~1.82 million, Y easting ~0.56 million).
    assert re.search(r"X 18\d{5}", text) and re.search(r"Y 5\d{5}", text)
    # The scale said is the one the view gave (zoom 15 fitted into the frame), not a fixed one.
    scale = re.search(r"Tỷ lệ 1:([\d.]+)", text).group(1)
    assert int(scale.replace(".", "")) == pytest.approx(info["scale"], rel=1e-3)

    big = max(_images(pdf), key=lambda image: image["width"])
    assert abs(big["x_ppi"] - 150) <= 1 and abs(big["y_ppi"] - 150) <= 1
    assert abs(big["width"] - info["frameMm"][0] / 25.4 * 150) <= 3
    _render(pdf, "print-a3-portrait-view")
    assert map_page.page.errors == []


@pytest.mark.django_db(transaction=True)
def test_printing_under_the_content_security_policy(watched, live_server, print_layers):  # noqa: F811
    """jsPDF, the fonts, the off-screen map and the download all pass the site's policy."""
    watched.goto(f"{live_server.url}/#map=16/{CENTRE[1]}/{CENTRE[0]}&layers=flood")
    wait_until(watched, "window.webmap && window.webmap.map.loaded()")
    watched.locator("#tool-print").click()
    watched.locator("#print-panel").wait_for()
    with watched.expect_download(timeout=120_000) as download:
        watched.locator("#print-make").click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert wait_until(watched, "window.webmap.printPanel.lastInfo")["legend"] == ["flood"]
    assert violations(watched) == []
