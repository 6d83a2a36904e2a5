"""The editing tools under the site's Content-Security-Policy: terra-draw and the editing module
load (as ES modules through the import map), draw and save with no CSP violation."""

from __future__ import annotations

import pytest

from layers.models import Feature
from tests.web.test_csp_browser import violations, wait_until, watched  # noqa: F401 (fixture)
from tests.web.test_editing_browser import NEW_PARCEL, VIEW, editor  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_editor_draws_and_saves_under_the_policy(watched, live_server, editor):  # noqa: F811
    page = watched
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=username]").fill("editor")
    page.locator("input[name=password]").fill("secret-pass-123")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto("about:blank")
    page.goto(f"{live_server.url}/{VIEW}")
    wait_until(page, "window.webmap && window.webmap.map.loaded() && !window.webmap.map.isMoving()")
    page.locator("#tool-edit").click()
    wait_until(page, "window.webmap.editor && window.webmap.editor.active")
    page.locator("#edit-draw").click()
    for lon, lat in [*NEW_PARCEL, NEW_PARCEL[0]]:
        point = page.evaluate(
            """([lon, lat]) => {
                const p = window.webmap.map.project([lon, lat]);
                const box = window.webmap.map.getContainer().getBoundingClientRect();
                return { x: box.left + p.x, y: box.top + p.y };
            }""",
            [lon, lat],
        )
        page.mouse.move(point["x"], point["y"], steps=3)
        page.mouse.click(point["x"], point["y"])
        page.wait_for_timeout(120)
    page.locator("#edit-field-ten").fill("Khu đất CSP")
    page.locator("#edit-save").click()
    wait_until(page, "!document.querySelector('#edit-message').hidden")
    assert Feature.objects.filter(attributes__ten="Khu đất CSP").exists()
    assert violations(page) == []
    assert page.errors == []
