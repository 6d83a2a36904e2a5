// The drawing order of the layers that are on, as the planner arranges it (drag or move up/down
// in the "On the map" list). The map opens with the default order (style.js `drawingOrder`: base
// map, then polygons, lines, points) or the order of a shared link's `layers=`, bottom first.
//
// Only the drawn MapLibre layers (`L:{slug}:{n}`) move: extrusions, highlights and labels stay
// above every drawn layer, as in the served style, so a label is never hidden under a fill.

import { drawingOrder } from './style.js';

const DRAWN = /^L:(.+):(\d+)$/;

export class LayerOrder {
  /** `slugs`: the layers on, bottom first as given, else sorted in the default order. */
  constructor(config, slugs, { asGiven = true } = {}) {
    this.rank = new Map(drawingOrder(config).map((layer, index) => [layer.slug, index]));
    this.slugs = [...new Set(slugs)].filter((slug) => this.rank.has(slug));
    if (!asGiven) this.slugs.sort((a, b) => this.rank.get(a) - this.rank.get(b));
  }

  /** Add a layer switched on where the default order would put it among those on. */
  add(slug) {
    if (this.slugs.includes(slug) || !this.rank.has(slug)) return;
    const rank = this.rank.get(slug);
    const above = this.slugs.findIndex((other) => this.rank.get(other) > rank);
    if (above < 0) this.slugs.push(slug);
    else this.slugs.splice(above, 0, slug);
  }

  remove(slug) {
    this.slugs = this.slugs.filter((other) => other !== slug);
  }

  /** Move a layer to `index` (0 the bottom); return whether anything changed. */
  move(slug, index) {
    const from = this.slugs.indexOf(slug);
    const to = Math.max(0, Math.min(this.slugs.length - 1, index));
    if (from < 0 || from === to) return false;
    this.slugs.splice(from, 1);
    this.slugs.splice(to, 0, slug);
    return true;
  }

  /** Take a whole new order (a drag ends): the same layers, another sequence. */
  set(slugs) {
    const same = slugs.length === this.slugs.length && slugs.every((slug) => this.slugs.includes(slug));
    if (!same) return false;
    const changed = slugs.some((slug, index) => slug !== this.slugs[index]);
    this.slugs = [...slugs];
    return changed;
  }

  /**
   * Stack the map's drawn MapLibre layers in this order, each below the first layer that is not a
   * drawn one (extrusions, highlights, labels, measuring). Layers off keep their place below:
   * they draw nothing. Nothing moves when the map already draws this order.
   */
  apply(map) {
    const ids = map.getStyle().layers.map((styleLayer) => styleLayer.id);
    const drawnOf = new Map();
    let last = -1;
    ids.forEach((id, index) => {
      const match = DRAWN.exec(id);
      if (!match) return;
      last = index;
      if (!drawnOf.has(match[1])) drawnOf.set(match[1], []);
      drawnOf.get(match[1]).push(id);
    });
    const wanted = this.slugs.flatMap((slug) => drawnOf.get(slug) || []);
    const present = ids.filter((id) => wanted.includes(id));
    if (present.every((id, index) => id === wanted[index])) return false;
    const ceiling = ids.slice(last + 1).find((id) => !DRAWN.test(id));
    for (const id of wanted) map.moveLayer(id, ceiling);
    return true;
  }
}
