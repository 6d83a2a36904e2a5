// Identify: a click asks the API which features of the layers switched on lie under it (a few
// pixels' tolerance), shows their attributes in a popup (labels from the layer's schema, values as
// text, a list of values as a list) and highlights the feature on the map.

import { _, fmt, getJSON, h, number } from './dom.js';
import { ids, showOverlay } from './style.js';

const TOLERANCE_PX = 5;

/** Return an attribute value as text for people: dates and numbers in the page's language. */
export function formatValue(value, type) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'boolean') return value ? _('Yes') : _('No');
  if (typeof value === 'number') return number(value, { maximumFractionDigits: 2 });
  if (Array.isArray(value)) return value.length ? value.map((item) => formatValue(item)).join(', ') : '—';
  if (typeof value === 'object') return JSON.stringify(value);
  if (type === 'date' || type === 'datetime') {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date.toLocaleDateString(document.documentElement.lang || 'vi');
  }
  return String(value);
}

/** Return an attribute's cell content: a list of values as a list (a ward's former units), else text. */
function valueContent(value, type) {
  if (!Array.isArray(value) || !value.length) return formatValue(value, type);
  return h('ul', { class: 'value-list' }, value.map((item) => h('li', {}, formatValue(item))));
}

/** Return the popup's content for one feature: layer, name, and the schema's attributes. */
export function featureContent(layer, feature) {
  const properties = feature.properties || {};
  const name = layer && layer.name_field ? properties[layer.name_field] : null;
  const schema = layer ? layer.schema : [];
  const known = new Set(schema.map((field) => field.name));
  const rows = schema.map((field) => [field.label || field.name, valueContent(properties[field.name], field.type)]);
  // Attributes the schema does not list still show, under their own names.
  for (const [key, value] of Object.entries(properties)) {
    if (!known.has(key) && !key.startsWith('_')) rows.push([key, valueContent(value)]);
  }
  return h('div', { class: 'feature-popup', 'data-layer': layer ? layer.slug : '', 'data-feature': feature.id ?? '' },
    h('p', { class: 'popup-layer' }, layer ? layer.title : feature.layer_title || ''),
    h('h3', { class: 'popup-title' }, name ? String(name) : fmt(_('Feature %(id)s'), { id: feature.id ?? '?' })),
    h('table', { class: 'attributes' }, h('tbody', {},
      rows.map(([label, value]) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, value))))));
}

export class Identify {
  constructor({ map, config, maplibregl, layersOn, onSelect, onEdit, onChanged, onStation }) {
    this.map = map;
    this.config = config;
    this.maplibregl = maplibregl;
    this.layersOn = layersOn; // () => [slug…] in drawing order, bottom first
    this.onSelect = onSelect; // (feature | null) => void
    this.onEdit = onEdit; // (slug, id) => void: open the feature in the editor
    this.onChanged = onChanged; // async (slug) => void: a restore changed the layer
    this.onStation = onStation; // (section, layer, id) => void: fill a sensor station's readings
    this.popup = new maplibregl.Popup({ maxWidth: '340px', focusAfterOpen: false });
    this.popup.on('close', () => { if (!this.replacing) this.clear(); });
    this.controller = null;
    this.enabled = true;
    map.on('click', (event) => { if (this.enabled) this.at(event.lngLat, event.point); });
    map.on('mousemove', (event) => {
      if (!this.enabled) return;
      const hit = this.map.queryRenderedFeatures(event.point, { layers: this.drawnLayerIds() });
      this.map.getCanvas().style.cursor = hit.length ? 'pointer' : '';
    });
  }

  layerBySlug(slug) {
    return this.config.layers.find((layer) => layer.slug === slug);
  }

  drawnLayerIds() {
    const style = this.map.getStyle();
    if (!style) return [];
    return style.layers.filter((layer) => layer.id.startsWith('L:') && !layer.id.includes(':hl-')
      && !layer.id.endsWith(':label') && layer.layout?.visibility !== 'none').map((layer) => layer.id);
  }

  /** Show the features at a point: the API's answer, else (when it fails) what the tiles hold. */
  async at(lngLat, point) {
    const slugs = this.layersOn().slice().reverse();
    if (!slugs.length) return;
    this.controller?.abort();
    this.controller = new AbortController();
    const waiting = h('p', { class: 'popup-status', role: 'status' }, _('Looking up…'));
    this.show(lngLat, waiting);
    const params = new URLSearchParams({
      lon: lngLat.lng.toFixed(7), lat: lngLat.lat.toFixed(7), zoom: this.map.getZoom().toFixed(2),
      layers: slugs.join(','), tolerance: String(TOLERANCE_PX),
    });
    // Time-enabled layers: what the map draws at the time slider's day (timeslider.js).
    if (this.config.time && slugs.some((slug) => this.config.layers.find((layer) => layer.slug === slug)?.temporal)) {
      params.set('datetime', this.config.time);
    }
    let features;
    let failed = false;
    try {
      const answer = await getJSON(`${this.config.urls.identify}?${params}`, { signal: this.controller.signal });
      features = answer.features || [];
    } catch (error) {
      if (error.name === 'AbortError') return;
      failed = true;
      features = this.map.queryRenderedFeatures(point, { layers: this.drawnLayerIds() }).map((feature) => ({
        id: feature.id, layer: feature.sourceLayer, properties: feature.properties,
      }));
    }
    if (!features.length) {
      this.clear();
      this.show(lngLat, h('p', { class: 'popup-status' }, failed ? _('The details could not be loaded.') : _('Nothing here.')));
      return;
    }
    this.showFeatures(lngLat, features, failed);
  }

  showFeatures(lngLat, features, failed = false) {
    let index = 0;
    const render = () => {
      const feature = features[index];
      const layer = this.layerBySlug(feature.layer);
      const content = featureContent(layer, feature);
      if (layer && feature.id !== undefined && feature.id !== null && !failed) this.decorate(content, layer, feature.id);
      const nodes = [content];
      if (features.length > 1) {
        nodes.push(h('div', { class: 'popup-pager' },
          h('button', { type: 'button', disabled: index === 0, 'aria-label': _('Previous'), onclick: () => { index -= 1; render(); } }, '‹'),
          h('span', {}, fmt(_('%(n)s of %(total)s'), { n: index + 1, total: features.length })),
          h('button', { type: 'button', disabled: index === features.length - 1, 'aria-label': _('Next'), onclick: () => { index += 1; render(); } }, '›')));
      }
      if (failed) nodes.push(h('p', { class: 'popup-status warn' }, _('The server did not answer: showing what the map holds.')));
      this.show(lngLat, h('div', {}, nodes));
      this.highlight(feature.layer, feature.id);
    };
    render();
  }

  /**
   * Add what a feature's popup holds beside its attributes: its attachments (fetched with their
   * module, history.js, once the popup shows) and, for editors, the History tab and an Edit button.
   */
  decorate(content, layer, id) {
    if (layer.sensor && this.onStation) {
      // A sensor layer's station: its readings, chart and alerts under its name (sensors.js).
      const station = h('section', { class: 'sensor-station', hidden: true });
      content.querySelector('.popup-title').after(station);
      this.onStation(station, layer, id);
    }
    const attachments = h('section', { class: 'attachments', hidden: true });
    const module = () => import('./history.js');
    module().then(({ renderAttachments }) => renderAttachments(attachments, { config: this.config, layer, id, editable: layer.editable }))
      .catch(() => { attachments.hidden = true; });
    if (!layer.editable) {
      content.append(attachments);
      return;
    }
    const table = content.querySelector('table.attributes');
    const details = h('div', { class: 'tab-panel', id: `popup-details-${id}`, role: 'tabpanel' });
    table.replaceWith(details);
    details.append(table, attachments,
      h('button', { type: 'button', class: 'popup-edit', onclick: () => this.onEdit?.(layer.slug, id) }, _('Edit this feature')));
    const history = h('div', { class: 'tab-panel history-panel', id: `popup-history-${id}`, role: 'tabpanel', hidden: true });
    const tab = (label, panel, selected) => h('button', {
      type: 'button', role: 'tab', 'aria-selected': String(selected), 'aria-controls': panel.id,
      onclick: (event) => {
        for (const other of event.target.parentElement.children) other.setAttribute('aria-selected', String(other === event.target));
        details.hidden = panel !== details;
        history.hidden = panel !== history;
        if (panel === history) {
          module().then(({ renderHistory }) => renderHistory(history, {
            config: this.config, map: this.map, layer, id,
            onChanged: async (slug) => {
              await this.onChanged?.(slug);
              await this.refreshAttributes(content, layer, id);
            },
          }));
        } else showOverlay(this.map, []);
      },
    }, label);
    details.before(h('div', { class: 'popup-tabs', role: 'tablist' },
      tab(_('Attributes'), details, true), tab(_('History'), history, false)));
    content.append(history);
  }

  /** Show a feature's attributes again in its open popup (after a restore changed them). */
  async refreshAttributes(content, layer, id) {
    const url = this.config.urls.feature.replace('{layer}', encodeURIComponent(layer.slug)).replace('{id}', String(id));
    try {
      const fresh = featureContent(layer, { ...(await getJSON(url)), id });
      content.querySelector('.popup-title').replaceWith(fresh.querySelector('.popup-title'));
      content.querySelector('table.attributes').replaceWith(fresh.querySelector('table.attributes'));
    } catch {
      // A deleted feature has no attributes to show; the history says what happened.
    }
  }

  show(lngLat, node) {
    this.replacing = true;
    this.popup.setLngLat(lngLat).setDOMContent(node);
    if (!this.popup.isOpen()) this.popup.addTo(this.map);
    this.replacing = false;
  }

  /** Draw the highlight of one feature (and only that one). */
  highlight(slug, id) {
    this.clearHighlight();
    if (id === undefined || id === null) return;
    this.highlighted = slug;
    for (const kind of ['fill', 'line', 'circle']) {
      const layerId = ids.highlight(slug, kind);
      if (!this.map.getLayer(layerId)) continue;
      const filter = kind === 'circle'
        ? ['all', ['==', ['id'], id], ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false]]
        : ['==', ['id'], id];
      this.map.setFilter(layerId, filter);
    }
    this.onSelect?.({ layer: slug, id });
  }

  clearHighlight() {
    if (!this.highlighted) return;
    for (const kind of ['fill', 'line', 'circle']) {
      const layerId = ids.highlight(this.highlighted, kind);
      if (this.map.getLayer(layerId)) this.map.setFilter(layerId, ['==', ['id'], -1]);
    }
    this.highlighted = null;
  }

  clear() {
    this.clearHighlight();
    showOverlay(this.map, []);
    this.onSelect?.(null);
  }

  close() {
    this.popup.remove();
    this.clear();
  }

  /** Open one feature by layer and id (search results, investor links): fit, highlight, popup. */
  async openFeature(slug, id, { fit = true } = {}) {
    const url = this.config.urls.feature.replace('{layer}', encodeURIComponent(slug)).replace('{id}', String(id));
    const feature = await getJSON(url);
    const bbox = geometryBbox(feature.geometry);
    if (fit && bbox) {
      const degenerate = bbox[0] === bbox[2] && bbox[1] === bbox[3];
      if (degenerate) this.map.flyTo({ center: [bbox[0], bbox[1]], zoom: Math.max(this.map.getZoom(), 17) });
      else this.map.fitBounds(bbox, { padding: 60, maxZoom: 18 });
    }
    const anchor = bbox ? [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2] : this.map.getCenter().toArray();
    this.showFeatures({ lng: anchor[0], lat: anchor[1] }, [{ ...feature, id: feature.id ?? id, layer: slug }]);
  }
}

/** Return [minLon, minLat, maxLon, maxLat] of a GeoJSON geometry. */
export function geometryBbox(geometry) {
  if (!geometry) return null;
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (coordinates) => {
    if (typeof coordinates[0] === 'number') {
      box[0] = Math.min(box[0], coordinates[0]); box[1] = Math.min(box[1], coordinates[1]);
      box[2] = Math.max(box[2], coordinates[0]); box[3] = Math.max(box[3], coordinates[1]);
    } else coordinates.forEach(visit);
  };
  if (geometry.type === 'GeometryCollection') geometry.geometries.forEach((g) => visit(g.coordinates));
  else visit(geometry.coordinates);
  return Number.isFinite(box[0]) ? box : null;
}
