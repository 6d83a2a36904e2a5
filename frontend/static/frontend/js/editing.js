// Editing on the map (issue 13): draw a point, line or polygon, move and add vertices with snapping
// to the other features on the map, fill in the attribute form built from the layer's schema, save
// with the feature's version (a 409 shows both versions), delete, and undo the last change.
//
// Loaded only when an editor first opens the Edit tool (main.js imports it then): the drawing
// library (terra-draw, with its MapLibre adapter) and this module are not part of the first visit.

import {
  TerraDraw, TerraDrawLineStringMode, TerraDrawPointMode, TerraDrawPolygonMode, TerraDrawSelectMode,
  ValidateNotSelfIntersecting,
} from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';

import { _, fmt, h, toast } from './dom.js';
import { ApiError, etagOf, loadFeature, restoreVersion, send, urls, versionOfEtag } from './featureapi.js';
import { formatValue } from './identify.js';
import { ids, refreshTiles, showOverlay } from './style.js';

// How near (screen pixels) the pointer must come to another feature's vertex or edge to snap to it.
const SNAP_PX = 12;
const DRAW_MODE = { point: 'point', line: 'linestring', polygon: 'polygon' };
const INTEGER_TYPES = new Set(['integer', 'int']);
const NUMBER_TYPES = new Set(['real', 'float', 'double', 'number', 'decimal']);
const BOOLEAN_TYPES = new Set(['boolean', 'bool']);
const EDIT_COLOUR = '#0369a1';

/** The kind of drawing a layer takes (point, line, polygon), or null for a mixed layer. */
function drawKind(layer) {
  return DRAW_MODE[layer.geometry_type] ? layer.geometry_type : null;
}

// --- Geometry -----------------------------------------------------------------------------------

function positions(geometry) {
  const out = [];
  const visit = (coordinates) => {
    if (typeof coordinates[0] === 'number') out.push(coordinates);
    else coordinates.forEach(visit);
  };
  if (geometry && geometry.coordinates) visit(geometry.coordinates);
  return out;
}

/** Return a single-part copy of a one-part Multi* geometry (terra-draw draws single parts). */
function singlePart(geometry) {
  if (!geometry || !geometry.type.startsWith('Multi')) return geometry;
  if (geometry.coordinates.length !== 1) return null;
  return { type: geometry.type.slice('Multi'.length), coordinates: geometry.coordinates[0] };
}

/**
 * Return what is wrong with a geometry before it is sent (in the visitor's language), or null:
 * of the layer's kind, complete, a polygon that does not cross itself, inside the edit extent.
 */
export function geometryProblem(geometry, layer, extent) {
  if (!geometry) return _('Draw the feature on the map first.');
  const kinds = { point: ['Point', 'MultiPoint'], line: ['LineString', 'MultiLineString'], polygon: ['Polygon', 'MultiPolygon'] };
  const allowed = kinds[layer.geometry_type];
  if (allowed && !allowed.includes(geometry.type)) {
    return fmt(_('This layer takes %(kind)s, not %(type)s.'), { kind: kindName(layer.geometry_type), type: geometry.type });
  }
  if (geometry.type === 'LineString' && distinct(geometry.coordinates).length < 2) {
    return _('A line needs at least two different points.');
  }
  if (geometry.type === 'Polygon') {
    if (distinct(geometry.coordinates[0]).length < 3) return _('An area needs at least three different corners.');
    const check = ValidateNotSelfIntersecting({ type: 'Feature', geometry, properties: {} });
    if (!check.valid) return _('The outline crosses itself: move the corners so that its edges do not cross.');
  }
  // Inside the city's region, or else inside the layer's own extent (as the server checks it).
  const within = (box) => box && positions(geometry).every(([lon, lat]) => lon >= box[0] && lon <= box[2] && lat >= box[1] && lat <= box[3]);
  if (extent && !within(extent) && !within(layer.bbox)) {
    return _('The feature lies outside the area this map covers: move it inside.');
  }
  return null;
}

function distinct(points) {
  return [...new Set(points.map(([lon, lat]) => `${lon.toFixed(9)},${lat.toFixed(9)}`))];
}

function kindName(kind) {
  return { point: _('a point'), line: _('a line'), polygon: _('an area') }[kind] || kind;
}

// --- Snapping to the features drawn on the map ----------------------------------------------------

function nearestOnSegment(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2)) : 0;
  return { x: a.x + t * dx, y: a.y + t * dy };
}

/**
 * Return a function for terra-draw's `snapping.toCustom`: the nearest vertex of a feature drawn
 * on the map within SNAP_PX of the pointer, else the nearest point of its edges, else nothing.
 * The features come from the rendered tiles (`queryRenderedFeatures`), so every layer on the map
 * can be snapped to, not only what terra-draw holds.
 */
export function snapToRendered(map) {
  return (event) => {
    const point = { x: event.containerX, y: event.containerY };
    const box = [[point.x - SNAP_PX, point.y - SNAP_PX], [point.x + SNAP_PX, point.y + SNAP_PX]];
    const layers = map.getStyle().layers.filter((layer) => layer.id.startsWith('L:') && !layer.id.includes(':hl-')
      && !layer.id.endsWith(':label') && layer.layout?.visibility !== 'none').map((layer) => layer.id);
    if (!layers.length) return undefined;
    let vertex = null;
    let edge = null;
    const distance = (a) => Math.hypot(a.x - point.x, a.y - point.y);
    for (const feature of map.queryRenderedFeatures(box, { layers })) {
      const lines = feature.geometry.type.includes('Point') ? [] : linesOf(feature.geometry);
      for (const position of positions(feature.geometry)) {
        const screen = map.project(position);
        const d = distance(screen);
        if (d <= SNAP_PX && (!vertex || d < vertex.d)) vertex = { d, position };
      }
      for (const line of lines) {
        for (let i = 1; i < line.length; i += 1) {
          const near = nearestOnSegment(point, map.project(line[i - 1]), map.project(line[i]));
          const d = distance(near);
          if (d <= SNAP_PX && (!edge || d < edge.d)) edge = { d, position: map.unproject([near.x, near.y]).toArray() };
        }
      }
    }
    return (vertex || edge)?.position;
  };
}

function linesOf(geometry) {
  switch (geometry.type) {
    case 'LineString': return [geometry.coordinates];
    case 'MultiLineString':
    case 'Polygon': return geometry.coordinates;
    case 'MultiPolygon': return geometry.coordinates.flat();
    default: return [];
  }
}

// --- The attribute form ---------------------------------------------------------------------------

function inputFor(field, value) {
  const id = `edit-field-${field.name}`;
  const common = { id, name: field.name, 'data-field': field.name, required: field.required || null, 'aria-describedby': `${id}-error` };
  const type = String(field.type || 'text').toLowerCase();
  if (field.choices) {
    const index = field.choices.findIndex((choice) => choice.value === value);
    return h('select', common,
      h('option', { value: '' }, field.required ? _('— choose —') : _('(none)')),
      field.choices.map((choice, i) => h('option', { value: String(i), selected: i === index }, choice.label)));
  }
  if (BOOLEAN_TYPES.has(type)) return h('input', { ...common, type: 'checkbox', required: null, checked: value === true });
  const attributes = { ...common, value: value ?? '' };
  if (INTEGER_TYPES.has(type)) Object.assign(attributes, { type: 'number', step: '1', inputmode: 'numeric' });
  else if (NUMBER_TYPES.has(type)) Object.assign(attributes, { type: 'number', step: 'any', inputmode: 'decimal' });
  else if (type === 'date') Object.assign(attributes, { type: 'date', value: value ? String(value).slice(0, 10) : '' });
  else Object.assign(attributes, { type: 'text' });
  return h('input', attributes);
}

/** Read one field of the form: [value, problem]. An empty field is null. */
function readField(field, input) {
  const type = String(field.type || 'text').toLowerCase();
  if (field.choices) {
    if (input.value === '') return [null, field.required ? _('Choose a value.') : null];
    return [field.choices[Number(input.value)].value, null];
  }
  if (BOOLEAN_TYPES.has(type)) return [input.checked, null];
  const text = input.value.trim();
  if (text === '') return [null, field.required ? _('This field is required.') : null];
  if (INTEGER_TYPES.has(type)) {
    const value = Number(text);
    return Number.isInteger(value) ? [value, null] : [null, _('Enter a whole number.')];
  }
  if (NUMBER_TYPES.has(type)) {
    const value = Number(text);
    return Number.isFinite(value) ? [value, null] : [null, _('Enter a number.')];
  }
  return [text, null];
}

// --- The editor -----------------------------------------------------------------------------------

/**
 * The Edit tool: a panel beside the map (layer, draw or pick a feature, the form, save, delete,
 * undo) and terra-draw on the map. `webmap` is main.js's WebMap.
 */
export class Editor {
  constructor({ webmap, panel }) {
    this.webmap = webmap;
    this.map = webmap.map;
    this.config = webmap.config;
    this.panel = panel;
    this.active = false;
    this.slug = null;
    this.session = null; // {id (null when new), version, etag, drawId, feature, properties}
    this.lastChange = null; // {action, slug, id, version, previous}
    this.hidden = null; // {slug, id, filters: Map(style layer id → filter)}
    this.busy = false;
    this.pickClick = (event) => this.pick(event);
    this.keydown = (event) => { if (event.key === 'Escape' && !this.session) this.webmap.toggleEdit(false); };
    this.draw = this.createDraw();
  }

  editableLayers() {
    return this.config.layers.filter((layer) => layer.editable && this.webmap.on.has(layer.slug));
  }

  get layer() {
    return this.config.layers.find((layer) => layer.slug === this.slug) || null;
  }

  createDraw() {
    const snapping = { toCustom: snapToRendered(this.map), toCoordinate: true, toLine: true };
    const styles = {
      fillColor: EDIT_COLOUR, fillOpacity: 0.25, outlineColor: EDIT_COLOUR, outlineWidth: 2,
      closingPointColor: '#ffffff', closingPointOutlineColor: EDIT_COLOUR, closingPointWidth: 6, closingPointOutlineWidth: 2,
      snappingPointColor: '#f59e0b', snappingPointOutlineColor: '#ffffff', snappingPointWidth: 6, snappingPointOutlineWidth: 2,
    };
    const coordinates = { draggable: true, midpoints: true, deletable: true, snappable: snapping };
    let next = 0;
    return new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map: this.map, coordinatePrecision: 9, prefixId: 'edit' }),
      // Numeric ids: terra-draw's default (UUIDs) needs crypto.randomUUID, which plain HTTP lacks.
      idStrategy: { isValidId: (id) => Number.isInteger(id), getId: () => { next += 1; return next; } },
      modes: [
        new TerraDrawPointMode({ styles: { pointColor: EDIT_COLOUR, pointWidth: 7, pointOutlineColor: '#ffffff', pointOutlineWidth: 2 } }),
        new TerraDrawLineStringMode({ snapping, styles: { lineStringColor: EDIT_COLOUR, lineStringWidth: 3, closingPointColor: '#ffffff', closingPointOutlineColor: EDIT_COLOUR, snappingPointColor: '#f59e0b' } }),
        new TerraDrawPolygonMode({ snapping, styles, validation: (feature, { updateType }) => (updateType === 'finish' ? ValidateNotSelfIntersecting(feature) : { valid: true }) }),
        new TerraDrawSelectMode({
          flags: {
            point: { feature: { draggable: true } },
            linestring: { feature: { draggable: true, coordinates } },
            polygon: { feature: { draggable: true, coordinates } },
          },
          keyEvents: { deselect: null, delete: null, rotate: null, scale: null },
          allowManualDeselection: false,
          styles: {
            selectedPolygonColor: EDIT_COLOUR, selectedPolygonFillOpacity: 0.25, selectedPolygonOutlineColor: EDIT_COLOUR,
            selectedPolygonOutlineWidth: 2, selectedLineStringColor: EDIT_COLOUR, selectedLineStringWidth: 3,
            selectedPointColor: EDIT_COLOUR, selectedPointWidth: 7, selectedPointOutlineColor: '#ffffff', selectedPointOutlineWidth: 2,
            selectionPointColor: '#ffffff', selectionPointOutlineColor: EDIT_COLOUR, selectionPointWidth: 5, selectionPointOutlineWidth: 2,
            midPointColor: EDIT_COLOUR, midPointOutlineColor: '#ffffff', midPointWidth: 3,
          },
        }),
      ],
    });
  }

  // --- Opening and closing the tool ----------------------------------------------------------------

  start() {
    if (this.active) return;
    this.active = true;
    this.draw.start();
    this.draw.on('finish', (id, context) => this.finished(id, context));
    this.map.on('click', this.pickClick);
    document.addEventListener('keydown', this.keydown);
    const layers = this.editableLayers();
    if (!layers.some((layer) => layer.slug === this.slug)) this.slug = layers[0]?.slug ?? null;
    this.render();
  }

  stop() {
    if (!this.active) return;
    this.endSession();
    this.map.off('click', this.pickClick);
    document.removeEventListener('keydown', this.keydown);
    this.draw.stop();
    this.draw = this.createDraw(); // terra-draw cannot start again after stop
    this.active = false;
    this.panel.hidden = true;
    this.panel.replaceChildren();
  }

  /** The layer tree switched a layer on or off: the layer list follows. */
  layersChanged() {
    if (!this.active || this.session) return;
    const layers = this.editableLayers();
    if (!layers.some((layer) => layer.slug === this.slug)) this.slug = layers[0]?.slug ?? null;
    this.render();
  }

  // --- Drawing and picking ---------------------------------------------------------------------------

  /** Start drawing a new feature of the chosen layer. */
  drawNew() {
    const layer = this.layer;
    if (!layer || !drawKind(layer)) return;
    this.endSession();
    this.session = { id: null, version: null, etag: null, drawId: null, feature: null, properties: {} };
    this.draw.setMode(DRAW_MODE[drawKind(layer)]);
    this.render();
  }

  finished(drawId, context) {
    if (!this.session) return;
    if (context.action === 'draw') {
      this.session.drawId = drawId;
      // The new shape can be corrected at once: its vertices are handles, its edges take new ones.
      this.draw.setMode('select');
      this.draw.selectFeature(drawId);
      this.render();
      this.panel.querySelector('input, select')?.focus();
    }
    this.clearMessage();
  }

  /** A click on the map with no feature open: open the chosen layer's feature under it. */
  async pick(event) {
    if (this.session || this.busy || !this.layer) return;
    const layers = this.map.getStyle().layers.filter((layer) => layer.id.startsWith(`L:${this.slug}:`)
      && !layer.id.includes(':hl-') && !layer.id.endsWith(':label')).map((layer) => layer.id);
    const { x, y } = event.point;
    const hits = this.map.queryRenderedFeatures([[x - 4, y - 4], [x + 4, y + 4]], { layers });
    const hit = hits.find((feature) => feature.id !== undefined && feature.id !== null);
    if (!hit) return;
    await this.open(this.slug, hit.id);
  }

  /** Open a feature for editing: its geometry in terra-draw, its attributes in the form. */
  async open(slug, id) {
    const layer = this.config.layers.find((item) => item.slug === slug && item.editable);
    if (!layer) return;
    if (this.session) this.endSession();
    this.slug = slug;
    this.busy = true;
    try {
      const { feature, version, etag } = await loadFeature(this.config, slug, id);
      this.session = { id: feature.id ?? id, version, etag, drawId: null, feature, properties: { ...(feature.properties || {}) } };
      this.loadGeometry(feature.geometry);
      this.hideOriginal(slug, this.session.id);
    } catch (error) {
      toast(fmt(_('The feature could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
    } finally {
      this.busy = false;
    }
    this.render();
  }

  loadGeometry(geometry) {
    if (this.session.drawId !== null) {
      this.draw.removeFeatures([this.session.drawId]);
      this.session.drawId = null;
    }
    const single = singlePart(geometry);
    this.session.multipart = Boolean(geometry && !single);
    this.session.wasMulti = Boolean(geometry && geometry.type.startsWith('Multi'));
    if (!single) return;
    const mode = { Point: 'point', LineString: 'linestring', Polygon: 'polygon' }[single.type];
    const drawId = this.draw.getFeatureId();
    const [result] = this.draw.addFeatures([{ id: drawId, type: 'Feature', geometry: single, properties: { mode } }]);
    if (result && result.valid === false) return;
    this.session.drawId = drawId;
    this.draw.setMode('select');
    this.draw.selectFeature(drawId);
  }

  /** Return the geometry to send: what terra-draw holds (Multi* again when the feature was). */
  geometry() {
    if (!this.session) return null;
    if (this.session.multipart) return this.session.feature.geometry;
    if (this.session.drawId === null) return null;
    const drawn = this.draw.getSnapshotFeature(this.session.drawId);
    if (!drawn) return null;
    const { type, coordinates } = drawn.geometry;
    return this.session.wasMulti ? { type: `Multi${type}`, coordinates: [coordinates] } : { type, coordinates };
  }

  /** Hide a feature's tile drawing while terra-draw shows it (else the old shape shows under it). */
  hideOriginal(slug, id) {
    this.showOriginal();
    const filters = new Map();
    for (const styleLayer of this.map.getStyle().layers) {
      if (!styleLayer.id.startsWith(`L:${slug}:`) || styleLayer.id.includes(':hl-')) continue;
      const original = this.map.getFilter(styleLayer.id);
      filters.set(styleLayer.id, original ?? null);
      const without = ['!=', ['id'], id];
      this.map.setFilter(styleLayer.id, original ? ['all', original, without] : without);
    }
    this.hidden = { slug, id, filters };
    this.webmap.identify.clearHighlight();
  }

  showOriginal() {
    if (!this.hidden) return;
    for (const [id, filter] of this.hidden.filters) if (this.map.getLayer(id)) this.map.setFilter(id, filter);
    this.hidden = null;
  }

  endSession() {
    if (this.draw.enabled) {
      this.draw.clear();
      this.draw.setMode('static');
    }
    this.showOriginal();
    showOverlay(this.map, []);
    this.session = null;
    this.conflict = null;
    this.confirmingDelete = false;
  }

  cancel() {
    this.endSession();
    this.render();
  }

  // --- Saving -----------------------------------------------------------------------------------------

  /** Read the form: [properties, problems by field]. Fields the schema does not list are kept. */
  readForm() {
    const properties = { ...(this.session.properties || {}) };
    const problems = {};
    for (const field of this.layer.schema) {
      const input = this.panel.querySelector(`[data-field="${CSS.escape(field.name)}"]`);
      if (!input) continue;
      const [value, problem] = readField(field, input);
      if (problem) problems[field.name] = problem;
      else properties[field.name] = value;
    }
    return [properties, problems];
  }

  async save({ overwrite = false } = {}) {
    if (!this.session || this.busy) return;
    this.clearMessage();
    const layer = this.layer;
    const [properties, problems] = this.conflict && overwrite ? [this.conflict.yours.properties, {}] : this.readForm();
    this.showFieldProblems(problems);
    if (Object.keys(problems).length) {
      this.message(_('Some fields need attention.'), 'error');
      return;
    }
    const geometry = this.conflict && overwrite ? this.conflict.yours.geometry : this.geometry();
    const problem = geometryProblem(geometry, layer, this.config.edit_extent);
    if (problem) {
      this.message(problem, 'error');
      return;
    }
    const api = urls(this.config, layer.slug);
    const body = { type: 'Feature', geometry, properties };
    const creating = this.session.id === null;
    const etag = overwrite && this.conflict ? etagOf(this.session.id, this.conflict.current.version) : this.session.etag;
    this.busy = true;
    this.render({ keepForm: true });
    try {
      const answer = creating
        ? await send('POST', api.features, { body })
        : await send('PUT', api.feature(this.session.id), { body, etag });
      const saved = answer.body || {};
      const id = saved.id ?? this.session.id;
      const version = saved.version ?? versionOfEtag(answer.etag);
      this.lastChange = creating
        ? { action: 'create', slug: layer.slug, id, version }
        : { action: 'update', slug: layer.slug, id, version, previous: this.session.version };
      this.busy = false;
      this.endSession();
      await this.afterWrite(layer.slug);
      this.render();
      this.message(creating ? _('The new feature is saved.') : _('Your changes are saved.'), 'ok');
    } catch (error) {
      this.busy = false;
      this.failed(error, { properties, geometry });
    }
  }

  /** Show why a write failed: the server's words for 400, both versions for 409. */
  failed(error, yours) {
    if (error instanceof ApiError && error.status === 409 && error.body.current) {
      this.conflict = { current: error.body.current, yours: { ...yours, version: this.session.version } };
      this.render();
      return;
    }
    this.render({ keepForm: true });
    if (error instanceof ApiError && error.status === 400) {
      const field = (error.parameter || '').startsWith('properties.') ? error.parameter.slice('properties.'.length) : null;
      if (field) this.showFieldProblems({ [field]: error.message });
      this.message(error.message, 'error');
    } else if (error instanceof ApiError && error.status === 401) {
      this.message(_('You are signed out: sign in again in another tab, then save; your drawing is kept.'), 'error');
    } else if (error instanceof ApiError && error.status === 403) {
      this.message(_('You may not edit this layer.'), 'error');
    } else if (error instanceof ApiError && error.status === 404) {
      this.message(_('This feature no longer exists.'), 'error');
    } else {
      this.message(fmt(_('The change could not be saved (%(reason)s).'), { reason: error.message }), 'error');
    }
  }

  /** Keep theirs: the form and the drawing take the version now on the server. */
  keepTheirs() {
    const current = this.conflict.current;
    this.conflict = null;
    showOverlay(this.map, []);
    this.session.version = current.version;
    this.session.etag = etagOf(this.session.id, current.version);
    this.session.feature = current;
    this.session.properties = { ...(current.properties || {}) };
    this.loadGeometry(current.geometry);
    this.render();
    this.message(_('The form shows their version now.'), 'ok');
  }

  async remove() {
    if (!this.session || this.session.id === null || this.busy) return;
    const layer = this.layer;
    this.busy = true;
    try {
      await send('DELETE', urls(this.config, layer.slug).feature(this.session.id), { etag: this.session.etag });
      this.lastChange = { action: 'delete', slug: layer.slug, id: this.session.id, version: this.session.version };
      this.busy = false;
      this.endSession();
      await this.afterWrite(layer.slug);
      this.render();
      this.message(_('The feature is deleted.'), 'ok');
    } catch (error) {
      this.busy = false;
      this.confirmingDelete = false;
      this.failed(error, { properties: this.session.properties, geometry: this.geometry() });
    }
  }

  /** Undo the last change: delete what was created, restore what was changed or deleted. */
  async undo() {
    const change = this.lastChange;
    if (!change || this.busy) return;
    this.busy = true;
    try {
      if (change.action === 'create') {
        await send('DELETE', urls(this.config, change.slug).feature(change.id), { etag: etagOf(change.id, change.version) });
      } else {
        await this.checkUnchangedSince(change);
        const version = change.action === 'delete' ? change.version : change.previous;
        // The version the change left (for a delete, the one deleted): the server refuses (409)
        // if the feature moved on since.
        const etag = etagOf(change.id, change.version);
        await restoreVersion(this.config, change.slug, change.id, version, etag);
      }
      this.lastChange = null;
      await this.afterWrite(change.slug);
      this.busy = false;
      this.render();
      this.message(_('The last change is undone.'), 'ok');
    } catch (error) {
      this.busy = false;
      this.render();
      this.message(error instanceof ApiError && error.status === 409
        ? _('Someone changed the feature since: open it to see their version.')
        : fmt(_('The change could not be undone (%(reason)s).'), { reason: error.message }), 'error');
    }
  }

  /**
   * Throw a 409 ApiError unless the feature is still as `change` left it (changed: at its
   * version; deleted: gone). An undo must not overwrite a colleague's later change: the server's
   * restore is told the version too (`If-Match`), and this check says so before it is tried.
   */
  async checkUnchangedSince(change) {
    let version = null;
    try {
      ({ version } = await loadFeature(this.config, change.slug, change.id));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
    const expected = change.action === 'delete' ? null : change.version;
    if (version !== expected) throw new ApiError(409, { code: 'conflict' });
  }

  /** Draw the layer's tiles again from its new version. */
  async afterWrite(slug) {
    await this.webmap.layerChanged(slug);
  }

  // --- The panel ---------------------------------------------------------------------------------------

  render({ keepForm = false } = {}) {
    if (!this.active) return;
    if (keepForm && this.panel.querySelector('form.edit-form')) {
      for (const button of this.panel.querySelectorAll('button')) button.disabled = this.busy;
      return;
    }
    const layers = this.editableLayers();
    const nodes = [h('h2', { class: 'edit-title' }, _('Edit the map'))];
    if (!layers.length) {
      nodes.push(h('p', { class: 'hint' }, _('Switch on a layer you may edit (in the layer list) to edit its features.')));
    } else if (!this.session) {
      nodes.push(this.layerChooser(layers));
      const layer = this.layer;
      const kind = layer && drawKind(layer);
      if (kind) {
        nodes.push(h('button', { type: 'button', id: 'edit-draw', class: 'primary', onclick: () => this.drawNew() },
          { point: _('Add a point'), line: _('Draw a line'), polygon: _('Draw an area') }[kind]));
      }
      nodes.push(h('p', { class: 'hint' }, _('Or click a feature of this layer on the map to change it.')));
    } else {
      nodes.push(h('p', { class: 'edit-layer-name' }, this.layer.title));
      nodes.push(this.conflict ? this.conflictView() : this.form());
    }
    if (this.lastChange && !this.session) {
      nodes.push(h('div', { class: 'edit-undo' },
        h('button', { type: 'button', id: 'edit-undo', onclick: () => this.undo(), disabled: this.busy }, _('Undo the last change'))));
    }
    nodes.push(h('p', { id: 'edit-message', class: 'edit-message', role: 'alert', hidden: true }));
    nodes.push(h('button', { type: 'button', class: 'link edit-close', onclick: () => this.webmap.toggleEdit(false) }, _('Close the editor')));
    this.panel.replaceChildren(...nodes);
    this.panel.hidden = false;
  }

  layerChooser(layers) {
    return h('label', { class: 'edit-layer' }, _('Layer'),
      h('select', {
        id: 'edit-layer',
        onchange: (event) => { this.slug = event.target.value; this.render(); },
      }, layers.map((layer) => h('option', { value: layer.slug, selected: layer.slug === this.slug }, layer.title))));
  }

  form() {
    const session = this.session;
    const layer = this.layer;
    const creating = session.id === null;
    let hint = null;
    if (creating && session.drawId === null) {
      hint = {
        point: _('Click on the map where the point goes.'),
        line: _('Click to add points; click the last point again to finish.'),
        polygon: _('Click to add corners; click the first corner to close the area.'),
      }[drawKind(layer)];
    } else if (session.multipart) {
      hint = _('This feature has several parts: only its attributes can be changed here.');
    } else {
      hint = _('Drag the corners to move them, drag a mid-point to add one; corners snap to other features.');
    }
    const fields = layer.schema.map((field) => {
      const input = inputFor(field, session.properties[field.name]);
      const label = h('label', { for: input.id }, field.label || field.name, field.required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null);
      const row = input.type === 'checkbox'
        ? h('div', { class: 'field checkbox' }, input, label)
        : h('div', { class: 'field' }, label, input);
      row.append(h('p', { class: 'field-error', id: `${input.id}-error`, hidden: true }));
      return row;
    });
    const actions = [
      h('button', { type: 'submit', id: 'edit-save', class: 'primary', disabled: this.busy }, _('Save')),
      h('button', { type: 'button', id: 'edit-cancel', onclick: () => this.cancel(), disabled: this.busy }, _('Cancel')),
    ];
    if (!creating) {
      actions.push(h('button', { type: 'button', id: 'edit-delete', class: 'danger', disabled: this.busy, onclick: () => { this.confirmingDelete = true; this.render(); } }, _('Delete')));
    }
    const form = h('form', {
      class: 'edit-form', novalidate: true,
      onsubmit: (event) => { event.preventDefault(); this.save(); },
    },
    creating ? null : h('p', { class: 'edit-version' }, fmt(_('Feature %(id)s, version %(version)s'), { id: session.id, version: session.version ?? '?' })),
    h('p', { class: 'hint' }, hint),
    fields,
    h('div', { class: 'edit-actions' }, actions));
    if (this.confirmingDelete) {
      form.append(h('div', { class: 'edit-confirm', role: 'alertdialog', 'aria-label': _('Delete this feature?') },
        h('p', {}, _('Delete this feature? You can undo it afterwards.')),
        h('button', { type: 'button', id: 'edit-confirm-delete', class: 'danger', onclick: () => this.remove() }, _('Yes, delete')),
        h('button', { type: 'button', onclick: () => { this.confirmingDelete = false; this.render(); } }, _('No, keep it'))));
    }
    return form;
  }

  conflictView() {
    const { current, yours } = this.conflict;
    const layer = this.layer;
    showOverlay(this.map, [{ geometry: current.geometry, kind: 'theirs' }]);
    const theirs = current.properties || {};
    const names = [...new Set([...layer.schema.map((field) => field.name), ...Object.keys(theirs), ...Object.keys(yours.properties || {})])]
      .filter((name) => !name.startsWith('_'));
    const byName = new Map(layer.schema.map((field) => [field.name, field]));
    const rows = names.map((name) => {
      const field = byName.get(name);
      const a = theirs[name];
      const b = (yours.properties || {})[name];
      const differs = JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
      return h('tr', { class: differs ? 'differs' : null },
        h('th', { scope: 'row' }, field?.label || name),
        h('td', {}, formatValue(a, field?.type)),
        h('td', {}, formatValue(b, field?.type)));
    });
    const geometryDiffers = JSON.stringify(current.geometry) !== JSON.stringify(yours.geometry);
    return h('div', { class: 'edit-conflict', role: 'alertdialog', 'aria-labelledby': 'conflict-title' },
      h('h3', { id: 'conflict-title' }, _('Someone else changed this feature')),
      h('p', {}, fmt(_('Version %(theirs)s is now on the server; your changes were made to version %(yours)s.'),
        { theirs: current.version, yours: yours.version })),
      h('table', { class: 'attributes conflict-table' },
        h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', { scope: 'col' }, _('Theirs')), h('th', { scope: 'col' }, _('Yours')))),
        h('tbody', {}, rows,
          h('tr', { class: geometryDiffers ? 'differs' : null }, h('th', { scope: 'row' }, _('Geometry')),
            h('td', { colspan: 2 }, geometryDiffers ? _('differs: theirs is drawn in red') : _('the same'))))),
      h('div', { class: 'edit-actions' },
        h('button', { type: 'button', id: 'conflict-theirs', onclick: () => this.keepTheirs() }, _('Keep theirs')),
        h('button', { type: 'button', id: 'conflict-mine', class: 'danger', onclick: () => this.save({ overwrite: true }) }, _('Overwrite with mine'))));
  }

  showFieldProblems(problems) {
    for (const field of this.layer?.schema || []) {
      const input = this.panel.querySelector(`[data-field="${CSS.escape(field.name)}"]`);
      if (!input) continue;
      const box = this.panel.querySelector(`#${CSS.escape(input.id)}-error`);
      const problem = problems[field.name];
      input.setAttribute('aria-invalid', String(Boolean(problem)));
      if (box) { box.textContent = problem || ''; box.hidden = !problem; }
    }
  }

  message(text, kind = 'ok') {
    const box = this.panel.querySelector('#edit-message');
    if (!box) return;
    box.textContent = text;
    box.dataset.kind = kind;
    box.hidden = false;
  }

  clearMessage() {
    const box = this.panel.querySelector('#edit-message');
    if (box) box.hidden = true;
  }
}
