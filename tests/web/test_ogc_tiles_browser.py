# ruff: noqa: F811  (the fixtures imported from tests.api.conftest are used as arguments)
"""OpenLayers' OGCVectorTile source, in headless Chromium, reads a collection's OGC API - Tiles
tileset (its metadata, the tile matrix set, the MVT tiles) and draws its features.

The page exists only in this test: Playwright answers its address on the live server's origin (so
the OGC documents are same-origin), and it loads the vendored OpenLayers (var/vendor/ol) as the
site serves it.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import _private_tile_cache, hue_places  # noqa: F401  (fixtures)
from tests.factories import LayerFactory

DAI_NOI = (107.5786, 16.4698)
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/vendor/ol/ol.css">
<style>html, body, #map { margin: 0; width: 100%; height: 100%; }</style>
<script src="/static/vendor/ol/ol.js"></script>
</head><body><div id="map"></div><script>
  const loaded = [];
  const failed = [];
  let rendered = false;
  const source = new ol.source.OGCVectorTile({
    url: "/ogc/collections/COLLECTION/tiles/WebMercatorQuad",
    format: new ol.format.MVT(),
  });
  // A render counts once it follows the last tile loaded (an empty tile may come first).
  source.on("tileloadend", (event) => {
    loaded.push(event.tile.getFeatures().length);
    rendered = false;
  });
  source.on("tileloaderror", () => failed.push(1));
  const layer = new ol.layer.VectorTile({
    source,
    style: new ol.style.Style({
      image: new ol.style.Circle({radius: 8, fill: new ol.style.Fill({color: "#d00"})}),
    }),
  });
  const map = new ol.Map({
    target: "map",
    layers: [layer],
    view: new ol.View({center: ol.proj.fromLonLat([LON, LAT]), zoom: 14}),
  });
  map.on("rendercomplete", () => { rendered = true; });
  window.ogcTest = {map, layer, source, loaded, failed, isRendered: () => rendered};
</script></body></html>
"""


def open_test_page(page, live_server, collection: str) -> None:
    url = f"{live_server.url}/__ogc-tiles-test__.html"
    html = (
        PAGE.replace("COLLECTION", collection)
        .replace("LON", str(DAI_NOI[0]))
        .replace("LAT", str(DAI_NOI[1]))
    )
    page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(url)


@pytest.mark.django_db(transaction=True)
def test_openlayers_draws_a_collection_from_its_ogc_tiles(page, live_server, hue_places):
    open_test_page(page, live_server, hue_places.slug)
    page.wait_for_function(
        "window.ogcTest && window.ogcTest.isRendered()"
        " && window.ogcTest.loaded.some((features) => features > 0)"
    )
    state = page.evaluate(
        """() => {
          const {map, layer, loaded, failed} = window.ogcTest;
          const pixel = map.getPixelFromCoordinate(ol.proj.fromLonLat([LON, LAT]));
          const hits = layer.getFeatures(pixel);
          return hits.then((features) => ({
            loaded, failed: failed.length,
            names: features.map((f) => f.get("ten")),
            rendered: layer.getRenderSource().getState(),
          }));
        }""".replace("LON", str(DAI_NOI[0])).replace("LAT", str(DAI_NOI[1]))
    )
    assert state["failed"] == 0
    assert sum(state["loaded"]) >= 1
    # The feature drawn under Đại Nội's pixel is Đại Nội, read from our MVT tile.
    assert "Đại Nội" in state["names"]
    assert not page.errors


@pytest.mark.django_db(transaction=True)
def test_openlayers_cannot_read_a_restricted_collection(page, live_server, hue_places):
    LayerFactory(slug="an-noi-bo", category=hue_places.category, visibility="restricted")
    responses = []
    page.on("response", lambda response: responses.append((response.url, response.status)))
    open_test_page(page, live_server, "an-noi-bo")
    page.wait_for_function("window.ogcTest !== undefined")
    page.wait_for_timeout(1500)
    tileset = [status for url, status in responses if url.endswith("/tiles/WebMercatorQuad")]
    assert tileset == [404]
    assert page.evaluate("window.ogcTest.loaded.length") == 0
