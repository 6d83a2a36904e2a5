// Small DOM helpers. Text always goes in through textContent, never innerHTML: attribute values,
// titles and attributions from the data are shown as text, whatever characters they hold.

/** Translate a message through Django's JavaScript catalogue (identity when it is absent). */
export function _(message) {
  return typeof window.gettext === 'function' ? window.gettext(message) : message;
}

/** Fill `%(name)s` placeholders of a translated message. */
export function fmt(message, values) {
  return message.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key] ?? ''));
}

/** Plural-aware translation (Django's `ngettext`), with `%(count)s` and placeholders filled. */
export function ngettext(singular, plural, count, values = {}) {
  const message = typeof window.ngettext === 'function'
    ? window.ngettext(singular, plural, count)
    : (count === 1 ? singular : plural);
  return fmt(message, { count, ...values });
}

/**
 * Create an element: h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, 'text', child…).
 * Strings become text nodes; null/false children are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Create an SVG element with attributes. */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) if (child) element.append(child);
  return element;
}

// What an attribution may hold: the server cleans it to these (layers/rich_text.py); the map
// builds the nodes again from that list, so nothing else could reach the page even if it did not.
const ATTRIBUTION_TAGS = new Set(['A', 'ABBR', 'B', 'BR', 'EM', 'I', 'SMALL', 'SPAN', 'STRONG', 'SUB', 'SUP']);

function attributionChildren(node) {
  const out = [];
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) {
      out.push(child.textContent);
    } else if (child.nodeType === Node.ELEMENT_NODE && ATTRIBUTION_TAGS.has(child.tagName)) {
      const attributes = {};
      if (child.tagName === 'A' && /^https?:\/\//i.test(child.getAttribute('href') || '')) {
        Object.assign(attributes, { href: child.getAttribute('href'), target: '_blank', rel: 'noopener noreferrer nofollow' });
      }
      if (child.getAttribute('title')) attributes.title = child.getAttribute('title');
      out.push(h(child.tagName.toLowerCase(), attributes, attributionChildren(child)));
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      out.push(...attributionChildren(child));
    }
  }
  return out;
}

/** Return the nodes of an attribution (links and inline markup kept, as the server cleaned it). */
export function attributionNodes(html) {
  const body = new DOMParser().parseFromString(String(html ?? ''), 'text/html').body;
  return attributionChildren(body);
}

/** Return an attribution as plain text (for the exported image). */
export function attributionText(html) {
  return new DOMParser().parseFromString(String(html ?? ''), 'text/html').body.textContent || '';
}

/** Escape text for the few places a library insists on HTML (MapLibre's attribution control). */
export function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => (
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]
  ));
}

let toastTimer = null;

/** Show a short message at the bottom of the screen; `kind` is 'info' or 'error'. */
export function toast(message, kind = 'info', durationMs = 5000) {
  const box = document.getElementById('toast');
  if (!box) return;
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, durationMs);
}

/**
 * Fetch JSON from our API; throw an Error with the API's `detail` when the answer is not OK.
 * `cache: 'no-cache'` asks the server again even for an answer the browser still holds.
 */
export async function getJSON(url, { signal, cache = 'default' } = {}) {
  const response = await fetch(url, {
    signal,
    cache,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.detail) detail = body.detail;
    } catch { /* not JSON: keep the status */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

/** Format a number in the page's language. */
export function number(value, options = {}) {
  return Number(value).toLocaleString(document.documentElement.lang || 'vi', options);
}
