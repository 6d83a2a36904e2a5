"""Browser fixtures: Debian's Chromium driven by Playwright, our sample Huế, and helpers that look
at the map the way a person does (what is drawn, what the popup says)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.web import sample

CHROMIUM = "/usr/bin/chromium"
# DESIGN.md "Browser tests": no --disable-gpu, so WebGL falls back to SwiftShader by itself.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous code, which Django must be told to allow.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as driver:
        yield driver
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_context(playwright_driver, tmp_path_factory):
    """A fresh Chromium profile (its own --user-data-dir) for each test: no cookie carries over."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium.")
    context = playwright_driver.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="chromium-", dir=tmp_path_factory.getbasetemp()),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 800},
        accept_downloads=True,
        locale="vi-VN",  # Accept-Language: the site speaks Vietnamese first
        # Playwright's wait_for_function runs its predicate through `new Function`, which the
        # site's Content-Security-Policy (no 'unsafe-eval') refuses. The policy itself is tested
        # in a context that keeps it (test_csp_browser.py).
        bypass_csp=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page


@pytest.fixture
def hue_sample(settings, tmp_path):
    """Our sample Huế, with the map set to it and a tile cache of this test's own."""
    settings.WEBMAP_BASE_LAYERS = sample.BASE_LAYERS
    settings.WEBMAP_DEFAULT_LAYERS = sample.DEFAULT_LAYERS
    settings.WEBMAP_START_ZOOM = 14
    settings.WEBMAP_INVESTMENT_CATEGORY = "investment"
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    return sample.build()


class MapPage:
    """The map page in the browser, with what a person can see and do on it."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url

    def open(self, fragment: str = "", path: str = "/") -> MapPage:
        self.page.goto(f"{self.base_url}{path}{fragment}")
        self.page.wait_for_function("window.webmap && window.webmap.map.loaded()")
        self.wait_idle()
        return self

    def wait_idle(self) -> None:
        """Wait until the map has nothing left to load or animate."""
        self.page.evaluate(
            """() => new Promise((resolve) => {
                const map = window.webmap.map;
                const done = () => !map.isMoving() && map.loaded() && map.areTilesLoaded();
                if (done()) { resolve(); return; }
                map.once('idle', () => resolve());
                map.triggerRepaint();
            })"""
        )

    def rendered(self, slug: str, style_layer: str | None = None) -> list[dict]:
        """Return the features of a layer drawn on screen now: [{id, properties}]."""
        return self.page.evaluate(
            """([slug, only]) => {
                const map = window.webmap.map;
                const layers = map.getStyle().layers.map((l) => l.id)
                  .filter((id) => (only ? id === only : id.startsWith(`L:${slug}:`)
                    && !id.includes(':hl-') && !id.endsWith(':label')));
                return map.queryRenderedFeatures({ layers })
                  .map((f) => ({ id: f.id, properties: f.properties }));
            }""",
            [slug, style_layer],
        )

    def pixel_of(self, lon: float, lat: float) -> dict:
        """Return the page coordinates of a place on the map."""
        return self.page.evaluate(
            """([lon, lat]) => {
                const point = window.webmap.map.project([lon, lat]);
                const box = window.webmap.map.getContainer().getBoundingClientRect();
                return { x: box.left + point.x, y: box.top + point.y };
            }""",
            [lon, lat],
        )

    def click_at(self, lon: float, lat: float) -> None:
        point = self.pixel_of(lon, lat)
        self.page.mouse.click(point["x"], point["y"])

    def view(self) -> dict:
        return self.page.evaluate(
            """() => { const m = window.webmap.map, c = m.getCenter();
                return { lon: c.lng, lat: c.lat, zoom: m.getZoom(), bearing: m.getBearing(),
                         pitch: m.getPitch() }; }"""
        )

    def screenshot(self, name: str) -> Path:
        """Save what the visitor sees as a test artefact (test-artifacts/web/NAME.png)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def map_page(page, live_server, hue_sample):
    return MapPage(page, live_server.url)
