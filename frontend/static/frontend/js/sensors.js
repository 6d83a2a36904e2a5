// Sensor layers on the map (docs/webmap.md, "Sensor layers"). A sensor layer's features are
// monitoring stations; the layer's entry in the page's configuration carries `sensor`: the URLs of
// its `latest` endpoint and of a station's `series` (and `alerts` when offered).
//
// - Colours: every few seconds the map asks `latest` for each sensor layer that is on and gives
//   each station's feature its state through MapLibre's feature-state (by the feature's id, which the
//   tiles carry), so a station changes colour without a tile being fetched again. The circles of the
//   layer take their colour from that state; a feature without one keeps the style's colour.
// - The popup of a station: its latest value per property (unit, state, time), a chart of its
//   recent history (uPlot, fetched with its stylesheet the first time a chart is drawn) and its open
//   alerts. An open popup follows new readings.
// - Replay: `setTime(instant)` asks `latest?at=` and draws the stations as they were then;
//   `setTime(null)` goes back to the live values. The legend holds a replay slider over the last
//   REPLAY_DAYS (5-minute steps, "Live" at its right end); the map's time slider (timeslider.js,
//   for time-enabled layers) drives the same thing: it dispatches `webmap:time` on `document`
//   with `detail: {instant}` (ISO 8601; null for now).
//
// The module loads when a sensor layer is first switched on (main.js).

import { _, fmt, getJSON, h, number, toast } from './dom.js';
import { ids, styleSpecs } from './style.js';

export const POLL_MS = 5000;
export const STATES = ['normal', 'warning', 'alarm', 'anomalous', 'stale'];
export const STATE_COLOURS = {
  normal: '#16a34a', warning: '#f59e0b', alarm: '#dc2626', anomalous: '#7c3aed', stale: '#9ca3af',
};
const RANGES = [
  { key: '24h', hours: 24, agg: 'raw' },
  { key: '7d', hours: 24 * 7, agg: 'hour' },
];
const CHART_HEIGHT_PX = 110;
const POPUP_MARGIN_PX = 10;
export const REPLAY_DAYS = 30;
const DEFAULT_COLOUR = '#2563eb';
const REPLAY_STEP_MIN = 5;
const REPLAY_PAUSE_MS = 250; // ask once the slider rests, not for every step it passes

/** Return the name of a state for people. */
export function stateLabel(state) {
  const labels = {
    normal: _('Normal'),
    warning: _('Warning'),
    alarm: _('Alarm'),
    anomalous: _('Anomalous'),
    stale: _('Stale: no recent reading'),
  };
  return labels[state] || state || _('No reading');
}

function rangeLabel(key) {
  return key === '7d' ? _('7 days') : _('24 hours');
}

/** Say whether a style value reads the zoom (MapLibre allows that only at the top level). */
function readsZoom(value) {
  return Array.isArray(value) && (value[0] === 'zoom' || value.some(readsZoom));
}

/** Return a MapLibre colour expression: the station's state, else the style's own colour. */
export function stateColour(original) {
  const cases = STATES.flatMap((state) => [state, STATE_COLOURS[state]]);
  // A colour that changes with the zoom cannot sit inside `match`: stations without a state
  // then take the default colour.
  const otherwise = original === undefined || original === null || readsZoom(original) ? DEFAULT_COLOUR : original;
  return ['match', ['coalesce', ['feature-state', 'state'], ''], ...cases, otherwise];
}

function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(document.documentElement.lang || 'vi', { dateStyle: 'short', timeStyle: 'short' });
}

/** Label a time axis tick (seconds) in the page's language: hours within two days, else dates. */
function tickLabel(seconds, spanHours) {
  const lang = document.documentElement.lang || 'vi';
  const date = new Date(seconds * 1000);
  return spanHours <= 48
    ? date.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(lang, { day: 'numeric', month: 'numeric' });
}

function badge(state) {
  return h('span', { class: 'sensor-state', 'data-state': state || 'none' },
    h('span', { class: 'swatch', 'aria-hidden': 'true' }), stateLabel(state));
}

function valueText(value, unit) {
  if (value === null || value === undefined) return '—';
  const text = number(value, { maximumFractionDigits: 2 });
  return unit ? `${text} ${unit}` : text;
}

function stylesheet(href) {
  if ([...document.styleSheets].some((sheet) => sheet.href === href)) return Promise.resolve();
  return new Promise((resolve) => {
    const link = h('link', { rel: 'stylesheet', href });
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => resolve()); // the chart still draws, plainer
    document.head.append(link);
  });
}

let ownStyles = null;

/** Load this module's stylesheet (sensors.css beside js/), once. */
function loadOwnStyles() {
  ownStyles ??= stylesheet(new URL('../sensors.css', import.meta.url).href);
  return ownStyles;
}

let chartLibrary = null;

/** Return uPlot, fetched with its stylesheet the first time a chart is drawn. */
export function loadChartLibrary() {
  chartLibrary ??= Promise.all([
    import('uplot'),
    stylesheet(import.meta.resolve('uplot').replace(/uPlot\.esm\.js$/, 'uPlot.min.css')),
  ]).then(([module]) => module.default);
  return chartLibrary;
}

/** The URL of a sensor layer's endpoint, with its query. */
function endpoint(template, values, query = {}) {
  let url = template;
  for (const [key, value] of Object.entries(values)) url = url.replace(`{${key}}`, encodeURIComponent(value));
  const params = new URLSearchParams(Object.entries(query).filter(([, value]) => value !== null && value !== undefined));
  return params.size ? `${url}?${params}` : url;
}

export class SensorLive {
  constructor({ webmap }) {
    this.webmap = webmap;
    this.map = webmap.map;
    this.config = webmap.config;
    this.at = null; // the instant replayed (ISO 8601), or null for the live values
    this.snapshots = new Map(); // slug → {at, generated, stations: Map(feature id → station)}
    this.painted = new Set(); // slugs whose circles take the state's colour
    this.watchers = new Set(); // open station popups: (slug) => void, told of each new snapshot
    this.timer = null;
    this.pending = null;
    this.legend = this.buildLegend();
    loadOwnStyles();
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.schedule(0);
    });
    document.addEventListener('webmap:time', (event) => this.setTime(event.detail?.instant ?? null));
    // The map's time slider may have moved before this module loaded: start at its day
    // (its instant: the day's last second in the city's time, as timeslider.js says it).
    const { time, today, utc_offset: offset } = this.config;
    if (time && today && offset && time !== today) this.setTime(`${time}T23:59:59${offset}`);
  }

  /** Return the sensor layers that are on. */
  layersOn() {
    return this.config.layers.filter((layer) => layer.sensor && this.webmap.on.has(layer.slug));
  }

  /** A layer went on or off: colour what is new, show the legend, ask for the states now. */
  layersChanged() {
    const on = this.layersOn();
    for (const layer of on) this.paint(layer);
    this.legend.hidden = !on.length;
    this.schedule(0);
  }

  /** Draw a layer's circles in the colour of each station's state. */
  paint(layer) {
    if (this.painted.has(layer.slug)) return;
    const circles = styleSpecs(layer).map((spec, index) => ({ spec, id: ids.style(layer.slug, index) }))
      .filter(({ spec, id }) => spec.type === 'circle' && this.map.getLayer(id));
    if (!circles.length) return; // not in the style yet: painted once it is
    for (const { spec, id } of circles) {
      this.map.setPaintProperty(id, 'circle-color', stateColour(spec.paint?.['circle-color']));
    }
    this.painted.add(layer.slug);
  }

  /** Replay: show the stations as they were at `instant` (a Date or ISO string); null: live. */
  setTime(instant) {
    const iso = instant ? new Date(instant).toISOString() : null;
    if (iso === this.at) return this.pending;
    this.at = iso;
    this.legend.querySelector('.sensor-replay').textContent = iso ? fmt(_('As at %(time)s'), { time: when(iso) }) : '';
    // The legend's slider follows, whoever moved the time (it, or the map's time slider).
    const slider = this.legend.querySelector('.sensor-replay-slider');
    const minutes = iso ? Math.round((Date.parse(iso) - Date.now()) / 60000 / REPLAY_STEP_MIN) * REPLAY_STEP_MIN : 0;
    slider.value = String(Math.min(0, Math.max(Number(slider.min), minutes)));
    this.legend.querySelector('.sensor-live').disabled = !iso;
    return this.refresh();
  }

  schedule(delayMs) {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.layersOn().length || document.hidden) return;
    this.timer = setTimeout(() => this.refresh(), delayMs);
  }

  /** Ask each sensor layer on for its stations' states and draw them; then wait and ask again. */
  refresh() {
    clearTimeout(this.timer);
    const asked = this.at;
    this.pending = Promise.all(this.layersOn().map((layer) => this.refreshLayer(layer, asked)))
      .finally(() => {
        // The past does not change: only the live values are asked for again.
        if (this.at === null) this.schedule(POLL_MS);
      });
    return this.pending;
  }

  async refreshLayer(layer, at = this.at) {
    let answer;
    try {
      answer = await getJSON(endpoint(layer.sensor.latest, {}, { at }), { cache: 'no-cache' });
    } catch (error) {
      if (!this.failedOnce) toast(fmt(_('The readings of the stations could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
      this.failedOnce = true;
      return null;
    }
    this.failedOnce = false;
    if (at !== this.at) return null; // the slider moved on meanwhile
    this.apply(layer, answer);
    return answer;
  }

  /** Give each station's feature its state, and tell the open popups. */
  apply(layer, answer) {
    const source = ids.source(layer);
    const previous = this.snapshots.get(layer.slug);
    const stations = new Map();
    for (const station of answer.stations || []) {
      if (station.feature_id === null || station.feature_id === undefined) continue;
      stations.set(Number(station.feature_id), station);
      this.map.setFeatureState({ source, sourceLayer: layer.slug, id: Number(station.feature_id) }, { state: station.state });
    }
    for (const id of previous?.stations.keys() || []) {
      if (!stations.has(id)) this.map.removeFeatureState({ source, sourceLayer: layer.slug, id }, 'state');
    }
    this.snapshots.set(layer.slug, { at: answer.at ?? null, generated: answer.generated, stations });
    for (const watcher of [...this.watchers]) watcher(layer.slug);
  }

  /** Return the state a station's feature is drawn with now (for tests and the console). */
  drawnState(slug, id) {
    const layer = this.config.layers.find((item) => item.slug === slug);
    if (!layer) return null;
    return this.map.getFeatureState({ source: ids.source(layer), sourceLayer: slug, id: Number(id) }).state ?? null;
  }

  /** Return the station drawn by feature `id` of a layer (asking for the states if none yet). */
  async station(layer, id) {
    if (!this.snapshots.has(layer.slug)) await this.refreshLayer(layer);
    return this.snapshots.get(layer.slug)?.stations.get(Number(id)) || null;
  }

  /**
   * Place the open popup again after its content grew (MapLibre places it only when it moves),
   * and move the map a little when the popup runs past its edges, as a map's popups auto-pan.
   */
  relayout() {
    const popup = this.webmap.identify?.popup;
    if (!popup?.isOpen()) return;
    popup.setLngLat(popup.getLngLat());
    const box = popup.getElement().getBoundingClientRect();
    const frame = this.map.getContainer().getBoundingClientRect();
    const past = (low, high, frameLow, frameHigh) => {
      if (high - low > frameHigh - frameLow - 2 * POPUP_MARGIN_PX) return low - frameLow - POPUP_MARGIN_PX;
      if (high > frameHigh - POPUP_MARGIN_PX) return high - frameHigh + POPUP_MARGIN_PX;
      if (low < frameLow + POPUP_MARGIN_PX) return low - frameLow - POPUP_MARGIN_PX;
      return 0;
    };
    const dx = past(box.left, box.right, frame.left, frame.right);
    const dy = past(box.top, box.bottom, frame.top, frame.bottom);
    if (Math.abs(dx) > 1 || Math.abs(dy) > 1) this.map.panBy([dx, dy], { duration: 250 });
  }

  buildLegend() {
    let pause = null;
    // Minutes before now; 0 (the right end) is live.
    const slider = h('input', {
      type: 'range', class: 'sensor-replay-slider', min: String(-REPLAY_DAYS * 24 * 60), max: '0',
      step: String(REPLAY_STEP_MIN), value: '0', 'aria-label': _('Replay the readings of the past days'),
      oninput: () => {
        clearTimeout(pause);
        const minutes = Number(slider.value);
        pause = setTimeout(() => this.setTime(minutes < 0 ? new Date(Date.now() + minutes * 60000) : null), REPLAY_PAUSE_MS);
      },
    });
    // Folded on a phone, where it would cover the popups; a click on its title opens it.
    const phone = window.matchMedia('(max-width: 720px)').matches;
    const legend = h('details', { class: 'maplibregl-ctrl sensor-legend', hidden: true, open: !phone },
      h('summary', {}, _('Station state')),
      h('ul', {}, STATES.map((state) => h('li', { 'data-state': state },
        h('span', { class: 'swatch', 'aria-hidden': 'true' }), stateLabel(state)))),
      h('div', { class: 'sensor-replay-control' },
        h('span', {}, _('Replay')), slider,
        h('button', { type: 'button', class: 'sensor-live', disabled: true, onclick: () => this.setTime(null) }, _('Live'))),
      h('p', { class: 'sensor-replay', 'aria-live': 'polite' }));
    this.map.addControl({ onAdd: () => legend, onRemove: () => legend.remove() }, 'bottom-right');
    return legend;
  }

  // --- The station's popup ----------------------------------------------------------------------

  /** Fill a popup's section with a station's readings, chart and alerts; keep it up to date. */
  async renderStation(section, layer, id) {
    await loadOwnStyles();
    const station = await this.station(layer, id);
    section.hidden = false;
    if (!station) {
      section.replaceChildren(h('p', { class: 'popup-status' }, _('No readings from this station yet.')));
      return;
    }
    const view = new StationView({ live: this, section, layer, station });
    view.render();
    const watcher = (slug) => {
      if (!section.isConnected) { this.watchers.delete(watcher); return; }
      if (slug !== layer.slug) return;
      const fresh = this.snapshots.get(slug)?.stations.get(Number(id));
      if (fresh) view.update(fresh);
    };
    this.watchers.add(watcher);
  }
}

/** A station's part of its popup: the readings table, the chart and the alerts. */
class StationView {
  constructor({ live, section, layer, station }) {
    this.live = live;
    this.section = section;
    this.layer = layer;
    this.station = station;
    const codes = Object.keys(station.properties || {});
    this.property = codes[0] || null;
    this.range = RANGES[0];
    this.chart = null;
  }

  render() {
    this.head = h('p', { class: 'sensor-head' });
    this.readings = h('table', { class: 'attributes sensor-readings' });
    this.chartBox = h('div', { class: 'sensor-chart', role: 'img' });
    this.chartStatus = h('p', { class: 'popup-status sensor-chart-status', 'aria-live': 'polite' });
    this.alerts = h('div', { class: 'sensor-alerts', hidden: true });
    const choose = h('div', { class: 'sensor-chart-controls' },
      this.propertyPicker(),
      h('select', {
        'aria-label': _('Period'),
        onchange: (event) => { this.range = RANGES.find((range) => range.key === event.target.value); this.drawChart(); },
      }, RANGES.map((range) => h('option', { value: range.key }, rangeLabel(range.key)))));
    this.section.replaceChildren(this.head, this.readings, choose, this.chartBox, this.chartStatus, this.alerts);
    this.fill();
    this.drawChart();
    this.loadAlerts();
  }

  propertyPicker() {
    const codes = Object.keys(this.station.properties || {});
    if (codes.length < 2) return null;
    return h('select', {
      'aria-label': _('Measured property'),
      class: 'sensor-property',
      onchange: (event) => { this.property = event.target.value; this.drawChart(); },
    }, codes.map((code) => h('option', { value: code }, this.station.properties[code].name || code)));
  }

  /** The station's state and its latest value per property. */
  fill() {
    const { station } = this;
    this.section.dataset.station = station.station;
    this.section.dataset.state = station.state || '';
    this.head.replaceChildren(badge(station.state));
    if (this.live.at) this.head.append(h('span', { class: 'sensor-replay-note' }, fmt(_('as at %(time)s'), { time: when(this.live.at) })));
    this.readings.replaceChildren(h('tbody', {}, Object.entries(station.properties || {}).map(([code, reading]) => h('tr', { 'data-property': code, 'data-state': reading.state || '' },
      h('th', { scope: 'row' }, reading.name || code),
      h('td', { class: 'sensor-value' }, valueText(reading.value, reading.unit),
        h('span', { class: 'sensor-time' }, when(reading.time))),
      h('td', {}, badge(reading.state))))));
  }

  /** A new snapshot: redraw what changed (a new reading also redraws the chart). */
  update(fresh) {
    const moved = JSON.stringify(fresh.properties) !== JSON.stringify(this.station.properties) || fresh.state !== this.station.state;
    this.station = fresh;
    if (!moved && !this.replayChanged()) return;
    this.fill();
    this.drawChart();
    this.loadAlerts();
  }

  replayChanged() {
    const changed = this.shownAt !== this.live.at;
    return changed;
  }

  /** Draw the chart of the chosen property over the chosen period (ending now, or at the replay). */
  async drawChart() {
    const { property, range } = this;
    if (!property) return;
    this.shownAt = this.live.at;
    const end = this.live.at ? new Date(this.live.at) : new Date();
    const start = new Date(end.getTime() - range.hours * 3600 * 1000);
    const url = endpoint(this.layer.sensor.series, { station: this.station.station }, {
      property, start: start.toISOString(), end: end.toISOString(), agg: range.agg,
    });
    const token = {};
    this.drawing = token;
    let series;
    let uPlot;
    try {
      [series, uPlot] = await Promise.all([getJSON(url, { cache: 'no-cache' }), loadChartLibrary()]);
    } catch (error) {
      if (this.drawing !== token) return;
      this.chartStatus.textContent = fmt(_('The history could not be loaded (%(reason)s).'), { reason: error.message });
      return;
    }
    if (this.drawing !== token || !this.section.isConnected) return;
    const points = series.points || [];
    const times = points.map((point) => new Date(point.time).getTime() / 1000);
    const values = points.map((point) => point.value ?? point.mean ?? null);
    const reading = this.station.properties?.[property] || {};
    const unit = series.unit || reading.unit || '';
    const name = reading.name || property;
    this.chartBox.dataset.property = property;
    this.chartBox.dataset.points = String(points.length);
    this.chartBox.dataset.last = points.length ? String(values[values.length - 1]) : '';
    this.chartBox.setAttribute('aria-label', fmt(_('%(name)s over the last %(period)s'), { name, period: rangeLabel(range.key) }));
    this.chartStatus.textContent = points.length ? '' : _('No readings in this period.');
    const data = [times, values];
    const lines = [{}, { label: unit ? `${name} (${unit})` : name, stroke: '#0369a1', width: 1.5, points: { show: points.length < 60 } }];
    if (range.agg !== 'raw') {
      data.push(points.map((point) => point.min ?? null), points.map((point) => point.max ?? null));
      lines.push({ label: _('min'), stroke: '#93c5fd', width: 1 }, { label: _('max'), stroke: '#93c5fd', width: 1 });
    }
    this.chart?.destroy();
    this.chart = new uPlot({
      width: Math.max(220, this.section.clientWidth || 300),
      height: CHART_HEIGHT_PX,
      series: lines,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: [start.getTime() / 1000, end.getTime() / 1000] } },
      axes: [
        { size: 28, font: '10px sans-serif', values: (_u, ticks) => ticks.map((tick) => tickLabel(tick, range.hours)) },
        {
          size: 42, font: '10px sans-serif', label: unit, labelSize: 14, labelFont: '10px sans-serif',
          values: (_u, ticks) => ticks.map((tick) => number(tick, { maximumFractionDigits: 2 })),
        },
      ],
    }, data, this.chartBox);
    this.live.relayout();
  }

  /** Show the station's open alerts (when the layer offers them): thresholds reached, silence. */
  async loadAlerts() {
    if (!this.layer.sensor.alerts) return;
    let answer;
    try {
      answer = await getJSON(endpoint(this.layer.sensor.alerts, {}, { open: 1, station: this.station.station }), { cache: 'no-cache' });
    } catch {
      return; // the readings and the chart say enough
    }
    if (!this.section.isConnected) return;
    const list = (answer.alerts || []).filter((alert) => alert.station === this.station.station);
    this.alerts.hidden = !list.length;
    this.alerts.replaceChildren(h('strong', {}, _('Open alerts')), h('ul', {}, list.map((alert) => this.alertItem(alert))));
    this.live.relayout();
  }

  alertItem(alert) {
    const since = h('span', { class: 'sensor-time' }, fmt(_('since %(time)s'), { time: when(alert.opened_at) }));
    if (alert.kind === 'stale') {
      return h('li', { 'data-kind': 'stale' }, badge('stale'), ' ', _('No reading received'), ' ', since);
    }
    const name = this.station.properties?.[alert.property]?.name || alert.property;
    const what = fmt(_('%(property)s reached level %(level)s (%(threshold)s)'), {
      property: name, level: alert.level, threshold: valueText(alert.threshold, alert.unit),
    });
    const peak = alert.peak_value !== null && alert.peak_value !== undefined
      ? ` · ${fmt(_('peak %(value)s'), { value: valueText(alert.peak_value, alert.unit) })}` : '';
    return h('li', { 'data-kind': alert.kind, 'data-level': alert.level },
      badge(alert.severity), ' ', what, peak, alert.sample ? h('em', {}, ` (${_('sample level')})`) : null, ' ', since);
  }
}
