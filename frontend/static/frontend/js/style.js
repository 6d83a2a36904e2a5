// The map's style, built from the layers' own styles (Layer.style): sources for our vector tiles
// (the base map in one composite request), MapLibre layers for each of our layers, labels with our
// glyphs, highlight layers for identify, and extrusions for 3D.
//
// A Layer.style is MapLibre JSON in one of three shapes:
//   {"type": "fill", "paint": {...}, "layout": {...}, "filter": [...]}   one MapLibre layer
//   {"paint": {...}}                                                      type from the geometry
//   {"layers": [{...}, {...}]}                                            several MapLibre layers
// plus optional keys of our own: "label" (false, true, or {"minzoom", "layout", "paint"}) and
// "extrusion" ({"height": expression, "base": expression, "color": colour}) for 3D.

import { escapeHtml } from './dom.js';

export const FONT_REGULAR = ['noto-sans-regular'];
export const FONT_BOLD = ['noto-sans-bold'];
export const BASE_SOURCE = 'base';
export const MEASURE_SOURCE = 'measure';

const PALETTE = ['#2563eb', '#db2777', '#16a34a', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626'];
const GEOMETRY_RANK = { polygon: 0, mixed: 1, line: 2, point: 3 };
const HEIGHT_FIELDS = ['height_m', 'height', 'chieu_cao', 'chieu_cao_m'];
const FLOOR_FIELDS = ['levels', 'so_tang', 'floors', 'building_levels'];
const METRES_PER_FLOOR = 3.2;
const DEFAULT_HEIGHT_M = 6;

/** The MapLibre id of a layer's n-th style layer, its label, highlight and 3D layers. */
export const ids = {
  style: (slug, index) => `L:${slug}:${index}`,
  label: (slug) => `L:${slug}:label`,
  highlight: (slug, kind) => `L:${slug}:hl-${kind}`,
  extrusion: (slug) => `L:${slug}:3d`,
  source: (layer) => (layer.base || layer.composite ? BASE_SOURCE : `S:${layer.slug}`),
};

function colourFor(layer) {
  let hash = 0;
  for (const char of layer.slug) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

function typeFromPaint(spec) {
  const keys = [...Object.keys(spec.paint || {}), ...Object.keys(spec.layout || {})];
  const prefixes = [['fill-extrusion-', 'fill-extrusion'], ['fill-', 'fill'], ['line-', 'line'],
    ['circle-', 'circle'], ['text-', 'symbol'], ['icon-', 'symbol'], ['heatmap-', 'heatmap']];
  for (const [prefix, type] of prefixes) {
    if (keys.some((key) => key.startsWith(prefix))) return type;
  }
  return null;
}

const IS_POLYGON = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
const IS_LINE = ['match', ['geometry-type'], ['LineString', 'MultiLineString'], true, false];
const IS_POINT = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];

function defaultSpecs(layer) {
  const colour = colourFor(layer);
  const fill = { type: 'fill', paint: { 'fill-color': colour, 'fill-opacity': 0.35, 'fill-outline-color': colour } };
  const line = { type: 'line', paint: { 'line-color': colour, 'line-width': 2 } };
  const circle = {
    type: 'circle',
    paint: { 'circle-color': colour, 'circle-radius': 5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 },
  };
  switch (layer.geometry_type) {
    case 'point': return [circle];
    case 'line': return [line];
    case 'polygon': return [fill];
    default: return [{ ...fill, filter: IS_POLYGON }, { ...line, filter: IS_LINE }, { ...circle, filter: IS_POINT }];
  }
}

/** Return the MapLibre layer specs (type, paint, layout, filter, zooms) a layer's style asks for. */
export function styleSpecs(layer) {
  const style = layer.style && typeof layer.style === 'object' ? layer.style : {};
  let specs;
  if (Array.isArray(style.layers)) specs = style.layers;
  else if (style.type || style.paint || style.layout) specs = [style];
  else specs = [];
  specs = specs.filter((spec) => spec && typeof spec === 'object');
  if (!specs.length) return defaultSpecs(layer);
  const byGeometry = { point: 'circle', line: 'line', polygon: 'fill' };
  return specs.map((spec) => {
    const type = spec.type || typeFromPaint(spec) || byGeometry[layer.geometry_type] || 'fill';
    const out = { type, paint: { ...(spec.paint || {}) }, layout: { ...(spec.layout || {}) } };
    if (spec.filter) out.filter = spec.filter;
    if (spec.minzoom !== undefined) out.minzoom = spec.minzoom;
    if (spec.maxzoom !== undefined) out.maxzoom = spec.maxzoom;
    // A mixed layer styled with one fill, line or circle draws only that kind of geometry.
    if (layer.geometry_type === 'mixed' && !out.filter) {
      out.filter = { fill: IS_POLYGON, line: IS_LINE, circle: IS_POINT }[type];
      if (!out.filter) delete out.filter;
    }
    return out;
  });
}

function fieldIn(layer, names) {
  const present = new Set(layer.schema.map((field) => field.name));
  return names.find((name) => present.has(name));
}

/** Return the 3D extrusion of a layer (its height expression and colour), or null if flat. */
export function extrusionOf(layer) {
  const style = layer.style || {};
  const specs = styleSpecs(layer);
  const fill = specs.find((spec) => spec.type === 'fill');
  if (!fill && !style.extrusion) return null;
  const heightField = fieldIn(layer, HEIGHT_FIELDS);
  const floorField = fieldIn(layer, FLOOR_FIELDS);
  if (!style.extrusion && !heightField && !floorField) return null;
  const own = style.extrusion || {};
  let height = own.height;
  if (!height) {
    const guesses = [];
    if (heightField) guesses.push(['to-number', ['get', heightField], 0]);
    if (floorField) guesses.push(['*', ['to-number', ['get', floorField], 0], METRES_PER_FLOOR]);
    // A missing or zero height draws a low block rather than nothing.
    height = ['max', ...guesses, DEFAULT_HEIGHT_M];
  }
  const colour = own.color || literalColour(fill && fill.paint['fill-color']) || '#cbd5e1';
  return { height, base: own.base || 0, colour };
}

function labelSpec(layer) {
  const style = layer.style || {};
  if (!layer.name_field || style.label === false) return null;
  const own = typeof style.label === 'object' && style.label ? style.label : {};
  // A polygon cut by tile edges gets a label in each tile: the base map's large polygons (wards,
  // water) and its many small ones (buildings) stay unlabelled unless their style asks for labels.
  if (layer.base && layer.geometry_type !== 'point' && layer.geometry_type !== 'line' && !style.label) return null;
  const field = ['to-string', ['get', layer.name_field]];
  const common = {
    'text-field': field,
    'text-font': FONT_REGULAR,
    'text-size': 12,
    'text-max-width': 8,
  };
  const paint = { 'text-color': '#1f2937', 'text-halo-color': 'rgba(255,255,255,0.95)', 'text-halo-width': 1.4 };
  let layout;
  let minzoom;
  if (layer.geometry_type === 'line') {
    layout = { ...common, 'symbol-placement': 'line', 'text-size': 11 };
    minzoom = 14;
  } else if (layer.geometry_type === 'point') {
    layout = { ...common, 'text-offset': [0, 0.9], 'text-anchor': 'top', 'text-optional': true };
    minzoom = 13;
  } else {
    layout = { ...common, 'text-font': FONT_BOLD, 'text-size': 11 };
    minzoom = 15;
  }
  return {
    layout: { ...layout, ...(own.layout || {}) },
    paint: { ...paint, ...(own.paint || {}) },
    minzoom: Math.max(own.minzoom ?? minzoom, layer.min_zoom || 0),
  };
}

function tileUrl(config, slugs, versions) {
  const path = config.urls.tiles.replace('{layers}', slugs.join(','));
  return `${window.location.origin}${path}?v=${versions.join('.')}`;
}

/** Return the credits of these layers, each once, as one line of cleaned HTML. */
function creditsOf(layers) {
  return [...new Set(layers.map((layer) => layer.attribution).filter(Boolean))].join(' · ');
}

function sourceFor(config, layers) {
  const minzoom = Math.min(...layers.map((layer) => layer.min_zoom));
  // Deeper zooms are drawn from the deepest tile every layer of the source has.
  const maxzoom = Math.max(minzoom, Math.min(...layers.map((layer) => layer.max_zoom)));
  const bboxes = layers.map((layer) => layer.bbox).filter(Boolean);
  const source = {
    type: 'vector',
    tiles: [tileUrl(config, layers.map((layer) => layer.slug), layers.map((layer) => layer.version))],
    minzoom,
    maxzoom,
    // Cleaned HTML from the server (links and inline tags only): MapLibre shows it as HTML.
    attribution: creditsOf(layers),
  };
  if (bboxes.length) {
    source.bounds = [
      Math.min(...bboxes.map((b) => b[0])), Math.min(...bboxes.map((b) => b[1])),
      Math.max(...bboxes.map((b) => b[2])), Math.max(...bboxes.map((b) => b[3])),
    ];
  }
  return source;
}

/**
 * Decide, once before the style is built, which themes ride in the base map's composite tiles:
 * those the map opens with by default (WEBMAP_DEFAULT_LAYERS) that are on at the start. The first
 * view then costs one request per tile, not one per tile and layer, and its data arrives together,
 * so the map draws fewer frames before it is complete. A theme whose tiles stop shallower than
 * the base map's keeps a source of its own (the composite goes as deep as its shallowest layer).
 */
export function planComposite(config, on) {
  const base = config.layers.filter((layer) => layer.base);
  const baseMaxZoom = Math.min(...base.map((layer) => layer.max_zoom));
  for (const layer of config.layers) {
    layer.composite = Boolean(base.length && !layer.base && layer.on && on.has(layer.slug)
      && layer.max_zoom >= baseMaxZoom);
  }
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
    .filter((layer) => (layer.base || layer.composite) && (layer.base || on.has(layer.slug))));
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
 * every drawn layer, then every extrusion, highlight and label): its style layers, its 3D
 * extrusion, its highlights and its label.
 */
function groupsOf(layer, { visible, threeD }) {
  const visibility = visible ? 'visible' : 'none';
  const source = ids.source(layer);
  const extrusion = extrusionOf(layer);
  const drawn = styleSpecs(layer).map((spec, index) => {
    const flatInThreeD = extrusion && spec.type === 'fill' && threeD;
    return {
      id: ids.style(layer.slug, index),
      source,
      'source-layer': layer.slug,
      ...spec,
      minzoom: Math.max(spec.minzoom ?? 0, layer.min_zoom || 0),
      layout: { ...spec.layout, visibility: flatInThreeD ? 'none' : visibility },
    };
  });
  const extrusions = extrusion ? [{
    id: ids.extrusion(layer.slug), type: 'fill-extrusion', source, 'source-layer': layer.slug,
    minzoom: layer.min_zoom || 0,
    layout: { visibility: threeD && visible ? 'visible' : 'none' },
    paint: {
      'fill-extrusion-color': extrusion.colour,
      'fill-extrusion-height': extrusion.height,
      'fill-extrusion-base': extrusion.base,
      'fill-extrusion-opacity': 0.9,
    },
  }] : [];
  const label = labelSpec(layer);
  const labels = label ? [{
    id: ids.label(layer.slug), type: 'symbol', source, 'source-layer': layer.slug,
    minzoom: label.minzoom, layout: { ...label.layout, visibility }, paint: label.paint,
  }] : [];
  return { drawn, extrusions, highlights: highlightLayers(layer, source, visibility), labels };
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
 * Build the MapLibre style for the visitor's layers. Only the layers that are on get MapLibre
 * layers: each one costs work in the page and in the tile worker before the first frame, and most
 * of the catalogue starts off. `addToStyle` adds a layer the first time it is switched on.
 * Every layer keeps its source, which costs nothing until a MapLibre layer uses it. Call
 * `planComposite` first.
 */
export function buildStyle(config, { on, threeD }) {
  const order = drawingOrder(config);
  const sources = {};
  const composite = order.filter((layer) => layer.base || layer.composite);
  if (composite.length) sources[BASE_SOURCE] = sourceFor(config, composite);
  for (const layer of order.filter((item) => !composite.includes(item))) {
    sources[ids.source(layer)] = sourceFor(config, [layer]);
  }

  const background = [{ id: 'background', type: 'background', paint: { 'background-color': '#eef0ea' } }];
  if (config.basemap && config.basemap.url) {
    sources.basemap = {
      type: 'raster', tiles: [config.basemap.url], tileSize: 256,
      attribution: escapeHtml(config.basemap.attribution || ''),
    };
    background.push({ id: 'basemap', type: 'raster', source: 'basemap' });
  }
  const shown = order.filter((layer) => on.has(layer.slug));
  return {
    version: 8,
    name: 'webmap',
    glyphs: `${window.location.origin}${config.urls.glyphs}`,
    sources,
    layers: [...background, ...stacked(shown, () => ({ visible: true, threeD }))],
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
    ? drawingOrder(config).filter((item) => item.base || item.composite)
    : [layer];
  source.setTiles([tileUrl(config, members.map((item) => item.slug), members.map((item) => item.version))]);
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
      if (colour) entries.push({ label: labels.join(', '), colour });
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
