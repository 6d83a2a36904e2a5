// The coordinates bar under the map: where the cursor is (the map's centre when there is no cursor),
// in WGS 84 or in the city's VN-2000 zone, and "go to a coordinate" typed in either.
//
// The VN-2000 zone and its proj4 string come from the server (config.projected_crs, read from
// PostGIS's spatial_ref_sys), so the browser transforms exactly as ST_Transform does. proj4js
// (42 KiB compressed) is fetched only when someone shows VN-2000 or goes to an X/Y, and the reading
// of typed coordinates (coordparse.js) only on the first "go to".

import * as maplibregl from 'maplibre-gl';

import { _, fmt, h, number, toast } from './dom.js';

const STORAGE_KEY = 'webmap.coordinates';
const GOTO_MIN_ZOOM = 17;
// A point this far (degrees) outside the city's region is shown, with a word that it is far away.
const REGION_MARGIN_DEG = 0.5;

let proj4Loading = null;

/** Return proj4js, fetched the first time (its one-file build sets globalThis.proj4). */
function loadProj4() {
  proj4Loading ??= import('proj4').then(() => {
    if (typeof globalThis.proj4 !== 'function') throw new Error('proj4 did not load');
    return globalThis.proj4;
  }).catch((error) => { proj4Loading = null; throw error; });
  return proj4Loading;
}

/** Format degrees to 6 decimals (about 0.1 m) in the page's language. */
export function formatDegrees(value) {
  return `${number(value, { minimumFractionDigits: 6, maximumFractionDigits: 6 })}°`;
}

/** Format metres to the centimetre, without thousands separators, as surveyors write X and Y. */
export function formatMetres(value) {
  return `${number(value, { minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: false })} m`;
}

/** Return the text of a place in WGS 84: "Vĩ độ 16,463700° Kinh độ 107,590500°". */
export function wgs84Text(lon, lat) {
  return fmt(_('Lat %(lat)s  Lon %(lon)s'), { lat: formatDegrees(lat), lon: formatDegrees(lon) });
}

/** Return the text of a VN-2000 position: "X 1820569,22 m Y 562802,98 m" (X northing, Y easting). */
export function vn2000Text(x, y) {
  return fmt(_('X %(x)s  Y %(y)s'), { x: formatMetres(x), y: formatMetres(y) });
}

export class CoordinateBar {
  /** `webmap` is the map's controller (main.js): its map and config. */
  constructor({ webmap }) {
    this.map = webmap.map;
    this.config = webmap.config;
    this.crs = webmap.config.projected_crs || null;
    this.system = this.crs && this.stored() === 'vn2000' ? 'vn2000' : 'wgs84';
    this.converter = null;
    this.cursor = null;
    this.marker = null;
    this.frame = 0;
    this.build();
    this.map.addControl({ onAdd: () => this.element, onRemove: () => this.element.remove() }, 'bottom-right');
    this.map.on('mousemove', (event) => { this.cursor = event.lngLat; this.schedule(); });
    this.map.getCanvasContainer().addEventListener('mouseleave', () => { this.cursor = null; this.schedule(); });
    this.map.on('move', () => { if (!this.cursor) this.schedule(); });
    this.setSystem(this.system);
  }

  build() {
    const options = [h('option', { value: 'wgs84' }, 'WGS 84')];
    if (this.crs) options.push(h('option', { value: 'vn2000', title: this.crs.name }, 'VN-2000'));
    this.select = h('select', {
      id: 'coordinate-system', 'aria-label': _('Coordinate system'), title: _('Coordinate system'),
      onchange: () => this.setSystem(this.select.value),
    }, options);
    this.output = h('output', { id: 'coordinate-value', class: 'coordinate-value', 'aria-live': 'off' });
    this.gotoButton = h('button', {
      type: 'button', id: 'goto-toggle', class: 'goto-toggle', 'aria-expanded': 'false', 'aria-controls': 'goto-form',
      title: _('Go to a coordinate'), 'aria-label': _('Go to a coordinate'), onclick: () => this.toggleForm(),
    }, '⌖');
    this.input = h('input', {
      id: 'goto-input', type: 'text', autocomplete: 'off', spellcheck: 'false',
      placeholder: _('X: 1820000 Y: 560000 or 16,4637 107,5905'),
    });
    this.message = h('p', { id: 'goto-message', class: 'goto-message', role: 'status', 'aria-live': 'polite' });
    this.form = h('form', { id: 'goto-form', class: 'goto-form', hidden: true, onsubmit: (event) => { event.preventDefault(); this.goTo(this.input.value); } },
      h('label', { for: 'goto-input' }, _('Go to a coordinate')),
      h('div', { class: 'goto-row' }, this.input, h('button', { type: 'submit' }, _('Go'))),
      this.message,
      h('p', { class: 'hint' }, _('VN-2000 X (northing) and Y (easting) in metres, or latitude and longitude in degrees (16°28\'12"N 107°35\'24"E).')),
      h('button', { type: 'button', class: 'link', onclick: () => this.toggleForm(false) }, _('Close')));
    this.element = h('div', { class: 'maplibregl-ctrl coordinate-bar' }, this.form, this.select, this.output, this.gotoButton);
  }

  stored() {
    try { return window.localStorage.getItem(STORAGE_KEY); } catch { return null; }
  }

  /** Show coordinates in 'wgs84' or 'vn2000' (remembered for the next visit). */
  async setSystem(system) {
    this.system = system === 'vn2000' && this.crs ? 'vn2000' : 'wgs84';
    this.select.value = this.system;
    try { window.localStorage.setItem(STORAGE_KEY, this.system); } catch { /* private mode: not kept */ }
    if (this.system === 'vn2000' && !this.converter) {
      this.output.textContent = '…';
      try {
        await this.transformer();
      } catch (error) {
        toast(fmt(_('VN-2000 coordinates could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        this.system = 'wgs84';
        this.select.value = 'wgs84';
      }
    }
    this.render();
  }

  /** Return the proj4 converter between WGS 84 (lon, lat) and the VN-2000 zone (easting, northing). */
  async transformer() {
    if (!this.crs) throw new Error(_('no VN-2000 zone is configured'));
    if (!this.converter) {
      const proj4 = await loadProj4();
      this.converter = proj4('EPSG:4326', this.crs.proj4);
    }
    return this.converter;
  }

  /** Return VN-2000 {x: northing, y: easting} of a lon/lat (the converter must be loaded). */
  toVn2000(lon, lat) {
    const [easting, northing] = this.converter.forward([lon, lat]);
    return { x: northing, y: easting };
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  /** Show the cursor's position, or the map's centre when the cursor is not over the map. */
  render() {
    const place = this.cursor || this.map.getCenter();
    const { lng, lat } = place;
    this.output.dataset.lon = String(lng);
    this.output.dataset.lat = String(lat);
    this.output.title = this.cursor ? _('Position of the cursor') : _('Centre of the map');
    if (this.system === 'vn2000' && this.converter) {
      const { x, y } = this.toVn2000(lng, lat);
      this.output.textContent = vn2000Text(x, y);
      this.output.title += ` · ${this.crs.name} · ${_('X is the northing, Y the easting')}`;
    } else if (this.system === 'wgs84') {
      this.output.textContent = wgs84Text(lng, lat);
    }
  }

  toggleForm(open = this.form.hidden) {
    this.form.hidden = !open;
    this.gotoButton.setAttribute('aria-expanded', String(open));
    if (open) {
      this.input.focus();
    } else {
      this.marker?.remove();
      this.marker = null;
    }
  }

  /** Read a typed coordinate, put a marker there and fly to it; return {lon, lat} or null. */
  async goTo(text) {
    this.message.classList.remove('error');
    this.message.textContent = '';
    let place;
    try {
      const { CoordinateError, parseCoordinate } = await import('./coordparse.js');
      let read;
      try {
        read = parseCoordinate(text);
      } catch (error) {
        if (error instanceof CoordinateError) return this.fail(error.message);
        throw error;
      }
      place = read.kind === 'metres' ? await this.fromMetres(read) : this.fromDegrees(read);
      if (!place) return null;
    } catch (error) {
      return this.fail(fmt(_('The coordinate could not be read (%(reason)s).'), { reason: error.message }));
    }
    const [west, south, east, north] = this.config.region_bbox;
    const far = place.lon < west - REGION_MARGIN_DEG || place.lon > east + REGION_MARGIN_DEG
      || place.lat < south - REGION_MARGIN_DEG || place.lat > north + REGION_MARGIN_DEG;
    this.message.textContent = far ? `${place.understood} ${_('This point lies far outside the city.')}` : place.understood;
    this.marker?.remove();
    this.marker = new maplibregl.Marker({ color: '#b45309' }).setLngLat([place.lon, place.lat]).addTo(this.map);
    this.marker.getElement().setAttribute('aria-label', place.understood);
    this.marker.getElement().title = place.understood;
    this.map.flyTo({ center: [place.lon, place.lat], zoom: Math.max(this.map.getZoom(), GOTO_MIN_ZOOM), essential: true });
    return { lon: place.lon, lat: place.lat };
  }

  fail(message) {
    this.message.textContent = message;
    this.message.classList.add('error');
    return null;
  }

  async fromMetres({ x, y, swapped }) {
    if (!this.crs) {
      this.fail(_('This map has no VN-2000 zone: give latitude and longitude in degrees.'));
      return null;
    }
    const converter = await this.transformer();
    const [lon, lat] = converter.inverse([y, x]);
    let understood = fmt(_('Understood as %(zone)s X (northing) %(x)s, Y (easting) %(y)s: %(wgs84)s.'), {
      zone: this.crs.name, x: formatMetres(x), y: formatMetres(y), wgs84: wgs84Text(lon, lat),
    });
    if (swapped) understood += ` ${_('The larger number was taken as X (northing), as Vietnamese surveys write it.')}`;
    return { lon, lat, understood };
  }

  fromDegrees({ lat, lon, swapped }) {
    let understood = fmt(_('Understood as WGS 84 latitude and longitude: %(wgs84)s.'), { wgs84: wgs84Text(lon, lat) });
    if (swapped) understood += ` ${_('The numbers were read as longitude, then latitude.')}`;
    return { lon, lat, understood };
  }
}
