// The attribute table: a panel under the map listing the features of one layer that is on, a page
// at a time from the REST API (`…/features/?limit&offset&sortby&filter`), sorted and filtered on
// the server. The column filters (text contains, number ranges, choices, dates, yes/no) make ONE
// CQL2 JSON filter; the same filter narrows the count (`numberMatched`), the exports and, when
// asked, the layer's tiles on the map (`/tiles/{slug}/…?filter=`). Rows and the map are linked:
// a row opens its feature on the map, a feature chosen on the map marks its row.
// Loaded the first time the table is opened (main.js), with its stylesheet.

import { _, fmt, getJSON, h, ngettext, number, toast } from './dom.js';
import { send } from './featureapi.js';
import { formatValue } from './identify.js';
import { ids } from './style.js';

const PAGE_SIZE = 50;
const TEXT_PAUSE_MS = 300;
const JOB_POLL_MS = 1000;
const FILTER_LANG = 'cql2-json';
// The field types of the server's filters and sorts (layers/features/query.py, cql2.py).
const NUMERIC_TYPES = new Set(['integer', 'int', 'real', 'float', 'double', 'number', 'decimal']);
const BOOLEAN_TYPES = new Set(['boolean', 'bool']);
const INSTANT_TYPES = new Set(['date', 'datetime', 'timestamp']);
// The files "export what I filtered" offers: `fmt` in the export URL, `job` the job's format;
// CSV and GeoJSON stream in the answer up to the server's inline limit, the others are jobs.
const EXPORTS = [
  { fmt: 'csv', job: 'csv', label: 'CSV', streamed: true },
  { fmt: 'geojson', job: 'geojson', label: 'GeoJSON', streamed: true },
  { fmt: 'gpkg', job: 'gpkg', label: 'GeoPackage' },
  { fmt: 'shp.zip', job: 'shp', label: 'Shapefile (zip)' },
  { fmt: 'kml', job: 'kml', label: 'KML' },
];
const FILTERED_SOURCE = (slug) => `F:${slug}`;

/** Return how a column is filtered: choice, number, boolean, date or text. */
export function filterKind(field) {
  const type = String(field.type || 'text').toLowerCase();
  if (field.choices && field.choices.length) return 'choice';
  if (NUMERIC_TYPES.has(type)) return 'number';
  if (BOOLEAN_TYPES.has(type)) return 'boolean';
  if (INSTANT_TYPES.has(type)) return 'date';
  return 'text';
}

/** Return a date (YYYY-MM-DD) one day later. */
function nextDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

/** Escape LIKE's wildcards, so that what is typed matches as it is. */
function likeLiteral(text) {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Return the CQL2 JSON of the column filters (null when none is set): each set filter is one
 * condition, all of them ANDed. `values` maps a field name to {text} | {min, max} | {choice} |
 * {from, to} | {flag}. Text is "contains", accent- and case-insensitive (the server's LIKE).
 */
export function cqlFilter(schema, values) {
  const conditions = [];
  for (const field of schema) {
    const value = values[field.name];
    if (!value) continue;
    const property = { property: field.name };
    const kind = filterKind(field);
    if (kind === 'text' && value.text && value.text.trim()) {
      conditions.push({ op: 'like', args: [property, `%${likeLiteral(value.text.trim())}%`] });
    } else if (kind === 'number') {
      if (value.min !== '' && value.min !== undefined && Number.isFinite(Number(value.min))) {
        conditions.push({ op: '>=', args: [property, Number(value.min)] });
      }
      if (value.max !== '' && value.max !== undefined && Number.isFinite(Number(value.max))) {
        conditions.push({ op: '<=', args: [property, Number(value.max)] });
      }
    } else if (kind === 'choice' && value.choice !== undefined && value.choice !== '') {
      const choice = field.choices[Number(value.choice)];
      if (choice) conditions.push({ op: '=', args: [property, choice.value] });
    } else if (kind === 'boolean' && (value.flag === 'true' || value.flag === 'false')) {
      conditions.push({ op: '=', args: [property, value.flag === 'true'] });
    } else if (kind === 'date') {
      if (value.from) conditions.push({ op: '>=', args: [property, { date: value.from }] });
      // Up to the end of the chosen day: before the next one's midnight (a date and time too).
      if (value.to) conditions.push({ op: '<', args: [property, { date: nextDay(value.to) }] });
    }
  }
  if (!conditions.length) return null;
  return conditions.length === 1 ? conditions[0] : { op: 'and', args: conditions };
}

/** Add the table's stylesheet to the page once; resolve when it applies. */
function loadStylesheet() {
  const href = new URL('../table.css', import.meta.url).href;
  const present = [...document.querySelectorAll('link[rel="stylesheet"]')].find((link) => link.href === href);
  if (present) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const link = h('link', { rel: 'stylesheet', href });
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => reject(new Error(_('its stylesheet did not load'))));
    document.head.append(link);
  });
}

/** Return the attribute table of the map, its stylesheet loaded. */
export async function createTable({ webmap }) {
  await loadStylesheet();
  return new AttributeTable({ webmap });
}

export class AttributeTable {
  constructor({ webmap }) {
    this.webmap = webmap;
    this.config = webmap.config;
    this.map = webmap.map;
    this.slug = null;
    this.filters = new Map(); // slug → {field: value}
    this.sort = null; // {field, descending}
    this.offset = 0;
    this.rows = [];
    this.matched = null;
    this.selectedId = null;
    this.onlyMatching = new Set(); // slugs drawn with the table's filter
    this.request = null;
    this.panel = h('section', { id: 'table-panel', class: 'table-panel', 'aria-label': _('Attribute table'), hidden: true });
    this.webmap.map.getContainer().parentElement.append(this.panel);
    this.build();
  }

  get open() { return !this.panel.hidden; }

  get layer() { return this.webmap.bySlug.get(this.slug); }

  get schema() { return this.layer ? this.layer.schema : []; }

  /** Return this layer's filter as CQL2 JSON text, or '' without one. */
  filterText(slug = this.slug) {
    const layer = this.webmap.bySlug.get(slug);
    const filter = layer ? cqlFilter(layer.schema, this.filters.get(slug) || {}) : null;
    return filter ? JSON.stringify(filter) : '';
  }

  /**
   * Return what the table holds, for a saved map: the layer shown, its sort, each layer's column
   * filters as they were typed, and the layers drawn with only their matching features.
   */
  state() {
    const filled = (value) => value && Object.values(value).some((part) => part !== '' && part !== undefined);
    const filters = {};
    for (const [slug, values] of this.filters) {
      const set = Object.fromEntries(Object.entries(values).filter(([, value]) => filled(value)));
      if (Object.keys(set).length) filters[slug] = set;
    }
    return { layer: this.slug, sort: this.sort, filters, only: [...this.onlyMatching] };
  }

  /** Take back a `state()`: what names a layer this visitor does not have, or that is off, is left out. */
  restore(state) {
    const known = Object.entries(state.filters || {}).filter(([slug]) => this.webmap.bySlug.has(slug));
    this.filters = new Map(known.map(([slug, values]) => [slug, { ...values }]));
    for (const slug of [...this.onlyMatching]) this.showOnlyMatching(false, slug);
    for (const slug of state.only || []) if (this.webmap.on.has(slug)) this.showOnlyMatching(true, slug);
    if (state.layer && this.webmap.on.has(state.layer)) {
      this.slug = null;
      this.choose(state.layer);
    }
    this.sort = state.sort && this.schema.some((field) => field.name === state.sort.field) ? state.sort : null;
    this.offset = 0;
    this.onlyBox.checked = this.onlyMatching.has(this.slug);
    this.renderHead();
    if (this.open) this.load();
  }

  // --- The panel ----------------------------------------------------------------------------------

  build() {
    this.layerSelect = h('select', { id: 'table-layer', onchange: () => this.choose(this.layerSelect.value) });
    this.count = h('span', { class: 'table-count', role: 'status', 'aria-live': 'polite' });
    this.onlyBox = h('input', { type: 'checkbox', id: 'table-only-matching', onchange: () => this.showOnlyMatching(this.onlyBox.checked) });
    this.exportSelect = h('select', { id: 'table-export-format', 'aria-label': _('File format') },
      EXPORTS.map((item) => h('option', { value: item.fmt }, item.label)));
    this.exportStatus = h('span', { class: 'table-export-status', role: 'status' });
    this.table = h('table', { class: 'attribute-table' });
    this.pager = h('div', { class: 'table-pager' });
    this.selectedNote = h('div', { class: 'table-selected-note', hidden: true });
    const head = h('div', { class: 'table-head' },
      h('h2', {}, _('Attribute table')),
      h('label', { class: 'table-layer' }, _('Layer'), ' ', this.layerSelect),
      this.count,
      h('button', { type: 'button', class: 'table-clear', onclick: () => this.clearFilters() }, _('Clear filters')),
      h('label', { class: 'table-only' }, this.onlyBox, ' ', _('Only matching features on the map')),
      h('span', { class: 'table-export' },
        this.exportSelect,
        h('button', { type: 'button', id: 'table-export', onclick: () => this.exportFiltered(this.exportSelect.value) }, _('Export what I filtered')),
        this.exportStatus),
      h('button', { type: 'button', class: 'table-close', 'aria-label': _('Close the table'), title: _('Close the table'), onclick: () => this.webmap.toggleTable(false) }, '×'));
    this.panel.append(head, this.selectedNote, h('div', { class: 'table-scroll' }, this.table), this.pager);
  }

  /** Open or close the panel; the map gives it the lower part of its place. */
  show(on) {
    this.panel.hidden = !on;
    this.map.getContainer().parentElement.classList.toggle('table-open', on);
    this.map.resize();
    if (on) {
      this.layersChanged();
      if (this.slug) this.load();
    }
  }

  /** The layers on the map changed: offer those that are on (top first). */
  layersChanged() {
    const on = this.webmap.order.slugs.filter((slug) => this.webmap.on.has(slug)).reverse();
    const themes = on.filter((slug) => !this.webmap.bySlug.get(slug).base);
    const offered = [...themes, ...on.filter((slug) => !themes.includes(slug))];
    this.layerSelect.replaceChildren(...offered.map((slug) => h('option', { value: slug }, this.webmap.bySlug.get(slug).title)));
    for (const slug of [...this.onlyMatching]) {
      if (!this.webmap.on.has(slug)) this.showOnlyMatching(false, slug);
    }
    if (!offered.length) {
      this.slug = null;
      this.table.replaceChildren(h('caption', {}, _('Switch a layer on to see its table.')));
      this.count.textContent = '';
      this.pager.replaceChildren();
      return;
    }
    if (!offered.includes(this.slug)) {
      this.choose(offered[0]);
      return;
    }
    this.layerSelect.value = this.slug;
  }

  /** Show the table of another layer (its own filters and sort start empty). */
  choose(slug) {
    if (slug === this.slug) return;
    this.slug = slug;
    this.layerSelect.value = slug;
    this.sort = null;
    this.offset = 0;
    this.selectedId = this.webmap.selected && this.webmap.selected.layer === slug ? this.webmap.selected.id : null;
    this.onlyBox.checked = this.onlyMatching.has(slug);
    this.renderHead();
    if (this.open) this.load();
  }

  renderHead() {
    const values = this.filters.get(this.slug) || {};
    this.filters.set(this.slug, values);
    const headings = this.schema.map((field) => {
      const sorted = this.sort && this.sort.field === field.name;
      const state = sorted ? (this.sort.descending ? 'descending' : 'ascending') : 'none';
      return h('th', { scope: 'col', 'aria-sort': state, 'data-field': field.name },
        h('button', { type: 'button', class: 'table-sort', title: _('Sort by this column'), onclick: () => this.sortBy(field.name) },
          field.label || field.name, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (this.sort.descending ? ' ▼' : ' ▲') : '')));
    });
    const filters = this.schema.map((field) => h('td', { 'data-field': field.name }, this.filterInput(field, values)));
    this.table.replaceChildren(
      h('thead', {}, h('tr', {}, headings), h('tr', { class: 'table-filters' }, filters)),
      h('tbody', {}));
  }

  /** Return the filter control of a column, by the field's type. */
  filterInput(field, values) {
    const value = values[field.name] || {};
    const label = field.label || field.name;
    const set = (patch, { pause = false } = {}) => {
      values[field.name] = { ...values[field.name], ...patch };
      clearTimeout(this.typing);
      if (pause) this.typing = setTimeout(() => this.filtersChanged(), TEXT_PAUSE_MS);
      else this.filtersChanged();
    };
    switch (filterKind(field)) {
      case 'choice':
        return h('select', { 'aria-label': fmt(_('Filter %(field)s'), { field: label }), onchange: (event) => set({ choice: event.target.value }) },
          h('option', { value: '' }, _('(all)')),
          field.choices.map((choice, index) => h('option', { value: String(index), selected: String(value.choice) === String(index) }, choice.label ?? String(choice.value))));
      case 'boolean':
        return h('select', { 'aria-label': fmt(_('Filter %(field)s'), { field: label }), onchange: (event) => set({ flag: event.target.value }) },
          h('option', { value: '' }, _('(all)')),
          h('option', { value: 'true', selected: value.flag === 'true' }, _('Yes')),
          h('option', { value: 'false', selected: value.flag === 'false' }, _('No')));
      case 'number':
        return h('span', { class: 'table-range' },
          h('input', { type: 'number', step: 'any', placeholder: _('from'), value: value.min ?? '', 'aria-label': fmt(_('%(field)s from'), { field: label }), oninput: (event) => set({ min: event.target.value }, { pause: true }) }),
          h('input', { type: 'number', step: 'any', placeholder: _('to'), value: value.max ?? '', 'aria-label': fmt(_('%(field)s to'), { field: label }), oninput: (event) => set({ max: event.target.value }, { pause: true }) }));
      case 'date':
        return h('span', { class: 'table-range' },
          h('input', { type: 'date', value: value.from ?? '', title: _('from'), 'aria-label': fmt(_('%(field)s from'), { field: label }), onchange: (event) => set({ from: event.target.value }) }),
          h('input', { type: 'date', value: value.to ?? '', title: _('to'), 'aria-label': fmt(_('%(field)s to'), { field: label }), onchange: (event) => set({ to: event.target.value }) }));
      default:
        return h('input', { type: 'search', placeholder: _('contains…'), value: value.text ?? '', 'aria-label': fmt(_('Filter %(field)s'), { field: label }), oninput: (event) => set({ text: event.target.value }, { pause: true }) });
    }
  }

  sortBy(name) {
    // Ascending, then descending, then back to the layer's own order.
    if (!this.sort || this.sort.field !== name) this.sort = { field: name, descending: false };
    else if (!this.sort.descending) this.sort = { field: name, descending: true };
    else this.sort = null;
    this.offset = 0;
    this.renderHead();
    this.load();
  }

  clearFilters() {
    this.filters.set(this.slug, {});
    this.offset = 0;
    this.renderHead();
    this.filtersChanged();
  }

  filtersChanged() {
    this.offset = 0;
    this.load();
    if (this.onlyMatching.has(this.slug)) this.showOnlyMatching(true);
  }

  // --- Data ---------------------------------------------------------------------------------------

  /** Return the query string of this table's features: filter and sort (no paging). */
  queryParams() {
    const params = new URLSearchParams();
    const filter = this.filterText();
    if (filter) {
      params.set('filter', filter);
      params.set('filter-lang', FILTER_LANG);
    }
    if (this.sort) params.set('sortby', `${this.sort.descending ? '-' : ''}${this.sort.field}`);
    return params;
  }

  featuresUrl() {
    const params = this.queryParams();
    params.set('limit', String(PAGE_SIZE));
    params.set('offset', String(this.offset));
    return `${this.config.urls.features.replace('{layer}', encodeURIComponent(this.slug))}?${params}`;
  }

  /** Fetch and show the current page (the newest request wins). */
  async load() {
    if (!this.slug) return;
    this.request?.abort();
    const request = new AbortController();
    this.request = request;
    this.panel.setAttribute('aria-busy', 'true');
    try {
      const page = await getJSON(this.featuresUrl(), { signal: request.signal });
      if (request !== this.request) return;
      this.rows = page.features || [];
      this.matched = page.numberMatched;
      this.renderRows();
    } catch (error) {
      if (error.name === 'AbortError') return;
      this.rows = [];
      this.matched = null;
      this.renderRows(error.message);
    } finally {
      if (request === this.request) this.panel.removeAttribute('aria-busy');
    }
  }

  renderRows(failure = null) {
    const body = this.table.querySelector('tbody');
    if (failure) {
      body.replaceChildren(h('tr', {}, h('td', { colspan: this.schema.length || 1, class: 'table-error' },
        fmt(_('The table could not be loaded (%(reason)s).'), { reason: failure }))));
      this.count.textContent = '';
      this.pager.replaceChildren();
      return;
    }
    if (!this.rows.length) {
      body.replaceChildren(h('tr', {}, h('td', { colspan: this.schema.length || 1, class: 'table-empty' }, _('No feature matches these filters.'))));
    } else {
      body.replaceChildren(...this.rows.map((feature) => this.row(feature)));
    }
    this.count.textContent = ngettext('%(count)s feature matches', '%(count)s features match', this.matched ?? 0, { count: number(this.matched ?? 0) });
    this.count.dataset.matched = String(this.matched ?? 0);
    this.renderPager();
    this.markSelected();
  }

  row(feature, { pinned = false } = {}) {
    const properties = feature.properties || {};
    const cells = this.schema.map((field) => {
      const value = properties[field.name];
      const choice = field.choices?.find((item) => item.value === value);
      return h('td', {}, choice ? choice.label : formatValue(value, field.type));
    });
    return h('tr', {
      'data-id': feature.id, class: pinned ? 'pinned' : null, tabindex: '0',
      title: _('Show on the map'),
      onclick: () => this.openRow(feature.id),
      onkeydown: (event) => { if (event.key === 'Enter') this.openRow(feature.id); },
    }, cells);
  }

  renderPager() {
    const first = this.rows.length ? this.offset + 1 : 0;
    const last = this.offset + this.rows.length;
    const more = last < (this.matched ?? 0);
    this.pager.replaceChildren(
      h('button', { type: 'button', class: 'table-prev', disabled: this.offset === 0, onclick: () => this.page(-1) }, `‹ ${_('Previous')}`),
      h('span', { class: 'table-range-shown' }, fmt(_('%(first)s–%(last)s of %(total)s'), { first: number(first), last: number(last), total: number(this.matched ?? 0) })),
      h('button', { type: 'button', class: 'table-next', disabled: !more, onclick: () => this.page(1) }, `${_('Next')} ›`));
  }

  page(step) {
    // A page may come back shorter than asked (the API's vertex budget): go on from what came.
    this.offset = step > 0 ? this.offset + this.rows.length : Math.max(0, this.offset - PAGE_SIZE);
    this.load();
  }

  // --- Rows and the map ---------------------------------------------------------------------------

  /** Zoom to a row's feature, highlight it and open its popup (as a search hit does). */
  async openRow(id) {
    this.selectedId = id;
    this.markSelected();
    await this.webmap.openFeature(this.slug, id);
  }

  /** A feature was chosen on the map (or the choice cleared): mark its row. */
  selected(feature) {
    if (!feature || feature.layer !== this.slug) {
      this.selectedId = null;
    } else {
      this.selectedId = feature.id;
    }
    this.markSelected();
  }

  /** Mark the selected feature's row; when it is not on this page, show it pinned above. */
  async markSelected() {
    const body = this.table.querySelector('tbody');
    if (!body) return;
    let found = null;
    for (const tr of body.querySelectorAll('tr[data-id]')) {
      const on = this.selectedId !== null && String(tr.dataset.id) === String(this.selectedId);
      tr.classList.toggle('selected', on);
      tr.setAttribute('aria-selected', String(on));
      if (on) found = tr;
    }
    if (found) {
      this.selectedNote.hidden = true;
      found.scrollIntoView({ block: 'nearest' });
      return;
    }
    if (this.selectedId === null || !this.open) {
      this.selectedNote.hidden = true;
      return;
    }
    const id = this.selectedId;
    const slug = this.slug;
    try {
      const url = this.config.urls.feature.replace('{layer}', encodeURIComponent(slug)).replace('{id}', String(id));
      const feature = await getJSON(url);
      if (id !== this.selectedId || slug !== this.slug) return;
      const pinned = this.row({ ...feature, id }, { pinned: true });
      pinned.classList.add('selected');
      pinned.setAttribute('aria-selected', 'true');
      this.selectedNote.replaceChildren(
        h('p', {}, _('The feature chosen on the map is not on this page of the table:')),
        h('table', { class: 'attribute-table' }, h('tbody', {}, pinned)));
      this.selectedNote.hidden = false;
    } catch {
      this.selectedNote.hidden = true;
    }
  }

  // --- Only matching features on the map ----------------------------------------------------------

  /**
   * Draw the layer from tiles carrying the table's filter (or, `on` false, from its own tiles
   * again). Its MapLibre layers keep their ids (toggles, opacity, order and legend find them) and
   * move to a source of its own, `F:{slug}`: a layer that rides in the base map's composite
   * tiles cannot take a filter there, which the other layers of that source would not know.
   */
  showOnlyMatching(on, slug = this.slug) {
    const layer = this.webmap.bySlug.get(slug);
    if (!layer) return;
    const filtered = FILTERED_SOURCE(slug);
    const filter = this.filterText(slug);
    if (on && filter) {
      const url = this.filteredTiles(layer, filter);
      const source = this.map.getSource(filtered);
      if (source) source.setTiles([url]);
      else {
        this.map.addSource(filtered, {
          type: 'vector', tiles: [url], minzoom: layer.min_zoom || 0, maxzoom: layer.max_zoom,
          attribution: layer.attribution || undefined,
        });
      }
      this.moveLayers(slug, ids.source(layer), filtered);
      this.onlyMatching.add(slug);
    } else {
      this.moveLayers(slug, filtered, ids.source(layer));
      if (this.map.getSource(filtered)) this.map.removeSource(filtered);
      // Without a filter there is nothing to narrow: the box stays ticked for the next filter.
      if (!on) this.onlyMatching.delete(slug);
      else this.onlyMatching.add(slug);
    }
    if (slug === this.slug) this.onlyBox.checked = this.onlyMatching.has(slug);
  }

  filteredTiles(layer, filter) {
    const path = this.config.urls.tiles.replace('{layers}', encodeURIComponent(layer.slug));
    const params = new URLSearchParams({ v: String(layer.version), filter, 'filter-lang': FILTER_LANG });
    // A time-enabled layer stays at the time slider's day (timeslider.js).
    if (layer.temporal && this.config.time) params.set('datetime', this.config.time);
    // MapLibre fills {z}/{x}/{y}: they stay as they are, outside the encoded query.
    return `${window.location.origin}${path}?${params}`;
  }

  /** Move a layer's MapLibre layers from one source to another, each in its place. */
  moveLayers(slug, from, to) {
    const style = this.map.getStyle();
    const mine = style.layers.filter((spec) => spec.source === from && spec['source-layer'] === slug);
    for (const spec of mine) {
      const current = this.map.getStyle().layers;
      const index = current.findIndex((item) => item.id === spec.id);
      const before = current[index + 1]?.id;
      this.map.removeLayer(spec.id);
      this.map.addLayer({ ...spec, source: to }, before);
    }
  }

  // --- Export what I filtered ---------------------------------------------------------------------

  /** Download the filtered features as a file: in the answer when small, else through a job. */
  async exportFiltered(format) {
    const item = EXPORTS.find((entry) => entry.fmt === format);
    if (!item || !this.slug) return;
    const limit = this.config.export_inline_max ?? 10000;
    if (item.streamed && (this.matched ?? Infinity) <= limit) {
      const url = `${this.config.urls.layer.replace('{layer}', encodeURIComponent(this.slug))}export.${item.fmt}?${this.queryParams()}`;
      this.download(url);
      this.exportStatus.textContent = _('The file is downloading.');
      return;
    }
    await this.exportJob(item);
  }

  download(url) {
    const link = h('a', { href: url, download: '', hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
  }

  /** Ask a worker for the file, follow its progress, then download it. */
  async exportJob(item) {
    const body = { format: item.job };
    const params = this.queryParams();
    for (const name of ['filter', 'filter-lang', 'sortby']) if (params.has(name)) body[name] = params.get(name);
    const url = `${this.config.urls.layer.replace('{layer}', encodeURIComponent(this.slug))}exports/`;
    this.exportStatus.textContent = _('Preparing the file…');
    try {
      let job = (await send('POST', url, { body })).body;
      while (job.status === 'queued' || job.status === 'running') {
        const percent = job.progress && job.progress.percent;
        this.exportStatus.textContent = percent !== undefined && percent !== null
          ? fmt(_('Preparing the file… %(percent)s%'), { percent })
          : _('Preparing the file…');
        await new Promise((resolve) => { setTimeout(resolve, JOB_POLL_MS); });
        job = (await send('GET', job.url)).body;
      }
      if (job.status !== 'succeeded' || !job.download_url) {
        const reason = (job.messages || []).map((message) => message.message).join(' ') || job.status;
        throw new Error(reason);
      }
      this.download(job.download_url);
      this.exportStatus.textContent = _('The file is downloading.');
    } catch (error) {
      this.exportStatus.textContent = '';
      toast(fmt(_('The export failed (%(reason)s).'), { reason: error.message }), 'error');
    }
  }
}
