// Planners' tools: measuring distance and area on the ground, a link to the current view, a PNG
// of the current view.

import { _, fmt, h, number, toast } from './dom.js';
import { MEASURE_SOURCE, addMeasureLayers } from './style.js';

const EARTH_RADIUS_M = 6371008.8;
const rad = (degrees) => (degrees * Math.PI) / 180;

/** Return the great-circle distance in metres between two [lon, lat] points. */
export function distanceM(a, b) {
  const dLat = rad(b[1] - a[1]);
  const dLon = rad(b[0] - a[0]);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a[1])) * Math.cos(rad(b[1])) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** Return the length in metres of a path of [lon, lat] points. */
export function lengthM(points) {
  let total = 0;
  for (let i = 1; i < points.length; i += 1) total += distanceM(points[i - 1], points[i]);
  return total;
}

/** Return the area in m² of a ring of [lon, lat] points on the sphere. */
export function areaM2(ring) {
  if (ring.length < 3) return 0;
  let total = 0;
  for (let i = 0; i < ring.length; i += 1) {
    const [lon1, lat1] = ring[i];
    const [lon2, lat2] = ring[(i + 1) % ring.length];
    total += rad(lon2 - lon1) * (2 + Math.sin(rad(lat1)) + Math.sin(rad(lat2)));
  }
  return Math.abs((total * EARTH_RADIUS_M * EARTH_RADIUS_M) / 2);
}

// Lengths in m (to the decimetre) or km (to the decametre), areas in m² or, from one hectare, in ha
// with the m² beside them, as land is counted here; always the same number of decimals, in the
// page's language (Vietnamese: 1.234,5 m²).
const fixed = (value, digits) => number(value, { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Format a length: "850,0 m", "1,07 km". */
export function formatLength(metres) {
  return metres >= 1000 ? `${fixed(metres / 1000, 2)} km` : `${fixed(metres, 1)} m`;
}

/** Format an area: "950,5 m²", "47,47 ha (474.712 m²)". */
export function formatArea(squareMetres) {
  if (squareMetres < 1e4) return `${fixed(squareMetres, 1)} m²`;
  return `${fixed(squareMetres / 1e4, 2)} ha (${fixed(squareMetres, 0)} m²)`;
}

/** Measure a distance (a path) or an area (a polygon) by clicking on the map. */
export class Measure {
  constructor({ map, panel, onStart, onStop }) {
    this.map = map;
    this.panel = panel;
    this.onStart = onStart;
    this.onStop = onStop;
    this.mode = null;
    this.points = [];
    this.cursor = null;
    this.finished = false;
    this.click = (event) => this.add(event.lngLat);
    this.move = (event) => { this.cursor = event.lngLat.toArray(); this.draw(); };
    this.dblclick = (event) => { event.preventDefault(); this.finish(); };
    this.keydown = (event) => {
      if (event.key === 'Escape') this.stop();
      else if (event.key === 'Enter') this.finish();
    };
  }

  start(mode) {
    if (this.mode) this.stop();
    this.mode = mode;
    this.points = [];
    this.finished = false;
    this.map.doubleClickZoom.disable();
    this.map.on('click', this.click);
    this.map.on('mousemove', this.move);
    this.map.on('dblclick', this.dblclick);
    document.addEventListener('keydown', this.keydown);
    this.map.getCanvas().style.cursor = 'crosshair';
    this.onStart?.(mode);
    this.render();
  }

  stop() {
    if (!this.mode) return;
    this.map.off('click', this.click);
    this.map.off('mousemove', this.move);
    this.map.off('dblclick', this.dblclick);
    document.removeEventListener('keydown', this.keydown);
    this.map.doubleClickZoom.enable();
    this.map.getCanvas().style.cursor = '';
    const mode = this.mode;
    this.mode = null;
    this.points = [];
    this.cursor = null;
    this.map.getSource(MEASURE_SOURCE)?.setData({ type: 'FeatureCollection', features: [] });
    this.panel.hidden = true;
    this.onStop?.(mode);
  }

  add(lngLat) {
    if (this.finished) {
      this.points = [];
      this.finished = false;
    }
    const point = lngLat.toArray();
    const last = this.points[this.points.length - 1];
    // The two clicks of a double click land on the same spot: count the point once.
    if (last && Math.abs(last[0] - point[0]) < 1e-9 && Math.abs(last[1] - point[1]) < 1e-9) return;
    this.points.push(point);
    this.draw();
  }

  finish() {
    if (this.points.length < (this.mode === 'area' ? 3 : 2)) return;
    this.finished = true;
    this.cursor = null;
    this.draw();
  }

  path() {
    return this.cursor && !this.finished ? [...this.points, this.cursor] : this.points;
  }

  draw() {
    const path = this.path();
    const features = path.map((point) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: point }, properties: {} }));
    if (this.mode === 'area' && path.length >= 3) {
      features.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [[...path, path[0]]] }, properties: {} });
    } else if (path.length >= 2) {
      features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: path }, properties: {} });
    }
    addMeasureLayers(this.map);
    this.map.getSource(MEASURE_SOURCE).setData({ type: 'FeatureCollection', features });
    this.render();
  }

  /** The measured values, for the panel and for tests: metres and square metres. */
  result() {
    const path = this.path();
    if (this.mode === 'area') {
      return { mode: 'area', points: this.points.length, area_m2: areaM2(path), perimeter_m: path.length >= 3 ? lengthM([...path, path[0]]) : lengthM(path) };
    }
    return { mode: 'distance', points: this.points.length, length_m: lengthM(path) };
  }

  render() {
    const result = this.result();
    const lines = [];
    if (result.mode === 'area') {
      lines.push(h('p', { class: 'measure-value', 'data-area-m2': result.area_m2.toFixed(1) },
        fmt(_('Area: %(value)s'), { value: formatArea(result.area_m2) })));
      lines.push(h('p', {}, fmt(_('Perimeter: %(value)s'), { value: formatLength(result.perimeter_m) })));
    } else {
      lines.push(h('p', { class: 'measure-value', 'data-length-m': result.length_m.toFixed(1) },
        fmt(_('Distance: %(value)s'), { value: formatLength(result.length_m) })));
    }
    const hint = this.finished
      ? _('Click to start a new measurement.')
      : _('Click to add points; double-click or press Enter to finish.');
    this.panel.replaceChildren(
      h('strong', {}, result.mode === 'area' ? _('Measure area') : _('Measure distance')),
      ...lines,
      h('p', { class: 'hint' }, hint),
      h('button', { type: 'button', class: 'link', onclick: () => this.stop() }, _('Close')),
    );
    this.panel.hidden = false;
  }
}

/** Copy the link of the current view (or show it to copy by hand). */
export async function shareView() {
  const url = window.location.href;
  try {
    await navigator.clipboard.writeText(url);
    toast(_('Link to this view copied.'));
  } catch {
    window.prompt(_('Copy this link:'), url);
  }
  return url;
}

/** Download the current view as a PNG, with the data's attribution written under it. */
export function exportPng(map, attribution) {
  return new Promise((resolve, reject) => {
    map.once('render', () => {
      try {
        const source = map.getCanvas();
        const stripPx = Math.round(22 * (window.devicePixelRatio || 1));
        const canvas = document.createElement('canvas');
        canvas.width = source.width;
        canvas.height = source.height + stripPx;
        const context = canvas.getContext('2d');
        context.fillStyle = '#ffffff';
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(source, 0, 0);
        context.fillStyle = '#374151';
        context.font = `${Math.round(stripPx * 0.55)}px "Noto Sans", sans-serif`;
        context.textBaseline = 'middle';
        const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
        context.fillText(`${attribution} · ${stamp}`.slice(0, 220), stripPx * 0.4, source.height + stripPx / 2);
        canvas.toBlob((blob) => {
          if (!blob) { reject(new Error('no image')); return; }
          const link = h('a', { href: URL.createObjectURL(blob), download: `ban-do-hue-${stamp.replace(/[ :]/g, '-')}.png` });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(link.href), 10000);
          resolve(blob.size);
        }, 'image/png');
      } catch (error) {
        reject(error);
      }
    });
    map.triggerRepaint();
  });
}
