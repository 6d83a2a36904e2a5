// The REST API's feature writes as the web map makes them: session cookie and CSRF token, the
// feature's version in `If-Match`, and `X-Mapserver-Client: map` so the history says "web map".
// Loaded with the editing tools and the popup's history, not with the first page.

const CLIENT_HEADER = 'X-Mapserver-Client';

/** An answer of the API that is not a success: its status and its JSON body ({code, detail, …}). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code;
    this.parameter = this.body.parameter;
  }
}

function csrfToken() {
  const pair = document.cookie.split(';').map((item) => item.trim()).find((item) => item.startsWith('csrftoken='));
  return pair ? decodeURIComponent(pair.slice('csrftoken='.length)) : '';
}

/** Return the `If-Match` value of a feature's version. */
export function etagOf(id, version) {
  return `"${id}-${version}"`;
}

/** Return the version an ETag names ("12-3" → 3), or null. */
export function versionOfEtag(etag) {
  const match = /"?\d+-(\d+)"?$/.exec(etag || '');
  return match ? Number(match[1]) : null;
}

/**
 * Send a request to the API; return {status, body, etag}. A JSON `body` is sent as JSON, a
 * FormData as multipart. Throws ApiError on an answer that is not 2xx.
 */
export async function send(method, url, { body, etag, signal } = {}) {
  const headers = { Accept: 'application/json', [CLIENT_HEADER]: 'map' };
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
  if (etag) headers['If-Match'] = etag;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body: payload, credentials: 'same-origin', signal });
  let json = null;
  if (response.status !== 204) {
    try { json = await response.json(); } catch { json = null; }
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return { status: response.status, body: json, etag: response.headers.get('ETag') };
}

/** The API's addresses for one layer's features. */
export function urls(config, slug) {
  const layer = encodeURIComponent(slug);
  const features = config.urls.features.replace('{layer}', layer);
  const feature = (id) => config.urls.feature.replace('{layer}', layer).replace('{id}', String(id));
  return {
    layer: config.urls.layer.replace('{layer}', layer),
    features,
    feature,
    history: (id) => `${feature(id)}history/`,
    restore: (id) => `${feature(id)}restore/`,
    attachments: (id) => `${feature(id)}attachments/`,
    attachment: (id, attachmentId) => `${feature(id)}attachments/${attachmentId}/`,
  };
}

/** Return a feature with its version (from the body, else from the ETag) and its ETag. */
export async function loadFeature(config, slug, id) {
  const { body, etag } = await send('GET', urls(config, slug).feature(id));
  const version = body.version ?? versionOfEtag(etag);
  return { feature: body, version, etag: etag || etagOf(body.id ?? id, version) };
}

/**
 * Restore a past version of a feature (itself a new, recorded change); `etag`, when given, names
 * the version the restore is meant to replace.
 */
export function restoreVersion(config, slug, id, version, etag = undefined) {
  return send('POST', urls(config, slug).restore(id), { body: { version }, etag });
}
