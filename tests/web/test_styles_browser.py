"""The web map draws from the style the server builds (/styles/map.json), not from its own."""

from __future__ import annotations

import json

import pytest


@pytest.mark.django_db(transaction=True)
def test_the_map_loads_its_style_from_the_server_and_draws_a_layer(map_page):
    styles = []
    map_page.page.on(
        "response", lambda response: "/styles/" in response.url and styles.append(response)
    )
    map_page.open()
    assert [response.url for response in styles] == [f"{map_page.base_url}/styles/map.json"]
    served = json.loads(styles[0].body())
    drawn = map_page.page.evaluate("window.webmap.map.getStyle()")
    # The map's sources and glyphs are the served ones; its drawn layers are the served layers.
    assert drawn["glyphs"] == served["glyphs"]
    assert drawn["sources"]["base"]["tiles"] == served["sources"]["base"]["tiles"]
    served_by_id = {layer["id"]: layer for layer in served["layers"]}
    landmarks = next(layer for layer in drawn["layers"] if layer["id"] == "L:landmarks:0")
    assert landmarks["paint"] == served_by_id["L:landmarks:0"]["paint"]
    # Highlights stay the map's own: they are not in the shared style.
    assert not any(":hl-" in layer_id for layer_id in served_by_id)
    assert any(":hl-" in layer["id"] for layer in drawn["layers"])
    assert map_page.rendered("landmarks", "L:landmarks:0")
    assert map_page.page.errors == []
