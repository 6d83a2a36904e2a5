// Compare: a swipe between two layer sets. The map itself is the right side (its layers are the
// ones on in the tree); a second MapLibre map, laid over it and clipped with CSS `clip-path` to
// the left of a divider, is the left side, with its own layers and optionally as the data were on
// a date (our tiles answer `?as_of=`). The two maps follow each other's every move.
//
// Why not @maplibre/maplibre-gl-compare: its 0.5.0 is CommonJS only (it needs a bundler, or a
// `window.maplibregl` global that our ES-module map does not make), its divider answers neither
// the keyboard nor pointer events (mouse and touch only), and it clips with the deprecated CSS
// `clip`. What it does is small; docs/webmap.md "Compare" says more.
//
// Time-enabled layers on the left are drawn at the left side's date when one is set (the map as it
// was that day: valid then, and as the data were then), else at the time slider's day, following
// it as it moves.
//
// The state travels in the link (urlstate.js): `compare=` the left side's layers,
// `divider=` the divider's place in percent of the map's width, `compare_as_of=` the left
// side's date.

import * as maplibregl from 'maplibre-gl';

import { _, fmt, h, toast } from './dom.js';
import { buildStyle, ids, timedUrl } from './style.js';

export const DEFAULT_DIVIDER = 50;
const TIME_EVENT = 'webmap:time'; // timeslider.js's, not imported: it loads only when needed
const KEY_STEP = 2; // percent of the width per arrow key; ten times that with Shift
const CSS_URL = new URL('../compare.css', import.meta.url).href;

/** Return the left side's `as_of` instant for a date: the end of that day, in the city's time. */
export function asOfInstant(date) {
  return `${date}T23:59:59`;
}

/** Return a copy of the style whose tiles from our server are read as of the instant. */
function styleAsOf(style, instant) {
  if (!instant) return style;
  const ours = `${window.location.origin}/`;
  const sources = Object.fromEntries(Object.entries(style.sources).map(([id, source]) => {
    if (!Array.isArray(source.tiles) || !source.tiles.every((url) => url.startsWith(ours))) return [id, source];
    const tiles = source.tiles.map((url) => `${url}${url.includes('?') ? '&' : '?'}as_of=${encodeURIComponent(instant)}`);
    return [id, { ...source, tiles }];
  }));
  return { ...style, sources };
}

/** Keep two maps on the same view: whichever moves, the other jumps there too. */
function syncMaps(a, b) {
  let following = false;
  const follow = (from, to) => () => {
    if (following) return;
    following = true;
    to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
    following = false;
  };
  const aMoved = follow(a, b);
  const bMoved = follow(b, a);
  a.on('move', aMoved);
  b.on('move', bMoved);
  return () => { a.off('move', aMoved); b.off('move', bMoved); };
}

function loadCss() {
  if (document.querySelector(`link[href="${CSS_URL}"]`)) return Promise.resolve();
  return new Promise((resolve) => {
    const link = h('link', { rel: 'stylesheet', href: CSS_URL });
    link.addEventListener('load', resolve);
    link.addEventListener('error', resolve); // unstyled is still usable
    document.head.append(link);
  });
}

export class Compare {
  /** `webmap` is main.js's WebMap; `state` a link's {layers, divider, asOf} or null. */
  static async create({ webmap, state = null }) {
    await loadCss();
    return new Compare({ webmap, state });
  }

  constructor({ webmap, state }) {
    this.webmap = webmap;
    this.config = webmap.config;
    const known = new Set(this.config.layers.map((layer) => layer.slug));
    // The left side starts as the map is, so that one change shows the difference.
    const wanted = state?.layers ?? webmap.order.slugs.filter((slug) => webmap.on.has(slug));
    this.left = new Set(wanted.filter((slug) => known.has(slug)));
    this.divider = Number.isFinite(state?.divider) ? Math.min(100, Math.max(0, state.divider)) : DEFAULT_DIVIDER;
    this.asOf = state?.asOf || '';
    this.open = false;

    const main = webmap.map;
    this.container = h('div', { id: 'compare-map', class: 'compare-map', 'aria-label': _('Left side of the comparison'), role: 'region' });
    this.handle = h('div', {
      id: 'compare-divider', class: 'compare-divider', role: 'separator', tabindex: 0,
      'aria-orientation': 'vertical', 'aria-controls': 'compare-map', 'aria-valuemin': 0, 'aria-valuemax': 100,
      'aria-label': _('Divider: drag it, or move it with the arrow keys'), title: _('Divider: drag it, or move it with the arrow keys'),
    }, h('span', { class: 'compare-grip', 'aria-hidden': 'true' }, '⟨⟩'));
    this.panel = h('section', { id: 'compare-panel', class: 'compare-panel', 'aria-labelledby': 'compare-title' });
    main.getContainer().after(this.container, this.handle);
    // The choice of layers sits in the side panel, above the layer tree: over the map it would
    // hide the very side it is about.
    document.getElementById('panel').prepend(this.panel);

    this.map = new maplibregl.Map({
      container: this.container,
      style: this.style(),
      center: main.getCenter(), zoom: main.getZoom(), bearing: main.getBearing(), pitch: main.getPitch(),
      maxPitch: 70,
      attributionControl: false,
    });
    this.map.addControl(new maplibregl.AttributionControl({ compact: true }), 'top-left');
    this.map.once('load', () => {
      // Folded, as the map's own credits are: one click away rather than over the left side.
      const credits = this.container.querySelector('.maplibregl-ctrl-attrib');
      credits?.classList.remove('maplibregl-compact-show');
      credits?.removeAttribute('open');
    });
    this.unsync = null;
    // 3D switched on the map (main.js setThreeD ends with a tilt): raise or flatten this side too.
    main.on('pitchend', () => {
      if (this.open && this.threeD !== this.webmap.threeD) this.map.setStyle(this.style());
    });
    this.map.on('error', (event) => {
      if (event.error?.status === 400 && this.asOf) toast(_('The map of that date could not be drawn.'), 'error');
    });

    this.handle.addEventListener('pointerdown', (event) => this.drag(event));
    this.handle.addEventListener('keydown', (event) => this.key(event));
    // The time slider moved: without a date of its own, the left side follows it.
    document.addEventListener(TIME_EVENT, () => { if (!this.asOf) this.retime(); });
    this.render();
    this.place(this.divider);
  }

  /** The left map's style: the served one with the left layers, read as of the date when set. */
  style() {
    this.threeD = this.webmap.threeD;
    const style = buildStyle(this.config, { on: this.left, threeD: this.threeD });
    const sources = { ...style.sources };
    for (const [id, tiles] of this.timedTiles(style)) sources[id] = { ...sources[id], tiles };
    return styleAsOf({ ...style, sources }, this.asOf ? asOfInstant(this.asOf) : null);
  }

  /** The day the left side's time-enabled layers are drawn at: its own date, else the slider's. */
  day() {
    return this.asOf || this.config.time;
  }

  /** Return [source id, tiles at the left side's day] for the time-enabled layers' sources. */
  timedTiles(style) {
    const found = [];
    for (const layer of this.config.layers) {
      if (!layer.temporal || layer.inBase) continue;
      const source = style.sources[ids.source(layer)];
      if (source?.tiles) found.push([ids.source(layer), source.tiles.map((url) => timedUrl(url, this.day()))]);
    }
    return found;
  }

  /** Draw the left side's time-enabled layers at its day again (the slider moved). */
  retime() {
    if (!this.map.isStyleLoaded()) {
      this.map.once('load', () => this.retime());
      return;
    }
    for (const [id, tiles] of this.timedTiles(this.map.getStyle())) this.map.getSource(id)?.setTiles(tiles);
  }

  /** What the link keeps of the comparison (urlstate.js), or null when it is closed. */
  state() {
    if (!this.open) return null;
    return { layers: [...this.left], divider: Math.round(this.divider * 10) / 10, asOf: this.asOf || null };
  }

  show(on) {
    this.open = on;
    for (const element of [this.container, this.handle, this.panel]) element.hidden = !on;
    // Closed, the left map neither follows nor draws.
    this.unsync?.();
    this.unsync = null;
    if (on) {
      // The right side's ticks follow the layer tree, which may have changed while closed.
      this.render();
      if (this.threeD !== this.webmap.threeD) this.map.setStyle(this.style());
      this.map.resize();
      const main = this.webmap.map;
      this.map.jumpTo({ center: main.getCenter(), zoom: main.getZoom(), bearing: main.getBearing(), pitch: main.getPitch() });
      this.unsync = syncMaps(main, this.map);
    }
    this.webmap.saveState();
  }

  /** Put the divider at `percent` of the map's width (0 = the left side hidden). */
  place(percent) {
    this.divider = Math.min(100, Math.max(0, percent));
    const at = `${this.divider}%`;
    this.container.style.clipPath = `inset(0 calc(100% - ${at}) 0 0)`;
    this.handle.style.left = at;
    this.handle.setAttribute('aria-valuenow', String(Math.round(this.divider)));
    this.handle.setAttribute('aria-valuetext', fmt(_('%(left)s percent left, %(right)s percent right'), {
      left: Math.round(this.divider), right: 100 - Math.round(this.divider),
    }));
  }

  /** Follow the pointer (mouse, pen or finger) until it is let go; then remember the place. */
  drag(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    this.handle.setPointerCapture(event.pointerId);
    this.handle.classList.add('dragging');
    const box = this.webmap.map.getContainer().getBoundingClientRect();
    const follow = (moveEvent) => this.place(((moveEvent.clientX - box.left) / box.width) * 100);
    const end = () => {
      this.handle.removeEventListener('pointermove', follow);
      this.handle.removeEventListener('pointerup', end);
      this.handle.removeEventListener('pointercancel', end);
      this.handle.classList.remove('dragging');
      this.webmap.saveState();
    };
    this.handle.addEventListener('pointermove', follow);
    this.handle.addEventListener('pointerup', end);
    this.handle.addEventListener('pointercancel', end);
  }

  key(event) {
    const step = event.shiftKey ? KEY_STEP * 10 : KEY_STEP;
    const to = {
      ArrowLeft: this.divider - step, ArrowDown: this.divider - step,
      ArrowRight: this.divider + step, ArrowUp: this.divider + step,
      Home: 0, End: 100,
    }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    this.place(to);
    this.webmap.saveState();
  }

  setLeft(slug, on) {
    if (on) this.left.add(slug); else this.left.delete(slug);
    this.map.setStyle(this.style());
    this.webmap.saveState();
  }

  setAsOf(date) {
    this.asOf = date;
    this.map.setStyle(this.style(), { diff: false });
    this.webmap.saveState();
  }

  /** The panel: for each layer a tick for the left side and one for the right (the map's own). */
  render() {
    const rows = this.config.layers.map((layer) => {
      const leftBox = h('input', {
        type: 'checkbox', class: 'compare-left', 'data-layer': layer.slug, checked: this.left.has(layer.slug),
        'aria-label': fmt(_('Left: %(layer)s'), { layer: layer.title }),
        onchange: (event) => this.setLeft(layer.slug, event.target.checked),
      });
      const rightBox = h('input', {
        type: 'checkbox', class: 'compare-right', 'data-layer': layer.slug, checked: this.webmap.on.has(layer.slug),
        'aria-label': fmt(_('Right: %(layer)s'), { layer: layer.title }),
        onchange: (event) => this.webmap.setLayer(layer.slug, event.target.checked),
      });
      return h('tr', { 'data-layer': layer.slug },
        h('td', {}, leftBox), h('th', { scope: 'row' }, layer.title), h('td', {}, rightBox));
    });
    const date = h('input', {
      type: 'date', id: 'compare-as-of', value: this.asOf, max: new Date().toISOString().slice(0, 10),
      onchange: (event) => this.setAsOf(event.target.value),
    });
    this.panel.replaceChildren(
      h('div', { class: 'compare-head' },
        h('h3', { id: 'compare-title' }, _('Compare')),
        h('button', { type: 'button', class: 'link', onclick: () => this.webmap.toggleCompare(false) }, _('Close'))),
      h('p', { class: 'hint' }, _('Tick the layers of each side, then drag the divider.')),
      h('div', { class: 'compare-table-wrap' },
        h('table', { class: 'compare-layers' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, _('Left')), h('th', { scope: 'col' }, _('Layer')), h('th', { scope: 'col' }, _('Right')))),
          h('tbody', {}, rows))),
      h('label', { class: 'compare-date', for: 'compare-as-of' }, _('Left side as it was on')),
      h('div', { class: 'compare-date-row' }, date,
        h('button', { type: 'button', class: 'link', onclick: () => { date.value = ''; this.setAsOf(''); } }, _('Today'))),
    );
  }

  /** A layer was switched in the tree: keep its right-side tick in step. */
  layerChanged(slug, on) {
    const box = this.panel.querySelector(`input.compare-right[data-layer="${CSS.escape(slug)}"]`);
    if (box && box.checked !== on) box.checked = on;
  }
}
