"""The demo's 2025 wards in the browser: a click on a ward shows what it was formed from, as a list.

The layer is the demo's own (`loaddemo hue_wards_2025`): its `before_merger` is a JSON list, which
the popup must show item by item under its label, not as a JSON array.
"""

import pytest

from layers.demo.load import demo_load
from layers.models import Feature
from tests.web.conftest import MapPage

SLUG = "hue_wards_2025"


@pytest.fixture
def wards_2025(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.WEBMAP_BASE_LAYERS = []
    settings.WEBMAP_DEFAULT_LAYERS = [SLUG]
    demo_load(slugs=[SLUG])
    return Feature.objects.get(layer__slug=SLUG, name="Phường Phú Xuân")


@pytest.mark.django_db(transaction=True)
def test_a_new_ward_lists_the_units_it_was_formed_from(page, live_server, wards_2025):
    inside = wards_2025.geom.point_on_surface
    map_page = MapPage(page, live_server.url).open(f"#map=13/{inside.y}/{inside.x}&layers={SLUG}")
    map_page.click_at(inside.x, inside.y)
    popup = page.locator(".maplibregl-popup .feature-popup")
    popup.locator(".popup-title", has_text="Phường Phú Xuân").wait_for()

    row = popup.locator("tr", has=page.locator("th", has_text="Hình thành từ"))
    assert row.count() == 1
    items = row.locator("td ul.value-list li").all_inner_texts()
    assert items == wards_2025.attributes["before_merger"]
    assert "Phường Đông Ba" in items
    cell = row.locator("td").inner_text()
    assert "[" not in cell and '"' not in cell
    # The former district is a list too; a plain value stays text.
    district = popup.locator("tr", has=page.locator("th", has_text="Quận, huyện cũ"))
    assert district.locator("li").all_inner_texts() == ["Thành phố Huế"]
    seat = popup.locator("tr", has=page.locator("th", has_text="Trụ sở")).locator("td")
    assert seat.inner_text() == wards_2025.attributes["tru_so"]
    assert seat.locator("ul").count() == 0
    assert page.errors == []
    shot = map_page.screenshot("ward-2025-formed-from")
    popup.screenshot(path=str(shot.with_name("ward-2025-popup.png")))
