// The time slider: shown while a time-enabled layer is on (one whose features have a time or a
// validity interval, `layer.temporal`). It spans the days of those layers' temporal extents and
// draws them at the day chosen: their tiles are asked with `?datetime=YYYY-MM-DD` (the whole
// day, layers/features/temporal.py), the other layers stay as they are. The day goes into the
// shareable link (`time=`) and out as the page's time event, which the sensor layers' replay
// follows (sensors.js):
//
//   document.addEventListener('webmap:time', (event) => event.detail);
//   // {datetime: 'YYYY-MM-DD', instant: the day's last second in the city's time as ISO 8601,
//   //  or null for today (live), layers: [slugs of the time-enabled layers on]}
//
// `window.webmap.config.time` holds the day at any moment. Loaded by main.js the first time a
// time-enabled layer is on.

import { _, h } from './dom.js';
import { timeSources } from './style.js';

export const TIME_EVENT = 'webmap:time';
const CSS_URL = new URL('../timeslider.css', import.meta.url).href;
const DAY_MS = 86400000;
// An open start has no first day: the slider then begins this long before the first day known.
const OPEN_START_DAYS = 365;
const PAGE_DAYS = 30;
// Dragging asks for tiles once the thumb rests this long; the label follows at once.
const SETTLE_MS = 250;

const dayOf = (text) => text.slice(0, 10);
const dayNumber = (day) => Math.round(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
const dayText = (number) => new Date(number * DAY_MS).toISOString().slice(0, 10);

function loadCss() {
  if (document.querySelector(`link[href="${CSS_URL}"]`)) return Promise.resolve();
  return new Promise((resolve) => {
    const link = h('link', { rel: 'stylesheet', href: CSS_URL });
    link.addEventListener('load', resolve);
    link.addEventListener('error', resolve); // unstyled beats absent
    document.head.append(link);
  });
}

/**
 * Return the first and last day (YYYY-MM-DD) that the slider spans for these layers: from their
 * first start to their last end, today when an end is open, a year before the first day known
 * when a start is open; always holding `current` (the day drawn).
 */
export function timeRange(layers, { today, current }) {
  const known = [];
  let openStart = false;
  let openEnd = false;
  for (const layer of layers) {
    const [start, end] = layer.temporal.interval[0];
    if (start) known.push(dayOf(start)); else openStart = true;
    if (end) known.push(dayOf(end)); else openEnd = true;
  }
  const numbers = known.map(dayNumber);
  let first = numbers.length ? Math.min(...numbers) : dayNumber(today);
  let last = numbers.length ? Math.max(...numbers) : dayNumber(today);
  if (openStart) first -= OPEN_START_DAYS;
  if (openEnd) last = Math.max(last, dayNumber(today));
  const drawn = dayNumber(current);
  return [dayText(Math.min(first, drawn)), dayText(Math.max(last, drawn))];
}

/** Return the days where a layer's time starts or ends: marks on the slider. */
function turningDays(layers) {
  const days = new Set();
  for (const layer of layers) {
    for (const end of layer.temporal.interval[0]) if (end) days.add(dayOf(end));
  }
  return [...days].sort();
}

export class TimeSlider {
  static async create({ webmap }) {
    await loadCss();
    return new TimeSlider({ webmap });
  }

  constructor({ webmap }) {
    this.webmap = webmap;
    this.config = webmap.config;
    this.timer = null;
    const language = (this.config.language || document.documentElement.lang || 'vi').slice(0, 2);
    const locale = language === 'vi' ? 'vi-VN' : 'en-GB';
    this.format = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
    this.formatShort = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'numeric', year: 'numeric', timeZone: 'UTC' });
    this.input = h('input', {
      type: 'range', id: 'time-range', class: 'time-range', min: 0, max: 0, step: 1, list: 'time-marks',
      onkeydown: (event) => this.keydown(event),
      oninput: () => this.moved(false),
      onchange: () => this.moved(true),
    });
    this.label = h('output', { id: 'time-label', class: 'time-label', for: 'time-range', 'aria-live': 'polite' });
    this.marks = h('datalist', { id: 'time-marks' });
    this.first = h('span', { class: 'time-end' });
    this.last = h('span', { class: 'time-end' });
    const step = (days, text, title) => h('button', {
      type: 'button', class: 'time-step', title, 'aria-label': title, onclick: () => this.step(days),
    }, text);
    this.panel = h('section', { id: 'time-panel', class: 'time-panel', 'aria-label': _('Time') },
      h('div', { class: 'time-head' },
        h('label', { for: 'time-range', class: 'time-title' }, _('Map date')),
        this.label),
      h('div', { class: 'time-row' },
        step(-1, '‹', _('One day earlier')),
        this.first, this.input, this.last,
        step(1, '›', _('One day later'))),
      this.marks);
    this.webmap.map.getContainer().parentElement.append(this.panel);
  }

  /** The time-enabled layers on the map. */
  layersOn() {
    return this.config.layers.filter((layer) => layer.temporal && this.webmap.on.has(layer.slug));
  }

  /** Show the slider over the time-enabled layers that are on (hidden when none is). */
  layersChanged() {
    const layers = this.layersOn();
    this.panel.hidden = layers.length === 0;
    if (!layers.length) return;
    [this.start, this.end] = timeRange(layers, { today: this.config.today, current: this.config.time });
    this.input.max = String(dayNumber(this.end) - dayNumber(this.start));
    this.first.textContent = this.short(this.start);
    this.last.textContent = this.short(this.end);
    this.marks.replaceChildren(...turningDays(layers)
      .filter((day) => day >= this.start && day <= this.end)
      .map((day) => h('option', { value: dayNumber(day) - dayNumber(this.start), label: this.short(day) })));
    this.show(this.config.time);
  }

  short(day) {
    return this.formatShort.format(new Date(`${day}T00:00:00Z`));
  }

  /** Put the thumb and the label at a day. */
  show(day) {
    this.input.value = String(dayNumber(day) - dayNumber(this.start));
    const text = this.format.format(new Date(`${day}T00:00:00Z`));
    this.label.textContent = text;
    this.input.setAttribute('aria-valuetext', text);
  }

  /** The day the thumb is at. */
  chosen() {
    return dayText(dayNumber(this.start) + Number(this.input.value));
  }

  moved(settled) {
    const day = this.chosen();
    this.show(day);
    clearTimeout(this.timer);
    if (settled) this.setTime(day);
    else this.timer = setTimeout(() => this.setTime(day), SETTLE_MS);
  }

  step(days) {
    const value = Math.min(Number(this.input.max), Math.max(0, Number(this.input.value) + days));
    this.input.value = String(value);
    this.moved(true);
  }

  /** Page Up / Page Down move a month (a range input's own step there is the browser's). */
  keydown(event) {
    if (event.key !== 'PageUp' && event.key !== 'PageDown') return;
    event.preventDefault();
    this.step(event.key === 'PageUp' ? PAGE_DAYS : -PAGE_DAYS);
  }

  /** Draw the time-enabled layers at this day (YYYY-MM-DD), and say so. */
  setTime(day) {
    clearTimeout(this.timer);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`Not a day: ${day}`);
    if (day !== this.config.time) {
      this.config.time = day;
      timeSources(this.config, this.webmap.map);
      this.webmap.saveState();
      // Today is "now": followers (the sensors' replay) go back to live values.
      const instant = day === this.config.today ? null : `${day}T23:59:59${this.config.utc_offset}`;
      document.dispatchEvent(new CustomEvent(TIME_EVENT, {
        detail: { datetime: day, instant, layers: this.layersOn().map((layer) => layer.slug) },
      }));
    }
    if (this.start && !this.panel.hidden) {
      if (day < this.start || day > this.end) this.layersChanged(); else this.show(day);
    }
  }
}
