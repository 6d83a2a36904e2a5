// The layer tree: categories, each with its layers' toggles, counts, legends, opacity, zoom to
// layer, and source / licence / attribution; above it, the layers on the map in drawing order
// (top first), to drag or move up and down.

import { _, attributionNodes, h, ngettext, number, svg } from './dom.js';
import { legendOf } from './style.js';

export function swatch(entry) {
  const size = 18;
  const picture = svg('svg', { width: size, height: size, viewBox: `0 0 ${size} ${size}`, 'aria-hidden': 'true', class: 'swatch' });
  if (entry.kind === 'fill') {
    picture.append(svg('rect', { x: 2, y: 3, width: 14, height: 12, rx: 2, fill: entry.colour, stroke: entry.stroke || entry.colour, 'stroke-width': 1.5 }));
  } else if (entry.kind === 'line') {
    const line = svg('line', { x1: 1, y1: 9, x2: 17, y2: 9, stroke: entry.colour, 'stroke-width': entry.width, 'stroke-linecap': 'round' });
    if (entry.dashed) line.setAttribute('stroke-dasharray', '4 3');
    picture.append(line);
  } else {
    picture.append(svg('circle', { cx: 9, cy: 9, r: 5.5, fill: entry.colour, stroke: entry.stroke || '#fff', 'stroke-width': 1.5 }));
  }
  return picture;
}

/** Return a class's label: the values' labels from the schema's choices, else the values. */
function classLabel(layer, entry) {
  const field = Array.isArray(entry.input) && entry.input[0] === 'get' ? entry.input[1] : null;
  const choices = (layer.schema || []).find((item) => item.name === field)?.choices;
  if (!entry.values || !choices) return entry.label;
  return entry.values.map((value) => choices.find((choice) => String(choice.value) === String(value))?.label ?? value).join(', ');
}

function legendList(layer) {
  const entries = legendOf(layer);
  // One unnamed symbol is already beside the title; a key is worth showing for classes.
  if (!entries.some((entry) => entry.label)) return null;
  return h('ul', { class: 'legend' }, entries.map((entry) => h('li', {},
    swatch(entry), h('span', {}, entry.other ? _('Other') : classLabel(layer, entry) || layer.title))));
}

function credits(layer) {
  // The source and licence are plain text; the attribution is cleaned HTML (links kept).
  const rows = [
    [_('Source'), layer.source],
    [_('Licence'), layer.licence],
    [_('Attribution'), layer.attribution && attributionNodes(layer.attribution)],
  ].filter(([, value]) => value && value.length);
  if (!rows.length) return null;
  return h('dl', { class: 'credits' }, rows.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

const VISIBILITY_BADGES = {
  internal: () => _('Internal'),
  restricted: () => _('Restricted'),
};

/**
 * Render the tree into `container`. `actions` has toggle(slug, on), opacity(slug, value),
 * zoomTo(slug); `isOn(slug)` says whether a layer is on.
 */
export function renderLayerTree(container, config, { isOn, actions }) {
  container.replaceChildren();
  const byCategory = new Map(config.categories.map((category) => [category.slug, []]));
  for (const layer of config.layers) byCategory.get(layer.category)?.push(layer);
  if (!config.layers.length) {
    container.append(h('p', { class: 'empty' }, _('No layers to show yet.')));
    return;
  }
  for (const category of config.categories) {
    const layers = byCategory.get(category.slug) || [];
    if (!layers.length) continue;
    const items = layers.map((layer) => layerItem(layer, { isOn, actions }));
    container.append(h('details', { class: 'category', open: true, 'data-category': category.slug },
      h('summary', {}, h('span', { class: 'category-name' }, category.name), h('span', { class: 'count' }, String(layers.length))),
      h('ul', { class: 'layers' }, items)));
  }
}

function layerItem(layer, { isOn, actions }) {
  const id = `toggle-${layer.slug}`;
  const entries = legendOf(layer);
  const checkbox = h('input', {
    type: 'checkbox', id, checked: isOn(layer.slug), 'data-layer': layer.slug,
    onchange: (event) => actions.toggle(layer.slug, event.target.checked),
  });
  const opacity = h('input', {
    type: 'range', min: 0, max: 100, step: 5, value: 100, 'aria-label': _('Opacity'),
    'data-opacity': layer.slug,
    oninput: (event) => actions.opacity(layer.slug, Number(event.target.value) / 100),
  });
  const details = h('div', { class: 'layer-details', hidden: true },
    layer.description ? h('p', { class: 'description' }, layer.description) : null,
    legendList(layer),
    h('label', { class: 'opacity' }, h('span', {}, _('Opacity')), opacity),
    h('button', { type: 'button', class: 'link', disabled: !layer.bbox, onclick: () => actions.zoomTo(layer.slug) }, _('Zoom to layer')),
    credits(layer));
  const more = h('button', {
    type: 'button', class: 'more', 'aria-expanded': 'false', 'aria-label': _('Details'), title: _('Details'),
    onclick: (event) => {
      details.hidden = !details.hidden;
      event.currentTarget.setAttribute('aria-expanded', String(!details.hidden));
    },
  }, '⋯');
  const badge = VISIBILITY_BADGES[layer.visibility];
  return h('li', { class: 'layer', 'data-layer': layer.slug },
    h('div', { class: 'layer-row' },
      checkbox,
      h('label', { for: id },
        entries[0] ? swatch(entries[0]) : null,
        h('span', { class: 'title' }, layer.title),
        badge ? h('span', { class: 'badge' }, badge()) : null),
      h('span', { class: 'count', title: ngettext('%(count)s feature', '%(count)s features', layer.feature_count) },
        number(layer.feature_count)),
      more),
    h('p', { class: 'zoom-hint', hidden: true }, _('Zoom in to see this layer')),
    details);
}

/** Grey out the layers the current zoom does not show. */
export function markZoomRange(container, config, zoom) {
  for (const layer of config.layers) {
    const item = container.querySelector(`li.layer[data-layer="${CSS.escape(layer.slug)}"]`);
    if (!item) continue;
    const outside = zoom < layer.min_zoom;
    item.classList.toggle('out-of-zoom', outside);
    item.querySelector('.zoom-hint').hidden = !outside;
  }
}

/**
 * The layers on the map, top first: drag a row by its handle (pointer events: mouse, pen, touch)
 * or move it with its buttons or the arrow keys on the handle. `actions` has reorder(slugs,
 * bottom first) and zoomTo(slug).
 */
export class OrderList {
  constructor(container, config, actions) {
    this.container = container;
    this.bySlug = new Map(config.layers.map((layer) => [layer.slug, layer]));
    this.actions = actions;
    this.list = h('ol', { class: 'order-list' });
    container.replaceChildren(h('h3', { id: 'layer-order-title' }, _('On the map')),
      h('p', { class: 'panel-note' }, _('Drag to change what is drawn on top.')), this.list);
    container.setAttribute('aria-labelledby', 'layer-order-title');
    this.list.addEventListener('pointerdown', (event) => this.startDrag(event));
  }

  /** Show these layers (bottom first, as the map stacks them); keep focus on a moved row. */
  render(slugs, { focus = null } = {}) {
    const top = slugs.slice().reverse();
    this.slugs = slugs;
    this.container.hidden = !top.length;
    this.list.replaceChildren(...top.map((slug, index) => this.row(this.bySlug.get(slug), index, top.length)));
    if (focus) this.list.querySelector(`li[data-layer="${CSS.escape(focus.slug)}"] .${focus.control}`)?.focus();
  }

  row(layer, index, count) {
    const move = (by, control) => {
      const bottomFirst = this.slugs.indexOf(layer.slug) + by;
      this.actions.reorder(this.moved(layer.slug, bottomFirst), { slug: layer.slug, control });
    };
    // The buttons are named by what they do and described by the layer's title (not named by
    // it: the layer's checkbox in the tree is the one control labelled with its title).
    const titleId = `order-title-${layer.slug}`;
    const button = (className, label, text, onclick, disabled = false) => h('button', {
      type: 'button', class: className, title: label, 'aria-label': label, 'aria-describedby': titleId, disabled, onclick,
    }, text);
    const entry = legendOf(layer)[0];
    return h('li', { class: 'order-item', 'data-layer': layer.slug },
      h('button', {
        type: 'button', class: 'drag-handle', title: _('Drag to reorder (or use the arrow keys)'),
        'aria-label': _('Reorder'), 'aria-describedby': titleId,
        onkeydown: (event) => {
          const by = { ArrowUp: 1, ArrowDown: -1 }[event.key];
          if (!by) return;
          event.preventDefault();
          move(by, 'drag-handle');
        },
      }, '⠿'),
      entry ? swatch(entry) : null,
      h('span', { class: 'title', id: titleId }, layer.title),
      button('move-up', _('Move up'), '↑', () => move(1, 'move-up'), index === 0),
      button('move-down', _('Move down'), '↓', () => move(-1, 'move-down'), index === count - 1),
      button('zoom-to', _('Zoom to layer'), '⤢', () => this.actions.zoomTo(layer.slug), !layer.bbox));
  }

  moved(slug, index) {
    const slugs = this.slugs.filter((other) => other !== slug);
    slugs.splice(Math.max(0, Math.min(slugs.length, index)), 0, slug);
    return slugs;
  }

  /** Drag a row by its handle; the rows move as the pointer goes, the map when it is let go. */
  startDrag(event) {
    const handle = event.target.closest('.drag-handle');
    if (!handle || event.button !== 0) return;
    const item = handle.closest('li');
    event.preventDefault();
    handle.setPointerCapture(event.pointerId);
    item.classList.add('dragging');
    const follow = (moveEvent) => {
      const next = [...this.list.children].find((other) => {
        if (other === item) return false;
        const box = other.getBoundingClientRect();
        return moveEvent.clientY < box.top + box.height / 2;
      });
      if (next && item.nextElementSibling !== next) this.list.insertBefore(item, next);
      else if (!next && this.list.lastElementChild !== item) this.list.append(item);
    };
    const end = () => {
      handle.removeEventListener('pointermove', follow);
      handle.removeEventListener('pointerup', end);
      handle.removeEventListener('pointercancel', end);
      item.classList.remove('dragging');
      const top = [...this.list.children].map((row) => row.dataset.layer);
      this.actions.reorder(top.reverse(), null);
    };
    handle.addEventListener('pointermove', follow);
    handle.addEventListener('pointerup', end);
    handle.addEventListener('pointercancel', end);
  }
}
