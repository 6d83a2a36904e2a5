"""The Content-Security-Policy breaks nothing a person uses: the web map draws (MapLibre's blob:
worker, WebGL), the admin's map widget starts, and the API docs (Swagger UI) render, with no CSP
violation reported by the browser."""

from __future__ import annotations

import tempfile
import time

import pytest
from django.urls import reverse

from tests.web import sample
from tests.web.conftest import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS

pytestmark = pytest.mark.django_db(transaction=True)

# Recorded in the page before any of its scripts run: what the browser refused, and why.
LISTEN_FOR_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def watched(playwright_driver, tmp_path_factory):
    """A page in a fresh Chromium profile that keeps the CSP (the other browser tests bypass it),
    recording violations and console messages that mention the policy."""
    context = playwright_driver.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="chromium-csp-", dir=tmp_path_factory.getbasetemp()),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.pages[0] if context.pages else context.new_page()
    page.add_init_script(LISTEN_FOR_VIOLATIONS)
    page.errors, page.csp_console = [], []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            page.csp_console.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()


def wait_until(page, expression: str, timeout_s: float = TIMEOUT_MS / 1000) -> object:
    """Poll an expression from outside the page (wait_for_function would need 'unsafe-eval')."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := page.evaluate(expression):
            return value
        time.sleep(0.1)
    raise AssertionError(f"never true: {expression}")


def violations(page) -> list[str]:
    return page.evaluate("window.cspViolations") + page.csp_console


def test_the_map_draws_under_the_policy(watched, live_server, hue_sample):
    watched.goto(f"{live_server.url}/")
    wait_until(watched, "window.webmap && window.webmap.map.loaded()")
    drawn = watched.evaluate(
        """() => new Promise((resolve) => {
            const map = window.webmap.map;
            const count = () => map.queryRenderedFeatures().length;
            if (map.areTilesLoaded() && count()) { resolve(count()); return; }
            map.once('idle', () => resolve(count()));
        })"""
    )
    assert drawn > 0
    assert violations(watched) == []
    assert watched.errors == []


def test_the_admin_map_widget_starts_under_the_policy(watched, live_server, hue_sample, staff):
    staff.set_password("secret-pass-123")
    staff.save()
    watched.goto(f"{live_server.url}{reverse('admin:login')}")
    watched.fill("#id_username", staff.username)
    watched.fill("#id_password", "secret-pass-123")
    watched.click("input[type=submit]")
    layer = hue_sample[sample.BASE_LAYERS[0]]
    watched.goto(f"{live_server.url}{reverse('admin:layers_layer_change', args=[layer.pk])}")
    # The widget made an OpenLayers map inside its div (a canvas), from the external script.
    watched.wait_for_selector("#id_extent_map canvas", state="attached")
    assert watched.evaluate("typeof window.geodjango_extent") == "object"
    assert violations(watched) == []
    assert watched.errors == []


def test_the_api_docs_render_under_the_policy(watched, live_server):
    watched.goto(f"{live_server.url}/api/docs/")
    watched.wait_for_selector(".swagger-ui .opblock", state="attached")
    assert violations(watched) == []
    assert watched.errors == []
