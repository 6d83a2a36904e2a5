// The search box: names across the visible layers (the API ignores accents: "dai noi" finds
// "Đại Nội"), a list of results, and a flight to the one chosen.

import { _, fmt, getJSON, h } from './dom.js';

const DELAY_MS = 250;
const MIN_LENGTH = 2;

export class Search {
  constructor({ form, input, results, config, onChoose }) {
    this.form = form;
    this.input = input;
    this.results = results;
    this.config = config;
    this.onChoose = onChoose;
    this.timer = null;
    this.controller = null;
    this.hits = [];
    this.active = -1;
    input.addEventListener('input', () => this.schedule());
    input.addEventListener('keydown', (event) => this.key(event));
    input.addEventListener('focus', () => { if (this.hits.length) this.results.hidden = false; });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (this.hits.length) this.choose(this.active >= 0 ? this.active : 0);
      else this.run();
    });
    document.addEventListener('click', (event) => {
      if (!this.form.contains(event.target)) this.results.hidden = true;
    });
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), DELAY_MS);
  }

  busy(on) {
    this.form.classList.toggle('busy', on);
    this.form.setAttribute('aria-busy', String(on));
  }

  async run() {
    const text = this.input.value.trim();
    this.controller?.abort();
    if (text.length < MIN_LENGTH) {
      this.hits = [];
      this.results.hidden = true;
      return;
    }
    this.controller = new AbortController();
    this.busy(true);
    try {
      const params = new URLSearchParams({ q: text, limit: '12' });
      const answer = await getJSON(`${this.config.urls.search}?${params}`, { signal: this.controller.signal });
      this.show(text, answer.results || []);
    } catch (error) {
      if (error.name === 'AbortError') return;
      this.hits = [];
      this.message(_('Search failed. Please try again.'), 'error');
    } finally {
      this.busy(false);
    }
  }

  message(text, kind = 'info') {
    this.results.replaceChildren(h('li', { class: `message ${kind}`, role: 'status' }, text));
    this.results.hidden = false;
  }

  show(text, hits) {
    this.hits = hits;
    this.active = -1;
    if (!hits.length) {
      this.message(fmt(_('Nothing found for “%(text)s”.'), { text }));
      return;
    }
    this.results.replaceChildren(...hits.map((hit, index) => h('li', {
      role: 'option', id: `search-hit-${index}`, 'data-layer': hit.layer, 'data-id': hit.id,
      onclick: () => this.choose(index),
      onmousemove: () => this.mark(index),
    }, h('span', { class: 'hit-name' }, hit.name || `#${hit.id}`), h('span', { class: 'hit-layer' }, hit.layer_title || hit.layer))));
    this.results.hidden = false;
  }

  mark(index) {
    this.active = index;
    [...this.results.children].forEach((item, i) => item.setAttribute('aria-selected', String(i === index)));
    this.input.setAttribute('aria-activedescendant', index >= 0 ? `search-hit-${index}` : '');
  }

  key(event) {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      if (!this.hits.length) return;
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      this.mark((this.active + step + this.hits.length) % this.hits.length);
    } else if (event.key === 'Escape') {
      this.results.hidden = true;
    }
  }

  choose(index) {
    const hit = this.hits[index];
    if (!hit) return;
    this.results.hidden = true;
    this.input.value = hit.name || '';
    this.onChoose(hit);
  }
}
