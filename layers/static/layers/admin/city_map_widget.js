// The admin's map widgets: each one's options come from the JSON its template wrote
// (layers/admin/city_map_widget.html), so the page holds no inline script and a strict
// Content-Security-Policy (script-src 'self') lets it run. The base map is the city's own
// layers as vector tiles, so the map shows context with no internet.
"use strict";

(function () {
  function baseLayer(bases) {
    return new ol.layer.Group({
      layers: bases.map(function (base) {
        var fill = ol.color.asArray(base.color).slice();
        fill[3] = 0.25;
        var style = new ol.style.Style({
          stroke: new ol.style.Stroke({color: base.color, width: base.kind === "line" ? 1.5 : 0.7}),
          fill: new ol.style.Fill({color: fill}),
          image: new ol.style.Circle({radius: 3, fill: new ol.style.Fill({color: base.color})})
        });
        return new ol.layer.VectorTile({
          // OpenLayers' minZoom is exclusive; the layer's own min zoom is inclusive.
          minZoom: base.min_zoom - 0.001,
          source: new ol.source.VectorTile({
            format: new ol.format.MVT(),
            url: base.url,
            maxZoom: base.max_zoom
          }),
          style: style
        });
      })
    });
  }

  function start() {
    document.querySelectorAll("script.city-map-options").forEach(function (element) {
      var options = JSON.parse(element.textContent);
      options.base_layer = baseLayer(options.base_layers);
      window[options.module] = new MapWidget(options);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
