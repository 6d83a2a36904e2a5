// The layer tree: categories, each with its layers' toggles, counts, legends, opacity, zoom to
// layer, and source / licence / attribution.

import { _, attributionNodes, h, ngettext, number, svg } from './dom.js';
import { legendOf } from './style.js';

function swatch(entry) {
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

function legendList(layer) {
  const entries = legendOf(layer);
  // One unnamed symbol is already beside the title; a key is worth showing for classes.
  if (!entries.some((entry) => entry.label)) return null;
  return h('ul', { class: 'legend' }, entries.map((entry) => h('li', {},
    swatch(entry), h('span', {}, entry.other ? _('Other') : entry.label || layer.title))));
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
