// Saved maps: "Save this map" (a name, who it is shared with) and "My maps" (open, copy the short
// link, its QR code, delete). What is saved is the map's composition (`composition`): the view,
// the layers on in drawing order with their opacity, the selected feature, Compare's left side,
// the attribute table's state and the time slider's day, version 1 of maps/composition.py's
// schema. The server keeps it under a short code; /m/{code} opens it again for whoever it is
// shared with, with only the layers they may see. Loaded the first time the panel is opened
// (main.js).

import { _, fmt, h, toast } from './dom.js';
import { ApiError, send } from './featureapi.js';

const API = '/api/v1/maps/';
const CSS_URL = new URL('../savedmaps.css', import.meta.url).href;
const round = (value, digits) => Number(value.toFixed(digits));

/** Return the map's composition as a saved map keeps it (maps/composition.py, version 1). */
export function composition(webmap) {
  const { map } = webmap;
  const center = map.getCenter();
  const state = {
    version: 1,
    view: {
      center: [round(center.lng, 6), round(center.lat, 6)],
      zoom: round(map.getZoom(), 3),
      bearing: round(map.getBearing(), 1),
      pitch: round(map.getPitch(), 1),
    },
    layers: webmap.order.slugs.filter((slug) => webmap.on.has(slug))
      .map((slug) => ({ slug, opacity: round(webmap.opacity.get(slug) ?? 1, 3) })),
  };
  if (webmap.selected) state.feature = { layer: webmap.selected.layer, id: webmap.selected.id };
  const compare = webmap.compare?.state?.();
  if (compare) state.compare = compare;
  // The attribute table, once it has been opened: its layer, sort, filters and "only matching".
  const table = webmap.table?.state?.();
  if (table) state.table = { ...table, open: Boolean(webmap.table.open) };
  // The time slider's day, while a time-enabled layer is on (the map opens at today otherwise).
  if (state.layers.some(({ slug }) => webmap.bySlug.get(slug)?.temporal)) state.time = webmap.config.time;
  return state;
}

const SHARING = {
  private: () => _('Only me'),
  group: () => _('A group'),
  public: () => _('Anyone with the link'),
};

function loadCss() {
  if (document.querySelector(`link[href="${CSS_URL}"]`)) return Promise.resolve();
  return new Promise((resolve) => {
    const link = h('link', { rel: 'stylesheet', href: CSS_URL });
    link.addEventListener('load', resolve);
    link.addEventListener('error', resolve); // unstyled beats absent
    document.head.append(link);
  });
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast(_('Link copied.'));
  } catch {
    // No clipboard here (an old browser, a page not on HTTPS): the link is selected to copy.
    input.hidden = false;
    input.focus();
    input.select();
    toast(_('Press Ctrl+C to copy the selected link.'));
  }
}

export class SavedMaps {
  static async create({ webmap }) {
    await loadCss();
    return new SavedMaps({ webmap });
  }

  constructor({ webmap }) {
    this.webmap = webmap;
    this.open = false;
    this.groups = [];
    this.panel = this.build();
    webmap.map.getContainer().parentElement.append(this.panel);
  }

  build() {
    this.name = h('input', { type: 'text', id: 'saved-map-name', name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
    this.sharing = h('select', { id: 'saved-map-sharing', name: 'sharing', onchange: () => this.sharingChanged() },
      Object.entries(SHARING).map(([value, label]) => h('option', { value }, label())));
    this.group = h('select', { id: 'saved-map-group', name: 'group' });
    this.groupRow = h('p', { class: 'maps-field', hidden: true },
      h('label', { for: 'saved-map-group' }, _('Group')), this.group);
    this.error = h('p', { class: 'maps-error', role: 'alert', hidden: true });
    this.form = h('form', { class: 'maps-save', onsubmit: (event) => { event.preventDefault(); this.save(); } },
      h('h3', {}, _('Save this map')),
      h('p', { class: 'maps-field' }, h('label', { for: 'saved-map-name' }, _('Name')), this.name),
      h('p', { class: 'maps-field' }, h('label', { for: 'saved-map-sharing' }, _('Shared with')), this.sharing),
      this.groupRow,
      this.error,
      h('button', { type: 'submit', class: 'primary' }, _('Save')));
    this.list = h('ul', { class: 'maps-list', 'aria-live': 'polite' });
    return h('section', { id: 'maps-panel', class: 'maps-panel', 'aria-labelledby': 'maps-title', hidden: true },
      h('div', { class: 'maps-head' },
        h('h2', { id: 'maps-title' }, _('Saved maps')),
        h('button', { type: 'button', class: 'maps-close', 'aria-label': _('Close'), title: _('Close'), onclick: () => this.webmap.toggleMaps(false) }, '×')),
      this.form,
      h('h3', {}, _('My maps')),
      this.list);
  }

  show(on) {
    this.open = on;
    this.panel.hidden = !on;
    if (on) {
      this.refresh();
      this.name.focus();
    }
  }

  sharingChanged() {
    this.groupRow.hidden = this.sharing.value !== 'group';
    if (!this.groupRow.hidden && !this.groups.length) {
      this.error.hidden = false;
      this.error.textContent = _('You are in no group to share with: ask GIS staff to add you to one.');
    } else {
      this.error.hidden = true;
    }
  }

  async refresh() {
    try {
      const [maps, groups] = await Promise.all([send('GET', API), send('GET', `${API}groups/`)]);
      this.groups = groups.body.results;
      this.group.replaceChildren(...this.groups.map((group) => h('option', { value: group.id }, group.name)));
      this.render(maps.body.results);
    } catch (error) {
      this.list.replaceChildren(h('li', { class: 'maps-empty' }, fmt(_('Your saved maps could not be loaded (%(reason)s).'), { reason: error.message })));
    }
  }

  render(maps) {
    if (!maps.length) {
      this.list.replaceChildren(h('li', { class: 'maps-empty' }, _('No saved maps yet.')));
      return;
    }
    this.list.replaceChildren(...maps.map((saved) => this.item(saved)));
  }

  item(saved) {
    const link = h('input', { type: 'text', readonly: true, value: saved.url, class: 'maps-link', 'aria-label': fmt(_('Short link of %(name)s'), { name: saved.name }), hidden: true });
    const qr = h('img', { class: 'maps-qr', alt: fmt(_('QR code of %(name)s'), { name: saved.name }), hidden: true, width: 160, height: 160 });
    const described = { 'aria-describedby': `saved-${saved.code}` };
    const shared = saved.sharing === 'group' && saved.group ? fmt(_('Group %(group)s'), { group: saved.group.name }) : SHARING[saved.sharing]?.();
    return h('li', { class: 'maps-item', 'data-code': saved.code },
      h('a', { href: saved.url, class: 'maps-name', id: `saved-${saved.code}` }, saved.name),
      h('span', { class: 'maps-meta' }, saved.mine ? shared : fmt(_('Shared by %(owner)s'), { owner: saved.owner })),
      h('span', { class: 'maps-actions' },
        h('a', { href: saved.url, class: 'button', ...described }, _('Open')),
        h('button', { type: 'button', ...described, onclick: () => copyText(saved.url, link) }, _('Copy link')),
        h('button', {
          type: 'button', 'aria-expanded': 'false', ...described,
          onclick: (event) => {
            qr.hidden = !qr.hidden;
            if (!qr.hidden && !qr.src) qr.src = saved.qr_url;
            event.currentTarget.setAttribute('aria-expanded', String(!qr.hidden));
          },
        }, _('QR code')),
        saved.mine ? h('button', { type: 'button', class: 'danger', ...described, onclick: () => this.remove(saved) }, _('Delete')) : null),
      link, qr);
  }

  async save() {
    this.error.hidden = true;
    const body = { name: this.name.value.trim(), sharing: this.sharing.value, state: composition(this.webmap) };
    if (body.sharing === 'group') body.group = Number(this.group.value) || null;
    try {
      const { body: saved } = await send('POST', API, { body });
      this.name.value = '';
      toast(fmt(_('Saved "%(name)s". Its link: %(url)s'), { name: saved.name, url: saved.url }));
      await this.refresh();
      return saved;
    } catch (error) {
      this.error.hidden = false;
      this.error.textContent = error instanceof ApiError && error.status === 401
        ? _('Sign in to save maps.')
        : fmt(_('The map could not be saved (%(reason)s).'), { reason: error.message });
      return null;
    }
  }

  async remove(saved) {
    if (!window.confirm(fmt(_('Delete the saved map "%(name)s"? Its link will stop working.'), { name: saved.name }))) return;
    try {
      await send('DELETE', `${API}${encodeURIComponent(saved.code)}/`);
      toast(fmt(_('Deleted "%(name)s".'), { name: saved.name }));
    } catch (error) {
      toast(fmt(_('The map could not be deleted (%(reason)s).'), { reason: error.message }), 'error');
    }
    await this.refresh();
  }
}
