// The web map: MapLibre GL JS drawing our own vector tiles, with the layer tree, identify, search,
// 2D/3D, measuring, a shareable URL and PNG export. `window.webmap` exposes the map and the
// controller to the browser tests and to curious planners at the console.

import * as maplibregl from 'maplibre-gl';

import { _, attributionText, fmt, getJSON, h, ngettext, svg, toast } from './dom.js';
import { Identify } from './identify.js';
import { OrderList, markZoomRange, renderLayerTree } from './layertree.js';
import { LayerOrder } from './order.js';
import { Search } from './search.js';
import {
  addToStyle, adoptStyle, buildStyle, creditComposite, extrusionOf, ids, inStyle,
  refreshTiles, setOpacity, styleSpecs, timeSources,
} from './style.js';
import { Measure, exportPng, shareView } from './tools.js';
import { initialState, writeState } from './urlstate.js';

const TILE_ERROR_QUIET_MS = 15000;
const ICONS = {
  distance: 'M4 18 L10 9 L15 14 L20 5 M4 18h0M10 9h0M15 14h0M20 5h0',
  area: 'M5 8 L12 3 L20 8 L17 20 L7 20 Z',
  maps: 'M6 3h12v18l-6-4-6 4z',
  share: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  export: 'M12 4v11M7 10l5 5 5-5M5 20h14',
  edit: 'M4 20h4L19 9l-4-4L4 16v4M13.5 6.5l4 4',
  legend: 'M4 5h4v4H4zM4 15h4v4H4zM11 7h9M11 17h9',
  compare: 'M12 3v18M4 6h5v12H4zM15 6h5v12h-5z',
  table: 'M4 5h16v14H4zM4 10h16M4 14.5h16M10 5v14',
  print: 'M7 8V4h10v4M7 17H5a1 1 0 0 1-1-1v-6a1 1 0 0 1 1-1h14a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1h-2M7 14h10v6H7z',
};

/** Return the layers the visitor asks for: the shared view's, else those the map opens with. */
function wantedLayers(config, state) {
  const wanted = state.layers ?? config.layers.filter((layer) => layer.on).map((layer) => layer.slug);
  return state.feature && !wanted.includes(state.feature.layer) ? [...wanted, state.feature.layer] : wanted;
}

/**
 * Return the day the time-enabled layers are drawn at: the link's, else today (the city's), or
 * the last day of their data when every one of them ended before today.
 */
function initialTime(config, state) {
  if (state.time) return state.time;
  const ends = config.layers.filter((layer) => layer.temporal).map((layer) => layer.temporal.interval[0][1]);
  if (!ends.length || ends.includes(null)) return config.today;
  const last = ends.map((end) => end.slice(0, 10)).sort().at(-1);
  return last < config.today ? last : config.today;
}

/**
 * Return the URL of the map's style: the default one, or for a shared view the one with its
 * layers shown (the first view's composite tiles then hold the layers that are on).
 */
function styleUrl(config) {
  const state = initialState(config);
  if (!state.layers && !state.feature) return config.urls.style;
  const known = new Set(config.layers.map((layer) => layer.slug));
  const slugs = wantedLayers(config, state).filter((slug) => known.has(slug));
  return `${config.urls.style}?layers=${slugs.map(encodeURIComponent).join(',')}`;
}

class WebMap {
  /** `served` is the map's style from the server (/styles/map.json). */
  constructor(config, served) {
    this.config = config;
    adoptStyle(config, served);
    this.bySlug = new Map(config.layers.map((layer) => [layer.slug, layer]));
    // The link's fragment, else the saved map this page was opened for (/m/{code}).
    const state = initialState(config);
    this.initialFeature = state.feature;
    const wanted = wantedLayers(config, state);
    const missing = wanted.filter((slug) => !this.bySlug.has(slug));
    this.on = new Set(wanted.filter((slug) => this.bySlug.has(slug)));
    // The drawing order of the layers on, bottom first: a shared link's `layers=` order.
    this.order = new LayerOrder(config, [...this.on], { asGiven: Boolean(state.layers) });
    this.threeD = Boolean(state.view && state.view.pitch > 0);
    this.opacityOriginals = new Map();
    // slug → factor chosen in the tree (or kept in a saved map), kept for layers not drawn yet
    this.opacity = new Map(Object.entries(state.opacity || {}));
    this.selected = null;
    this.lastTileError = 0;

    const view = state.view || { center: config.center, zoom: config.zoom, bearing: 0, pitch: 0 };
    // Time-enabled layers are drawn at one day (`config.time`), which the time slider changes.
    config.time = initialTime(config, state);
    timeSources(config);
    this.map = new maplibregl.Map({
      container: 'map',
      style: buildStyle(config, { on: this.on, threeD: this.threeD, order: this.order.slugs }),
      center: view.center,
      zoom: view.zoom,
      bearing: view.bearing,
      pitch: view.pitch,
      maxPitch: 70,
      hash: false,
      attributionControl: false,
      locale: {
        'NavigationControl.ZoomIn': _('Zoom in'),
        'NavigationControl.ZoomOut': _('Zoom out'),
        'NavigationControl.ResetBearing': _('Reset bearing to north'),
        'AttributionControl.ToggleAttribution': _('Toggle attribution'),
        'ScaleControl.Meters': 'm',
        'ScaleControl.Kilometers': 'km',
      },
    });
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
    this.map.addControl(new maplibregl.AttributionControl({ compact: true }), 'bottom-right');
    this.map.addControl(this.toolbar(), 'top-right');

    this.identify = new Identify({
      map: this.map, config, maplibregl,
      layersOn: () => this.order.slugs.filter((slug) => this.on.has(slug)),
      onSelect: (feature) => { this.selected = feature; this.saveState(); this.table?.selected(feature); },
      onEdit: (slug, id) => this.editFeature(slug, id),
      onChanged: (slug) => this.layerChanged(slug),
      onStation: (section, layer, id) => this.showStation(section, layer, id),
    });
    this.measure = new Measure({
      map: this.map,
      panel: document.getElementById('measure-panel'),
      onStart: (mode) => {
        if (this.editor?.active) this.toggleEdit(false);
        this.identify.enabled = false; this.identify.close(); this.pressTool(mode);
      },
      onStop: () => { this.identify.enabled = true; this.pressTool(null); },
    });
    this.tree = document.getElementById('layer-tree');
    renderLayerTree(this.tree, config, {
      isOn: (slug) => this.on.has(slug),
      actions: {
        toggle: (slug, on) => this.setLayer(slug, on),
        opacity: (slug, value) => {
          this.opacity.set(slug, value);
          setOpacity(this.map, this.bySlug.get(slug), value, this.opacityOriginals);
          this.legend?.update();
        },
        zoomTo: (slug) => this.zoomTo(slug),
      },
    });
    this.orderList = new OrderList(document.getElementById('layer-order'), config, {
      reorder: (slugs, focus) => this.reorder(slugs, focus),
      zoomTo: (slug) => this.zoomTo(slug),
    });
    this.orderList.render(this.order.slugs);
    this.search = new Search({
      form: document.getElementById('search'),
      input: document.getElementById('search-input'),
      results: document.getElementById('search-results'),
      config,
      onChoose: (hit) => this.goTo(hit),
    });

    this.watchLoading();
    // The coordinates bar (WGS 84 / VN-2000, "go to a coordinate"): its module loads after the first view.
    this.map.once('idle', async () => {
      try {
        const { CoordinateBar } = await import('./coordinates.js');
        this.coordinates = new CoordinateBar({ webmap: this });
      } catch (error) {
        toast(fmt(_('The coordinates bar could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
      }
    });
    this.map.on('moveend', () => this.saveState());
    this.map.on('zoomend', () => markZoomRange(this.tree, config, this.map.getZoom()));
    this.map.once('load', () => {
      markZoomRange(this.tree, config, this.map.getZoom());
      this.restoreOpacities();
      this.saveState();
      if (this.initialFeature) this.openFeature(this.initialFeature.layer, this.initialFeature.id, { fit: !state.view });
      if (state.compare) this.toggleCompare(true, state.compare);
      if (state.table) this.restoreTable(state.table);
      this.timeChanged();
      this.sensorsChanged();
    });
    if (missing.length) toast(_('Some layers of this link are not available to you.'), 'info');
    // A saved map's layers were filtered on the server for this visitor: how many, never which.
    if (config.saved?.omitted) {
      toast(ngettext('%(count)s layer of this saved map is not shown: you may not see it.',
        '%(count)s layers of this saved map are not shown: you may not see them.', config.saved.omitted), 'info');
    }
  }

  // --- Layers -----------------------------------------------------------------------------------

  /** Switch a layer on or off (its drawing, label and, in 3D, its extrusion). */
  setLayer(slug, on) {
    const layer = this.bySlug.get(slug);
    if (!layer) return;
    if (on) this.on.add(slug); else this.on.delete(slug);
    if (on) this.order.add(slug); else this.order.remove(slug);
    // The style starts with the layers that are on (buildStyle): the others join it when first asked.
    if (on && !inStyle(this.map, layer)) {
      addToStyle(this.map, this.config, layer, { threeD: this.threeD });
      if (this.opacity.has(slug)) setOpacity(this.map, layer, this.opacity.get(slug), this.opacityOriginals);
    }
    this.order.apply(this.map);
    if (layer.composite) creditComposite(this.map, this.config, this.on);
    const extruded = Boolean(extrusionOf(layer));
    const visibility = (id, show) => {
      if (this.map.getLayer(id)) this.map.setLayoutProperty(id, 'visibility', show ? 'visible' : 'none');
    };
    styleSpecs(layer).forEach((spec, index) => {
      visibility(ids.style(slug, index), on && !(extruded && this.threeD && spec.type === 'fill'));
    });
    visibility(ids.label(slug), on);
    for (const kind of ['fill', 'line', 'circle']) visibility(ids.highlight(slug, kind), on);
    if (extruded) visibility(ids.extrusion(slug), on && this.threeD);
    if (!on && this.selected && this.selected.layer === slug) this.identify.close();
    const box = document.getElementById(`toggle-${slug}`);
    if (box && box.checked !== on) box.checked = on;
    this.editor?.layersChanged();
    this.compare?.layerChanged(slug, on);
    if (this.table?.open) this.table.layersChanged();
    if (layer.sensor) this.sensorsChanged();
    if (layer.temporal) this.timeChanged();
    this.showOrder();
    this.saveState();
  }

  /** Draw the layers on in this order (bottom first), as the "On the map" list was arranged. */
  reorder(slugs, focus = null) {
    if (this.order.set(slugs)) this.order.apply(this.map);
    this.showOrder(focus);
    this.saveState();
  }

  showOrder(focus = null) {
    this.orderList.render(this.order.slugs, { focus });
    this.legend?.update();
  }

  /** A layer's data changed (an edit, a restore): draw its tiles again from its new version. */
  async layerChanged(slug) {
    const layer = this.bySlug.get(slug);
    if (!layer) return;
    try {
      const detail = await getJSON(this.config.urls.layer.replace('{layer}', encodeURIComponent(slug)));
      refreshTiles(this.map, this.config, slug, detail.version);
    } catch {
      // The old tiles stay until the next visit; the change itself is saved.
      toast(_('The map could not be redrawn: reload the page to see the change.'), 'error');
    }
  }

  zoomTo(slug) {
    const layer = this.bySlug.get(slug);
    if (!layer || !layer.bbox) return;
    if (!this.on.has(slug)) this.setLayer(slug, true);
    this.map.fitBounds(layer.bbox, { padding: 40, maxZoom: 17 });
    this.closePanelOnPhone();
  }

  // --- 3D ---------------------------------------------------------------------------------------

  setThreeD(on) {
    this.threeD = on;
    for (const layer of this.config.layers) {
      if (!extrusionOf(layer)) continue;
      this.setLayer(layer.slug, this.on.has(layer.slug));
    }
    this.map.easeTo(on ? { pitch: 60, bearing: this.map.getBearing() || -17, duration: 800 } : { pitch: 0, bearing: 0, duration: 800 });
    const button = document.getElementById('tool-3d');
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? '2D' : '3D';
    button.title = on ? _('Back to the flat map') : _('Tilt the map and raise the buildings');
  }

  // --- Search, features ---------------------------------------------------------------------------

  async goTo(hit) {
    if (!this.on.has(hit.layer)) this.setLayer(hit.layer, true);
    const [minLon, minLat, maxLon, maxLat] = hit.bbox || [];
    if (hit.bbox && (minLon !== maxLon || minLat !== maxLat)) {
      this.map.fitBounds(hit.bbox, { padding: 60, maxZoom: 17 });
    } else if (hit.centroid) {
      this.map.flyTo({ center: hit.centroid, zoom: Math.max(this.map.getZoom(), 17) });
    }
    this.closePanelOnPhone();
    await this.openFeature(hit.layer, hit.id, { fit: false, at: hit.centroid });
  }

  async openFeature(slug, id, { fit = true, at = null } = {}) {
    if (!this.bySlug.has(slug)) {
      toast(_('This feature is not available to you.'), 'error');
      return;
    }
    if (!this.on.has(slug)) this.setLayer(slug, true);
    try {
      await this.identify.openFeature(slug, id, { fit });
    } catch (error) {
      if (at) this.identify.highlight(slug, id);
      toast(fmt(_('The feature could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
    }
  }

  // --- Interface ----------------------------------------------------------------------------------

  toolbar() {
    const tool = (id, label, title, onclick) => h('button', { type: 'button', id, title, 'aria-label': title, 'aria-pressed': 'false', onclick }, label);
    const icon = (d) => svg('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' }, svg('path', { d }));
    const container = h('div', { class: 'maplibregl-ctrl maplibregl-ctrl-group tools' },
      tool('tool-3d', this.threeD ? '2D' : '3D', _('Tilt the map and raise the buildings'), () => this.setThreeD(!this.threeD)),
      tool('tool-distance', icon(ICONS.distance), _('Measure distance'), () => this.toggleMeasure('distance')),
      tool('tool-area', icon(ICONS.area), _('Measure area'), () => this.toggleMeasure('area')),
      tool('tool-share', icon(ICONS.share), _('Copy a link to this view'), () => shareView()),
      tool('tool-export', icon(ICONS.export), _('Download this view as PNG'), () => this.exportPng()),
      tool('tool-compare', icon(ICONS.compare), _('Compare two sets of layers'), () => this.toggleCompare()),
      tool('tool-legend', icon(ICONS.legend), _('Legend'), () => this.toggleLegend()),
      tool('tool-table', icon(ICONS.table), _('Attribute table'), () => this.toggleTable()),
      tool('tool-print', icon(ICONS.print), _('Print to PDF'), () => this.togglePrint()));
    // Editors only: the editing code itself is fetched when the tool is first opened.
    if (this.config.layers.some((layer) => layer.editable)) {
      container.append(tool('tool-edit', icon(ICONS.edit), _('Edit the map'), () => this.toggleEdit()));
    }
    // Signed-in users keep saved maps; the panel's code loads when it is first opened.
    if (this.config.signed_in) container.append(tool('tool-maps', icon(ICONS.maps), _('Saved maps'), () => this.toggleMaps()));
    if (this.threeD) container.querySelector('#tool-3d').setAttribute('aria-pressed', 'true');
    return { onAdd: () => container, onRemove: () => container.remove() };
  }

  /** Open or close the Edit tool; its module (and terra-draw) load the first time. */
  async toggleEdit(on = !this.editor?.active) {
    const button = document.getElementById('tool-edit');
    if (!on) {
      this.editor?.stop();
      this.identify.enabled = true;
      button?.setAttribute('aria-pressed', 'false');
      return this.editor;
    }
    if (this.measure.mode) this.measure.stop();
    button?.setAttribute('aria-pressed', 'true');
    if (!this.editor) {
      try {
        const { Editor } = await import('./editing.js');
        this.editor = new Editor({ webmap: this, panel: document.getElementById('edit-panel') });
      } catch (error) {
        button?.setAttribute('aria-pressed', 'false');
        toast(fmt(_('The editing tools could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      }
    }
    this.identify.enabled = false;
    this.identify.close();
    this.editor.start();
    return this.editor;
  }

  /** Open or close the legend; its module loads the first time. */
  async toggleLegend(on = !this.legend?.open) {
    const button = document.getElementById('tool-legend');
    button?.setAttribute('aria-pressed', String(on));
    if (!this.legend && on) {
      try {
        const { Legend } = await import('./legend.js');
        this.legend = new Legend({ webmap: this, panel: document.getElementById('legend-panel') });
      } catch (error) {
        button?.setAttribute('aria-pressed', 'false');
        toast(fmt(_('The legend could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      }
    }
    this.legend?.show(on);
    return this.legend;
  }

  /** Open or close the attribute table under the map; its module loads the first time. */
  async toggleTable(on = !this.table?.open) {
    const button = document.getElementById('tool-table');
    button?.setAttribute('aria-pressed', String(on));
    if (!this.table && on) {
      try {
        const { createTable } = await import('./table.js');
        this.table = await createTable({ webmap: this });
      } catch (error) {
        button?.setAttribute('aria-pressed', 'false');
        toast(fmt(_('The attribute table could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      }
    }
    this.table?.show(on);
    return this.table;
  }

  /** Open or close the print panel; its module (with jsPDF and the PDF's fonts) loads the first time. */
  async togglePrint(on = !this.printPanel?.open) {
    const button = document.getElementById('tool-print');
    button?.setAttribute('aria-pressed', String(on));
    if (!this.printPanel && on) {
      try {
        const { createPrintPanel } = await import('./print.js');
        this.printPanel = await createPrintPanel({ webmap: this });
      } catch (error) {
        button?.setAttribute('aria-pressed', 'false');
        toast(fmt(_('Printing could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      }
    }
    this.printPanel?.show(on);
    return this.printPanel;
  }

  /** Open or close Compare (a swipe between two layer sets); its module loads the first time. */
  async toggleCompare(on = !this.compare?.open, state = null) {
    const button = document.getElementById('tool-compare');
    button?.setAttribute('aria-pressed', String(on));
    if (!this.compare && on) {
      try {
        const { Compare } = await import('./compare.js');
        this.compare = await Compare.create({ webmap: this, state });
      } catch (error) {
        button?.setAttribute('aria-pressed', 'false');
        toast(fmt(_('Compare could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      }
    }
    this.compare?.show(on);
    return this.compare;
  }

  /** Sensor layers: colour their stations by state while one is on; the module loads the first time. */
  async sensorsChanged() {
    if (!this.sensors && !this.config.layers.some((layer) => layer.sensor && this.on.has(layer.slug))) return null;
    this.sensorsLoading ??= import('./sensors.js').then(({ SensorLive }) => {
      this.sensors = new SensorLive({ webmap: this });
      return this.sensors;
    }).catch((error) => {
      this.sensorsLoading = null;
      toast(fmt(_('The readings of the stations could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
      return null;
    });
    const sensors = await this.sensorsLoading;
    sensors?.layersChanged();
    return sensors;
  }

  /** Time-enabled layers: the time slider shows while one is on; its module loads the first time. */
  async timeChanged() {
    if (!this.timeSlider && !this.config.layers.some((layer) => layer.temporal && this.on.has(layer.slug))) return null;
    this.timeLoading ??= import('./timeslider.js').then(({ TimeSlider }) => TimeSlider.create({ webmap: this }))
      .then((slider) => { this.timeSlider = slider; return slider; })
      .catch((error) => {
        this.timeLoading = null;
        toast(fmt(_('The time slider could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      });
    const slider = await this.timeLoading;
    slider?.layersChanged();
    return slider;
  }

  /** Fill a station's popup with its readings, chart and alerts (sensors.js). */
  async showStation(section, layer, id) {
    await this.sensorsChanged();
    await this.sensors?.renderStation(section, layer, id);
  }

  /** Open a feature in the editor (the popup's Edit button). */
  async editFeature(slug, id) {
    const editor = await this.toggleEdit(true);
    await editor?.open(slug, id);
  }

  /** Open or close Saved maps ("Save this map", "My maps"); its module loads the first time. */
  async toggleMaps(on = !this.savedMaps?.open) {
    const button = document.getElementById('tool-maps');
    button?.setAttribute('aria-pressed', String(on));
    if (!this.savedMaps && on) {
      try {
        const { SavedMaps } = await import('./savedmaps.js');
        this.savedMaps = await SavedMaps.create({ webmap: this });
      } catch (error) {
        button?.setAttribute('aria-pressed', 'false');
        toast(fmt(_('Saved maps could not be loaded (%(reason)s).'), { reason: error.message }), 'error');
        return null;
      }
    }
    this.savedMaps?.show(on);
    return this.savedMaps;
  }

  /** Give the attribute table a saved map's filters and sort (it opens if it was open then). */
  async restoreTable(saved) {
    const table = await this.toggleTable(true);
    table?.restore(saved);
    if (table && !saved.open) this.toggleTable(false);
  }

  /** Draw the layers at the opacity a saved map gave them, and set their sliders to match. */
  restoreOpacities() {
    for (const [slug, value] of this.opacity) {
      const layer = this.bySlug.get(slug);
      if (!layer) continue;
      if (inStyle(this.map, layer)) setOpacity(this.map, layer, value, this.opacityOriginals);
      const slider = this.tree.querySelector(`input[data-opacity="${CSS.escape(slug)}"]`);
      if (slider) slider.value = String(Math.round(value * 100));
    }
  }

  toggleMeasure(mode) {
    if (this.measure.mode === mode) this.measure.stop();
    else this.measure.start(mode);
  }

  pressTool(mode) {
    for (const name of ['distance', 'area']) {
      document.getElementById(`tool-${name}`)?.setAttribute('aria-pressed', String(mode === name));
    }
  }

  async exportPng() {
    const credits = [...new Set(this.config.layers.filter((layer) => this.on.has(layer.slug)).map((layer) => attributionText(layer.attribution)).filter(Boolean))];
    try {
      const bytes = await exportPng(this.map, credits.join(' · ') || document.title);
      toast(_('The image is downloading.'));
      return bytes;
    } catch {
      toast(_('The image could not be made.'), 'error');
      return 0;
    }
  }

  saveState() {
    const layersOn = this.order.slugs.filter((slug) => this.on.has(slug));
    // The day of the time-enabled layers, while one is on.
    const timed = layersOn.some((slug) => this.bySlug.get(slug)?.temporal);
    writeState(this.map, layersOn, this.selected, this.compare?.state(), timed ? this.config.time : null);
  }

  /** Show a bar while tiles load; say so when tiles fail (at most once in a while). */
  watchLoading() {
    const bar = document.getElementById('loading');
    const update = () => { bar.hidden = this.map.areTilesLoaded() && this.map.loaded(); };
    this.map.on('dataloading', () => { bar.hidden = false; });
    this.map.on('idle', () => { bar.hidden = true; });
    this.map.on('data', update);
    this.map.on('error', (event) => {
      const now = Date.now();
      if (now - this.lastTileError < TILE_ERROR_QUIET_MS) return;
      this.lastTileError = now;
      const status = event.error && event.error.status;
      toast(status
        ? fmt(_('Some map data could not be loaded (error %(status)s).'), { status })
        : _('Some map data could not be loaded.'), 'error');
    });
  }

  closePanelOnPhone() {
    if (window.matchMedia('(max-width: 720px)').matches) document.body.classList.remove('panel-open');
  }
}

async function start() {
  const config = JSON.parse(document.getElementById('map-config').textContent);
  const toggle = document.getElementById('panel-toggle');
  toggle.addEventListener('click', () => {
    const open = document.body.classList.toggle('panel-open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  // The language switch keeps the view: the fragment goes along in `next`.
  document.getElementById('language-form')?.addEventListener('submit', (event) => {
    event.target.elements.next.value = window.location.pathname + window.location.hash;
  });
  if (!maplibregl.Map || !document.createElement('canvas').getContext('webgl2')
      && !document.createElement('canvas').getContext('webgl')) {
    document.getElementById('map').append(h('p', { class: 'map-failed' }, _('This browser cannot draw the map (WebGL is off).')));
    return;
  }
  // The map's style is built on the server, one definition for the map and for GIS clients.
  let served;
  try {
    served = await getJSON(styleUrl(config));
  } catch (error) {
    document.getElementById('map').append(h('p', { class: 'map-failed' }, _('The map could not be loaded: reload the page.')));
    toast(error.message, 'error');
    return;
  }
  window.webmap = new WebMap(config, served);
  const { map } = window.webmap;
  map.once('load', () => {
    document.body.classList.add('map-ready');
    // The credits stay one click away rather than covering the bottom of the map.
    const credits = map.getContainer().querySelector('.maplibregl-ctrl-attrib');
    credits?.classList.remove('maplibregl-compact-show');
    credits?.removeAttribute('open');
  });
  // When the first view was complete (ms since navigation): the page benchmark reads it.
  map.once('idle', () => { window.webmap.firstIdleMs = performance.now(); });
}

start();
