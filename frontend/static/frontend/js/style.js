// The map's style comes from the server (/styles/map.json, built by layers/styles.py): sources for
// our vector tiles (the base map in one composite request), the MapLibre layers of each of our
// layers (drawn, 3D extrusion, label) and our glyphs. GIS clients read the same JSON. What only a
// browser session needs is added here: highlight layers for identify, the measuring and the
// editing overlays, and the layers that are off stay out of the first style (they join it when
// switched on), as each one costs work before the first frame.
//
// Each MapLibre layer of one of our layers has a stable id: `L:{slug}:{n}` for the n-th drawn
// layer, `L:{slug}:3d` for its extrusion, `L:{slug}:label`, and here `L:{slug}:hl-{kind}`.

export const BASE_SOURCE = 'base';
export const MEASURE_SOURCE = 'measure';

const GEOMETRY_RANK = { polygon: 0, mixed: 1, line: 2, point: 3 };

/** The MapLibre id of a layer's n-th style layer, its label, highlight and 3D layers. */
export const ids = {
  style: (slug, index) => `L:${slug}:${index}`,
  label: (slug) => `L:${slug}:label`,
  highlight: (slug, kind) => `L:${slug}:hl-${kind}`,
  extrusion: (slug) => `L:${slug}:3d`,
  source: (layer) => (layer.inBase ? BASE_SOURCE : `S:${layer.slug}`),
};

const IS_POINT = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];
const IS_POLYGON = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];

/**
 * Take the served style apart: each of our layers keeps its MapLibre layers by group
 * (`layer.served = {drawn, extrusions, labels}`), and learns whether it rides in the base map's
 * composite source. The map's own layers (background, an external base map) are returned with
 * the sources. Call once, before `buildStyle`.
 */
export function adoptStyle(config, served) {
  const composite = new Set((served.metadata && served.metadata['mapserver:composite']) || []);
  const own = /^L:(.+):(\d+|3d|label)$/;
  const groups = new Map(config.layers.map((layer) => [layer.slug, { drawn: [], extrusions: [], labels: [] }]));
  const background = [];
  for (const styleLayer of served.layers) {
    const match = own.exec(styleLayer.id);
    const slug = match && match[1];
    if (!match || !groups.has(slug)) {
      if (!match) background.push(styleLayer);
      continue;
    }
    const group = match[2] === '3d' ? 'extrusions' : match[2] === 'label' ? 'labels' : 'drawn';
    groups.get(slug)[group].push(styleLayer);
  }
  for (const layer of config.layers) {
    layer.served = groups.get(layer.slug);
    layer.composite = !layer.base && composite.has(layer.slug);
    // In the base map's composite source; a time-enabled base layer has a source of its own.
    layer.inBase = composite.has(layer.slug);
  }
  config.style = { ...served, layers: background };
}

/** Return the MapLibre layers (type, paint, layout, filter, zooms) that draw a layer. */
export function styleSpecs(layer) {
  return layer.served ? layer.served.drawn : [];
}

/** Say whether a layer rises in 3D (its style has an extrusion). */
export function extrusionOf(layer) {
  return layer.served && layer.served.extrusions.length ? layer.served.extrusions[0] : null;
}

function tileUrl(config, slugs, versions) {
  const path = config.urls.tiles.replace('{layers}', slugs.join(','));
  return `${window.location.origin}${path}?v=${versions.join('.')}`;
}

/** Return a tile URL asking for the features of one day (`datetime=`), or for all (null). */
export function timedUrl(url, datetime) {
  const [path, query = ''] = url.split('?');
  const params = new URLSearchParams(query);
  if (datetime) params.set('datetime', datetime); else params.delete('datetime');
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Give the tiles of the time-enabled layers `?datetime=config.time` (each has a source of its
 * own, layers/styles.py): in the first style (no `map`), or on the map, which then fetches them.
 */
export function timeSources(config, map = null) {
  for (const layer of config.layers) {
    if (!layer.temporal || layer.inBase) continue;
    const served = config.style.sources[ids.source(layer)];
    if (!served) continue;
    served.tiles = served.tiles.map((url) => timedUrl(url, config.time));
    const source = map?.getSource(ids.source(layer));
    if (source && typeof source.setTiles === 'function') source.setTiles(served.tiles);
    // The attribute table's "only matching" source of the layer (table.js), when it has one.
    const filtered = map?.getSource(`F:${layer.slug}`);
    const spec = filtered && map.getStyle().sources[`F:${layer.slug}`];
    if (spec?.tiles) filtered.setTiles(spec.tiles.map((url) => timedUrl(url, config.time)));
  }
}

/** Return the credits of these layers, each once, as one line of cleaned HTML. */
function creditsOf(layers) {
  return [...new Set(layers.map((layer) => layer.attribution).filter(Boolean))].join(' · ');
}

/**
 * Credit, in the composite source, the layers of it that are on: a theme riding in the base map's
 * tiles is credited only while it shows, as it was with a source of its own. MapLibre's control
 * reads a source's `attribution` again when the style changes.
 */
export function creditComposite(map, config, on) {
  const source = map.getSource(BASE_SOURCE);
  if (!source) return;
  source.attribution = creditsOf(drawingOrder(config)
    .filter((layer) => layer.inBase && (layer.base || on.has(layer.slug))));
}

/** Return the layers in drawing order: the base map from the bottom, then the themes. */
export function drawingOrder(config) {
  const base = config.base_order.map((slug) => config.layers.find((layer) => layer.slug === slug));
  const categoryOrder = new Map(config.categories.map((category, index) => [category.slug, index]));
  const themes = config.layers.filter((layer) => !layer.base).sort((a, b) => (
    (GEOMETRY_RANK[a.geometry_type] ?? 1) - (GEOMETRY_RANK[b.geometry_type] ?? 1)
    || (categoryOrder.get(a.category) ?? 0) - (categoryOrder.get(b.category) ?? 0)
  ));
  return [...base.filter(Boolean), ...themes];
}

function highlightLayers(layer, source, visible) {
  // Hidden with their layer: a visible layer of a source, even one drawing nothing, makes MapLibre
  // fetch that source's tiles.
  const common = { source, 'source-layer': layer.slug, filter: ['==', ['id'], -1], layout: { visibility: visible } };
  const layers = [];
  if (layer.geometry_type !== 'point') {
    layers.push({
      ...common, id: ids.highlight(layer.slug, 'fill'), type: 'line',
      paint: { 'line-color': '#facc15', 'line-width': 5, 'line-opacity': 0.9 },
    });
    layers.push({
      ...common, id: ids.highlight(layer.slug, 'line'), type: 'line',
      paint: { 'line-color': '#b45309', 'line-width': 2 },
    });
  }
  if (layer.geometry_type === 'point' || layer.geometry_type === 'mixed') {
    layers.push({
      ...common, id: ids.highlight(layer.slug, 'circle'), type: 'circle',
      filter: ['all', ['==', ['id'], -1], IS_POINT],
      paint: { 'circle-radius': 11, 'circle-color': 'rgba(250,204,21,0.35)', 'circle-stroke-color': '#b45309', 'circle-stroke-width': 2.5 },
    });
  }
  return layers;
}

/** Return every MapLibre layer id that draws this layer's features (not labels or highlights). */
export function drawnLayerIds(map, layer) {
  return map.getStyle().layers
    .filter((styleLayer) => styleLayer.id.startsWith(`L:${layer.slug}:`) && !styleLayer.id.includes(':hl-'))
    .map((styleLayer) => styleLayer.id);
}

/**
 * Return the MapLibre layers that draw one of our layers, by group (the style stacks the groups:
 * every drawn layer, then every extrusion, highlight and label): its served style layers, shown
 * or hidden as asked, and its highlights.
 */
function groupsOf(layer, { visible, threeD }) {
  const visibility = visible ? 'visible' : 'none';
  const served = layer.served || { drawn: [], extrusions: [], labels: [] };
  const extruded = served.extrusions.length > 0;
  const shown = (styleLayer, show) => ({ ...styleLayer, layout: { ...styleLayer.layout, visibility: show ? 'visible' : 'none' } });
  return {
    drawn: served.drawn.map((styleLayer) => shown(styleLayer, visible && !(extruded && threeD && styleLayer.type === 'fill'))),
    extrusions: served.extrusions.map((styleLayer) => shown(styleLayer, visible && threeD)),
    highlights: highlightLayers(layer, ids.source(layer), visibility),
    labels: served.labels.map((styleLayer) => shown(styleLayer, visible)),
  };
}

const GROUPS = ['drawn', 'extrusions', 'highlights', 'labels'];

/** Return the MapLibre layers of these layers, stacked group by group, bottom first. */
function stacked(layers, options) {
  const groups = layers.map((layer) => groupsOf(layer, options(layer)));
  return GROUPS.flatMap((group) => groups.flatMap((layerGroups) => layerGroups[group]));
}

const MEASURE_LAYERS = [
  { id: 'measure-fill', type: 'fill', source: MEASURE_SOURCE, filter: IS_POLYGON,
    paint: { 'fill-color': '#0ea5e9', 'fill-opacity': 0.15 } },
  { id: 'measure-line', type: 'line', source: MEASURE_SOURCE, filter: ['!', IS_POINT],
    paint: { 'line-color': '#0369a1', 'line-width': 2.5, 'line-dasharray': [2, 1] } },
  { id: 'measure-points', type: 'circle', source: MEASURE_SOURCE, filter: IS_POINT,
    paint: { 'circle-radius': 4.5, 'circle-color': '#fff', 'circle-stroke-color': '#0369a1', 'circle-stroke-width': 2 } },
];

/**
 * Return the first style of the map: the served one (`adoptStyle`), with the MapLibre layers of
 * the layers that are on only: each one costs work in the page and in the tile worker before the
 * first frame, and most of the catalogue starts off. `addToStyle` adds a layer the first time it
 * is switched on. Every layer keeps its source, which costs nothing until a MapLibre layer uses it.
 */
export function buildStyle(config, { on, threeD, order = null }) {
  // The planner's order (order.js), bottom first, when a shared link brings one.
  const bySlug = new Map(config.layers.map((layer) => [layer.slug, layer]));
  const shown = order
    ? order.filter((slug) => on.has(slug)).map((slug) => bySlug.get(slug)).filter(Boolean)
    : drawingOrder(config).filter((layer) => on.has(layer.slug));
  return {
    ...config.style,
    layers: [...config.style.layers, ...stacked(shown, () => ({ visible: true, threeD }))],
  };
}

/**
 * Add the measuring source and its layers on top of the map, the first time someone measures: an
 * empty GeoJSON source in the first style costs a trip through the tile worker and a frame.
 */
export function addMeasureLayers(map) {
  if (map.getSource(MEASURE_SOURCE)) return;
  map.addSource(MEASURE_SOURCE, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  for (const styleLayer of MEASURE_LAYERS) map.addLayer(styleLayer);
}

/** Point a layer's tiles at its new version after an edit, so the map fetches the change. */
export function refreshTiles(map, config, slug, version) {
  const layer = config.layers.find((item) => item.slug === slug);
  if (!layer) return;
  layer.version = version;
  const sourceId = ids.source(layer);
  const source = map.getSource(sourceId);
  if (!source || typeof source.setTiles !== 'function') return;
  const members = sourceId === BASE_SOURCE
    ? drawingOrder(config).filter((item) => item.inBase)
    : [layer];
  const url = tileUrl(config, members.map((item) => item.slug), members.map((item) => item.version));
  const tiles = [layer.temporal && !layer.inBase ? timedUrl(url, config.time) : url];
  if (config.style.sources[sourceId]) config.style.sources[sourceId].tiles = tiles;
  source.setTiles(tiles);
}

// Geometries drawn over the map for a moment: another editor's version in a conflict (red), a
// past version chosen in a feature's history (violet). Features carry `kind`: theirs | past.
export const OVERLAY_SOURCE = 'overlay';
const OVERLAY_COLOUR = ['match', ['get', 'kind'], 'theirs', '#dc2626', '#7c3aed'];
const OVERLAY_LAYERS = [
  { id: 'overlay-fill', type: 'fill', source: OVERLAY_SOURCE, filter: IS_POLYGON,
    paint: { 'fill-color': OVERLAY_COLOUR, 'fill-opacity': 0.18 } },
  { id: 'overlay-line', type: 'line', source: OVERLAY_SOURCE, filter: ['!', IS_POINT],
    paint: { 'line-color': OVERLAY_COLOUR, 'line-width': 3, 'line-dasharray': [2, 1.5] } },
  { id: 'overlay-points', type: 'circle', source: OVERLAY_SOURCE, filter: IS_POINT,
    paint: { 'circle-radius': 7, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': OVERLAY_COLOUR, 'circle-stroke-width': 3 } },
];

/** Draw these geometries over the map ([{geometry, kind}]); an empty list clears it. */
export function showOverlay(map, items) {
  if (!map.getSource(OVERLAY_SOURCE)) {
    if (!items.length) return;
    map.addSource(OVERLAY_SOURCE, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    for (const styleLayer of OVERLAY_LAYERS) map.addLayer(styleLayer);
  }
  map.getSource(OVERLAY_SOURCE).setData({
    type: 'FeatureCollection',
    features: items.filter((item) => item.geometry).map((item) => ({ type: 'Feature', geometry: item.geometry, properties: { kind: item.kind } })),
  });
}

/** Say whether a layer has its MapLibre layers in the map's style yet. */
export function inStyle(map, layer) {
  return Boolean(map.getLayer(ids.style(layer.slug, 0)));
}

/**
 * Add a layer's MapLibre layers to the map, each where the complete style would hold it: below
 * the first MapLibre layer that follows it in the complete stack and is already on the map.
 */
export function addToStyle(map, config, layer, { threeD }) {
  const everything = stacked(drawingOrder(config), (item) => ({ visible: item.slug === layer.slug, threeD }));
  // The measuring layers, once there, stay on top.
  const complete = [...everything.map((styleLayer) => styleLayer.id), ...MEASURE_LAYERS.map((styleLayer) => styleLayer.id)];
  for (const styleLayer of everything) {
    if (!styleLayer.id.startsWith(`L:${layer.slug}:`) || map.getLayer(styleLayer.id)) continue;
    const after = complete.slice(complete.indexOf(styleLayer.id) + 1);
    map.addLayer(styleLayer, after.find((id) => map.getLayer(id)));
  }
}

/** Paint properties that carry opacity, by MapLibre layer type. */
const OPACITY_PROPERTIES = {
  fill: ['fill-opacity'],
  line: ['line-opacity'],
  circle: ['circle-opacity', 'circle-stroke-opacity'],
  symbol: ['text-opacity', 'icon-opacity'],
  'fill-extrusion': ['fill-extrusion-opacity'],
  heatmap: ['heatmap-opacity'],
  raster: ['raster-opacity'],
};

/** Scale the opacity of every MapLibre layer that draws `layer` by `factor` (0 to 1). */
export function setOpacity(map, layer, factor, originals) {
  for (const styleLayer of map.getStyle().layers) {
    if (!styleLayer.id.startsWith(`L:${layer.slug}:`) || styleLayer.id.includes(':hl-')) continue;
    for (const property of OPACITY_PROPERTIES[styleLayer.type] || []) {
      const key = `${styleLayer.id}|${property}`;
      if (!originals.has(key)) originals.set(key, map.getPaintProperty(styleLayer.id, property));
      const original = originals.get(key);
      let value;
      if (original === undefined || original === null) value = factor;
      else if (typeof original === 'number') value = original * factor;
      else value = factor >= 1 ? original : factor; // an expression: replaced while dimmed
      map.setPaintProperty(styleLayer.id, property, value);
    }
  }
}

// --- Legend ------------------------------------------------------------------------------------

function literalColour(value) {
  return typeof value === 'string' ? value : null;
}

/** Return the entries of a colour expression: [{label, colour}] (one entry without a label). */
function colourEntries(value) {
  if (typeof value === 'string') return [{ label: '', colour: value }];
  if (!Array.isArray(value)) return [];
  const [operator, ...args] = value;
  if (operator === 'match') {
    const entries = [];
    for (let i = 1; i + 1 < args.length; i += 2) {
      const labels = Array.isArray(args[i]) ? args[i] : [args[i]];
      const colour = literalColour(args[i + 1]);
      if (colour) entries.push({ label: labels.join(', '), colour, values: labels, input: args[0] });
    }
    const fallback = literalColour(args[args.length - 1]);
    if (fallback && args.length % 2 === 0) entries.push({ label: 'other', colour: fallback, other: true });
    return entries;
  }
  if (operator === 'step') {
    const entries = [];
    const first = literalColour(args[1]);
    if (first) entries.push({ label: `< ${args[2]}`, colour: first });
    for (let i = 2; i + 1 < args.length; i += 2) {
      const colour = literalColour(args[i + 1]);
      if (colour) entries.push({ label: `≥ ${args[i]}`, colour });
    }
    return entries;
  }
  if (operator === 'interpolate' || operator === 'interpolate-hcl' || operator === 'interpolate-lab') {
    const input = args[1];
    if (Array.isArray(input) && input[0] === 'zoom') {
      return colourEntries(args[3]).slice(0, 1);
    }
    const entries = [];
    for (let i = 2; i + 1 < args.length; i += 2) {
      const colour = literalColour(args[i + 1]);
      if (colour) entries.push({ label: String(args[i]), colour });
    }
    return entries;
  }
  if (operator === 'case') {
    return args.filter((arg, i) => (i % 2 === 1 || i === args.length - 1) && typeof arg === 'string')
      .map((colour) => ({ label: '', colour }));
  }
  return [];
}

function numberOf(value, fallback) {
  if (typeof value === 'number') return value;
  if (Array.isArray(value) && value[0] === 'interpolate') {
    const last = value[value.length - 1];
    return typeof last === 'number' ? Math.min(last, fallback * 2) : fallback;
  }
  return fallback;
}

/** Return the legend of a layer: [{kind: fill|line|circle, colour, stroke, width, label}]. */
export function legendOf(layer) {
  const entries = [];
  for (const spec of styleSpecs(layer)) {
    const paint = spec.paint || {};
    if (spec.type === 'fill' || spec.type === 'fill-extrusion') {
      const key = spec.type === 'fill' ? 'fill-color' : 'fill-extrusion-color';
      const stroke = literalColour(paint['fill-outline-color']);
      for (const entry of colourEntries(paint[key] ?? '#000')) entries.push({ kind: 'fill', stroke, ...entry });
    } else if (spec.type === 'line') {
      const width = Math.min(6, Math.max(1, numberOf(paint['line-width'], 2)));
      const dashed = Array.isArray(paint['line-dasharray']);
      for (const entry of colourEntries(paint['line-color'] ?? '#000')) entries.push({ kind: 'line', width, dashed, ...entry });
    } else if (spec.type === 'circle') {
      const stroke = literalColour(paint['circle-stroke-color']);
      for (const entry of colourEntries(paint['circle-color'] ?? '#000')) entries.push({ kind: 'circle', stroke, ...entry });
    }
  }
  // Fill and outline of the same polygons are one key, not two.
  const seen = new Set();
  return entries.filter((entry) => {
    const key = `${entry.label}|${entry.colour}|${entry.kind}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).slice(0, 12);
}
