// The legend panel: every layer on the map, top first, with its symbols as the map draws them now.
// The symbols are read from the map's own MapLibre style layers (`L:{slug}:{n}`: the paint as it
// is, opacity included), not from a second description of the style, so the legend cannot drift
// from the drawing. A categorised style (`match`, `step` or `case` on a feature's property) gives
// one row per class, labelled with the choice's label from the layer's attribute schema.
// Loaded the first time the panel is opened (main.js).

import { _, fmt, h, number, svg } from './dom.js';

const DRAWN = /^L:(.+):(\d+)$/;
const CLASSIFIERS = new Set(['match', 'step', 'case']);
const SIZE = { width: 28, height: 18 };

// --- Reading MapLibre expressions ------------------------------------------------------------------

/** Say whether an expression reads the feature's properties (the kind a legend has classes for). */
function readsProperties(expression) {
  if (!Array.isArray(expression)) return false;
  if (expression[0] === 'get' || expression[0] === 'has' || expression[0] === 'properties') return true;
  return expression.some((part) => readsProperties(part));
}

/** Return the first match/step/case in a paint value that classifies features by a property. */
function classifierIn(value) {
  if (!Array.isArray(value) || typeof value[0] !== 'string') return null;
  const [operator, ...args] = value;
  if (operator === 'match' || operator === 'step') {
    if (readsProperties(args[0])) return value;
  } else if (operator === 'case') {
    const conditions = args.filter((_arg, index) => index % 2 === 0 && index < args.length - 1);
    if (conditions.some(readsProperties)) return value;
  }
  for (const arg of args) {
    const found = classifierIn(arg);
    if (found) return found;
  }
  return null;
}

/**
 * The key that names a classifier: what it reads and where it cuts (not what it paints), so that
 * a fill colour and an outline classified alike take the same class.
 */
function classifierKey(expression) {
  const [operator, ...args] = expression;
  if (operator === 'case') return JSON.stringify(['case', args.filter((_arg, index) => index % 2 === 0 && index < args.length - 1)]);
  const cuts = args.filter((_arg, index) => index > 0 && index < args.length - 1 && index % 2 === (operator === 'match' ? 1 : 0));
  return JSON.stringify([operator, args[0], cuts]);
}

function compare(operator, a, b) {
  switch (operator) {
    case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    default: return false;
  }
}

function interpolateNumber(input, stops) {
  if (input <= stops[0][0]) return stops[0][1];
  for (let i = 1; i < stops.length; i += 1) {
    const [x1, y1] = stops[i];
    const [x0, y0] = stops[i - 1];
    if (input <= x1) {
      if (typeof y0 !== 'number' || typeof y1 !== 'number') return y0;
      return y0 + ((y1 - y0) * (input - x0)) / (x1 - x0);
    }
  }
  return stops[stops.length - 1][1];
}

/**
 * Evaluate the part of the expression language a style's paint uses, for one feature of a class
 * (`context.props`), at the map's zoom; a classifier named in `context.picks` takes that branch.
 */
export function evaluate(value, context) {
  if (!Array.isArray(value)) return value;
  if (typeof value[0] !== 'string') return value; // an array value (a dash pattern)
  const [operator, ...args] = value;
  const ev = (arg) => evaluate(arg, context);
  const picked = CLASSIFIERS.has(operator) ? context.picks.get(classifierKey(value)) : undefined;
  switch (operator) {
    case 'literal': return args[0];
    case 'get': return typeof args[0] === 'string' ? context.props[args[0]] : undefined;
    case 'has': return args[0] in context.props;
    case 'zoom': return context.zoom;
    case 'geometry-type': return context.geometry;
    case 'to-string': return ev(args[0]) === undefined ? '' : String(ev(args[0]));
    case 'to-number': { const n = Number(ev(args[0])); return Number.isFinite(n) ? n : ev(args[1] ?? 0); }
    case 'to-color': case 'string': case 'number': case 'to-boolean': return ev(args[0]);
    case 'coalesce': return args.map(ev).find((item) => item !== undefined && item !== null);
    case 'rgb': case 'rgba': return `${operator}(${args.map(ev).join(',')})`;
    case '!': return !ev(args[0]);
    case 'all': return args.every((arg) => ev(arg));
    case 'any': return args.some((arg) => ev(arg));
    case 'in': { const haystack = ev(args[1]); return Array.isArray(haystack) || typeof haystack === 'string' ? haystack.includes(ev(args[0])) : false; }
    case '==': case '!=': case '<': case '<=': case '>': case '>=': return compare(operator, ev(args[0]), ev(args[1]));
    case 'match': {
      const fallback = args[args.length - 1];
      if (picked !== undefined) return ev(picked === 'other' ? fallback : args[2 + picked * 2]);
      const input = ev(args[0]);
      for (let i = 1; i + 1 < args.length; i += 2) {
        const labels = Array.isArray(args[i]) ? args[i] : [args[i]];
        if (labels.includes(input)) return ev(args[i + 1]);
      }
      return ev(fallback);
    }
    case 'step': {
      if (picked !== undefined) return ev(args[1 + picked * 2]);
      const input = Number(ev(args[0]));
      let out = args[1];
      for (let i = 2; i + 1 < args.length; i += 2) if (input >= args[i]) out = args[i + 1];
      return ev(out);
    }
    case 'case': {
      if (picked !== undefined) return ev(picked === 'other' ? args[args.length - 1] : args[picked * 2 + 1]);
      for (let i = 0; i + 1 < args.length; i += 2) if (ev(args[i])) return ev(args[i + 1]);
      return ev(args[args.length - 1]);
    }
    case 'interpolate': case 'interpolate-hcl': case 'interpolate-lab': {
      const input = Number(ev(args[1]));
      const stops = [];
      for (let i = 2; i + 1 < args.length; i += 2) stops.push([args[i], ev(args[i + 1])]);
      return interpolateNumber(input, stops);
    }
    default: return undefined;
  }
}

// --- Classes -----------------------------------------------------------------------------------

function fieldOf(expression) {
  if (!Array.isArray(expression)) return null;
  if (expression[0] === 'get' && typeof expression[1] === 'string') return expression[1];
  for (const part of expression) {
    const found = fieldOf(part);
    if (found) return found;
  }
  return null;
}

function labelOf(layer, field, value) {
  const entry = (layer.schema || []).find((item) => item.name === field);
  const choice = entry?.choices?.find((item) => String(item.value) === String(value));
  if (choice) return choice.label;
  return typeof value === 'number' ? number(value) : String(value);
}

/** Describe a `case` condition in words, when it is a simple comparison with a property. */
function conditionLabel(layer, condition) {
  if (!Array.isArray(condition)) return null;
  const [operator, a, b] = condition;
  const field = fieldOf(a);
  if (!field || Array.isArray(b)) {
    if (operator === 'in' && fieldOf(a) && Array.isArray(b) && b[0] === 'literal') {
      return { field: fieldOf(a), value: b[1][0], label: b[1].map((value) => labelOf(layer, fieldOf(a), value)).join(', ') };
    }
    return null;
  }
  if (operator === '==') return { field, value: b, label: labelOf(layer, field, b) };
  if (['<', '<=', '>', '>=', '!='].includes(operator)) {
    const symbol = { '<': '<', '<=': '≤', '>': '>', '>=': '≥', '!=': '≠' }[operator];
    return { field, value: b, label: `${symbol} ${labelOf(layer, field, b)}` };
  }
  return null;
}

/** Return the classes of a classifier: [{label, pick, props}] (props: a feature of that class). */
export function classesOf(layer, expression) {
  const [operator, ...args] = expression;
  const field = operator === 'case' ? null : fieldOf(args[0]);
  const classes = [];
  if (operator === 'match') {
    const values = [];
    for (let i = 1, branch = 0; i + 1 < args.length; i += 2, branch += 1) {
      const labels = Array.isArray(args[i]) ? args[i] : [args[i]];
      values.push(...labels);
      classes.push({ label: labels.map((value) => labelOf(layer, field, value)).join(', '), pick: branch, props: { [field]: labels[0] } });
    }
    // The fallback is a class of its own unless the schema's choices are all named already.
    const choices = (layer.schema || []).find((item) => item.name === field)?.choices;
    const covered = choices && choices.every((choice) => values.some((value) => String(value) === String(choice.value)));
    if (!covered) classes.push({ label: _('Other'), pick: 'other', props: {}, other: true });
  } else if (operator === 'step') {
    const stops = args.filter((_arg, index) => index >= 2 && index % 2 === 0);
    const show = (value) => number(value);
    classes.push({ label: `< ${show(stops[0])}`, pick: 0, props: { [field]: stops[0] - 1 } });
    stops.forEach((stop, index) => {
      const next = stops[index + 1];
      const label = next === undefined ? `≥ ${show(stop)}` : `${show(stop)} – ${show(next)}`;
      classes.push({ label, pick: index + 1, props: { [field]: stop } });
    });
  } else if (operator === 'case') {
    for (let i = 0, branch = 0; i + 1 < args.length; i += 2, branch += 1) {
      const described = conditionLabel(layer, args[i]);
      classes.push({
        label: described ? described.label : fmt(_('Class %(number)s'), { number: branch + 1 }),
        pick: branch,
        props: described ? { [described.field]: described.value } : {},
      });
    }
    classes.push({ label: _('Other'), pick: 'other', props: {}, other: true });
  }
  return classes;
}

// --- Symbols -----------------------------------------------------------------------------------

const clamp = (value, low, high) => Math.max(low, Math.min(high, value));
const numeric = (value, fallback) => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

/** Return what one style layer draws for one class: {type, colour, opacity, …} in plain values. */
function paintOf(styleLayer, context) {
  const paint = styleLayer.paint || {};
  const ev = (name, fallback) => {
    const value = evaluate(paint[name], context);
    return value === undefined || value === null ? fallback : value;
  };
  switch (styleLayer.type) {
    case 'fill': {
      const colour = ev('fill-color', '#000000');
      return { type: 'fill', colour, opacity: numeric(ev('fill-opacity', 1), 1), outline: ev('fill-outline-color', colour) };
    }
    case 'fill-extrusion': {
      return { type: 'fill', colour: ev('fill-extrusion-color', '#000000'), opacity: numeric(ev('fill-extrusion-opacity', 1), 1) };
    }
    case 'line': {
      const width = numeric(ev('line-width', 1), 1);
      const dashes = ev('line-dasharray', null);
      return {
        type: 'line', colour: ev('line-color', '#000000'), opacity: numeric(ev('line-opacity', 1), 1), width,
        dashes: Array.isArray(dashes) ? dashes.map((dash) => dash * width) : null,
      };
    }
    case 'circle': {
      return {
        type: 'circle', colour: ev('circle-color', '#000000'), opacity: numeric(ev('circle-opacity', 1), 1),
        radius: numeric(ev('circle-radius', 5), 5), stroke: ev('circle-stroke-color', '#000000'),
        strokeWidth: numeric(ev('circle-stroke-width', 0), 0), strokeOpacity: numeric(ev('circle-stroke-opacity', 1), 1),
      };
    }
    case 'symbol': {
      const layout = styleLayer.layout || {};
      return {
        type: 'symbol', icon: evaluate(layout['icon-image'], context),
        colour: ev('text-color', '#000000'), halo: ev('text-halo-color', null),
        opacity: numeric(ev('icon-opacity', ev('text-opacity', 1)), 1),
      };
    }
    default: return null;
  }
}

/** Return an icon of the map's sprite as a data URL (null when the map has no such image). */
function iconUrl(map, name) {
  const image = typeof name === 'string' && map.hasImage(name) ? map.getImage(name) : null;
  if (!image || !image.data) return null;
  const canvas = document.createElement('canvas');
  canvas.width = image.data.width;
  canvas.height = image.data.height;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(image.data.data), image.data.width, image.data.height), 0, 0);
  return canvas.toDataURL();
}

/**
 * Draw a class's symbol as the map draws it: fills as a patch (a line over the same polygons as
 * its outline), lines as a stroke, circles and icons in the middle, stacked as the style stacks
 * them. `geometry` is the layer's: a line drawn over polygons outlines the patch.
 */
function symbolSvg(map, paints, geometry) {
  const { width, height } = SIZE;
  const picture = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'legend-swatch', 'aria-hidden': 'true' });
  const patch = { x: 2, y: 2, width: width - 4, height: height - 4, rx: 2 };
  for (const paint of paints) {
    if (paint.type === 'fill') {
      picture.append(svg('rect', {
        ...patch, fill: paint.colour, 'fill-opacity': paint.opacity,
        stroke: paint.outline || 'none', 'stroke-opacity': paint.opacity, 'stroke-width': 1, 'data-kind': 'fill',
      }));
    } else if (paint.type === 'line') {
      const strokeWidth = clamp(paint.width, 0.75, 6);
      const common = { fill: 'none', stroke: paint.colour, 'stroke-opacity': paint.opacity, 'stroke-width': strokeWidth, 'data-kind': 'line' };
      if (paint.dashes) common['stroke-dasharray'] = paint.dashes.map((dash) => clamp(dash, 1, 12)).join(' ');
      const shape = geometry === 'polygon'
        ? svg('rect', { ...patch, ...common })
        : svg('path', { d: `M2 ${height / 2} L${width - 2} ${height / 2}`, 'stroke-linecap': 'round', ...common });
      picture.append(shape);
    } else if (paint.type === 'circle') {
      const radius = clamp(paint.radius, 2, 7);
      picture.append(svg('circle', {
        cx: width / 2, cy: height / 2, r: radius, fill: paint.colour, 'fill-opacity': paint.opacity,
        stroke: paint.strokeWidth ? paint.stroke : 'none', 'stroke-width': clamp(paint.strokeWidth, 0, 3),
        'stroke-opacity': paint.strokeOpacity, 'data-kind': 'circle',
      }));
    } else if (paint.type === 'symbol') {
      const url = iconUrl(map, paint.icon);
      if (url) {
        picture.append(svg('image', { href: url, x: (width - 16) / 2, y: 1, width: 16, height: 16, opacity: paint.opacity, 'data-kind': 'icon' }));
      } else {
        const text = svg('text', {
          x: width / 2, y: height - 4, 'text-anchor': 'middle', 'font-size': 12, 'font-weight': 700, fill: paint.colour,
          'fill-opacity': paint.opacity, 'data-kind': 'text',
        });
        if (paint.halo) Object.entries({ stroke: paint.halo, 'stroke-width': 2, 'paint-order': 'stroke' }).forEach(([k, v]) => text.setAttribute(k, v));
        text.textContent = 'Aa';
        picture.append(text);
      }
    }
  }
  return picture;
}

/** Return a layer's legend: [{label, other, svg}] (one row without a label for a single symbol). */
export function legendRows(map, layer) {
  const styleLayers = map.getStyle().layers.filter((styleLayer) => {
    const match = DRAWN.exec(styleLayer.id);
    return match && match[1] === layer.slug;
  });
  const zoom = map.getZoom();
  const geometry = { polygon: 'Polygon', line: 'LineString', point: 'Point' }[layer.geometry_type];
  let classifier = null;
  for (const styleLayer of styleLayers) {
    for (const value of Object.values(styleLayer.paint || {})) classifier ||= classifierIn(value);
  }
  const classes = classifier ? classesOf(layer, classifier) : [{ label: '', pick: null, props: {} }];
  const key = classifier && classifierKey(classifier);
  return classes.map((item) => {
    const context = { props: item.props, zoom, geometry, picks: new Map(key && item.pick !== null ? [[key, item.pick]] : []) };
    const paints = styleLayers.map((styleLayer) => paintOf(styleLayer, context)).filter(Boolean);
    return { label: item.label, other: Boolean(item.other), svg: symbolSvg(map, paints, layer.geometry_type) };
  });
}

// --- The panel -----------------------------------------------------------------------------------

export class Legend {
  /** `webmap`: the map's controller (its map, config, order and zoomTo); `panel`: the element. */
  constructor({ webmap, panel }) {
    this.webmap = webmap;
    this.panel = panel;
    this.body = h('div', { class: 'legend-body' });
    panel.replaceChildren(
      h('div', { class: 'legend-head' },
        h('h2', { id: 'legend-title' }, _('Legend')),
        h('button', { type: 'button', class: 'legend-close', 'aria-label': _('Close the legend'), title: _('Close the legend'), onclick: () => webmap.toggleLegend(false) }, '×')),
      this.body);
    panel.setAttribute('aria-labelledby', 'legend-title');
    webmap.map.on('zoomend', () => this.update());
  }

  get open() {
    return !this.panel.hidden;
  }

  show(on) {
    this.panel.hidden = !on;
    if (on) this.update();
  }

  /** Draw the legend again (a layer switched, dimmed or moved; the zoom changed). */
  update() {
    if (!this.open) return;
    const { map, config } = this.webmap;
    // Each symbol is drawn on the map's own background (a white line shows as it does there).
    const background = map.getStyle().layers.find((styleLayer) => styleLayer.type === 'background');
    const colour = background?.paint?.['background-color'];
    if (typeof colour === 'string') this.panel.style.setProperty('--map-background', colour);
    const bySlug = new Map(config.layers.map((layer) => [layer.slug, layer]));
    const top = this.webmap.order.slugs.slice().reverse().map((slug) => bySlug.get(slug)).filter(Boolean);
    if (!top.length) {
      this.body.replaceChildren(h('p', { class: 'empty' }, _('No layer is on.')));
      return;
    }
    this.body.replaceChildren(h('ul', { class: 'legend-layers' }, top.map((layer) => this.layerItem(map, layer))));
  }

  layerItem(map, layer) {
    const rows = legendRows(map, layer);
    const single = rows.length === 1 && !rows[0].label;
    const outside = map.getZoom() < layer.min_zoom;
    const zoom = h('button', {
      type: 'button', class: 'zoom-to link', title: _('Zoom to layer'), 'aria-label': _('Zoom to layer'),
      'aria-describedby': `legend-title-${layer.slug}`,
      disabled: !layer.bbox, onclick: () => this.webmap.zoomTo(layer.slug),
    }, '⤢');
    return h('li', { class: `legend-layer${outside ? ' out-of-zoom' : ''}`, 'data-layer': layer.slug },
      h('div', { class: 'legend-layer-head' },
        single ? rows[0].svg : null,
        h('span', { class: 'title', id: `legend-title-${layer.slug}` }, layer.title),
        zoom),
      outside ? h('p', { class: 'zoom-hint' }, _('Zoom in to see this layer')) : null,
      single ? null : h('ul', { class: 'legend-classes' }, rows.map((row) => h('li', { class: row.other ? 'other' : null },
        row.svg, h('span', {}, row.label)))));
  }
}
