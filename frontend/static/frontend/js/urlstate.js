// The shareable view in the URL's fragment:
//   #map=zoom/lat/lon[/bearing/pitch]&layers=slug,slug&feature=slug/id
//   [&compare=slug,slug&divider=percent[&compare_as_of=YYYY-MM-DD]]  (compare.js: the left side)
//   [&time=YYYY-MM-DD]  (the day the time-enabled layers are drawn at: the time slider's)
// `layers=` lists the layers on in drawing order, bottom first (order.js), so a link keeps the stack.
// It changes as the view moves (replaceState: no history entry per pan) and restores on load.

/** Parse the fragment into {view: {zoom, center, bearing, pitch} | null, layers: [] | null, feature}. */
export function readState(hash = window.location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const state = { view: null, layers: null, feature: null, compare: null, time: null };
  const map = (params.get('map') || '').split('/').map(Number);
  if (map.length >= 3 && map.slice(0, 3).every(Number.isFinite)) {
    const [zoom, lat, lon, bearing = 0, pitch = 0] = map;
    if (Math.abs(lat) <= 85 && Math.abs(lon) <= 180 && zoom >= 0 && zoom <= 24) {
      state.view = {
        zoom, center: [lon, lat],
        bearing: Number.isFinite(bearing) ? bearing : 0,
        pitch: Number.isFinite(pitch) ? Math.min(Math.max(pitch, 0), 85) : 0,
      };
    }
  }
  if (params.has('layers')) state.layers = params.get('layers').split(',').filter(Boolean);
  const feature = (params.get('feature') || '').split('/');
  if (feature.length === 2 && feature[0] && /^\d+$/.test(feature[1])) {
    state.feature = { layer: feature[0], id: Number(feature[1]) };
  }
  const time = params.get('time') || '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(time) && !Number.isNaN(Date.parse(time))) state.time = time;
  if (params.has('compare')) {
    const divider = Number.parseFloat(params.get('divider'));
    const asOf = params.get('compare_as_of') || '';
    state.compare = {
      layers: params.get('compare').split(',').filter(Boolean),
      divider: Number.isFinite(divider) ? Math.min(100, Math.max(0, divider)) : null,
      asOf: /^\d{4}-\d{2}-\d{2}$/.test(asOf) ? asOf : null,
    };
  }
  return state;
}

/** Return the fragment describing this view and these layers (`time`: the time slider's day). */
export function stateFragment(map, layersOn, feature = null, compare = null, time = null) {
  const center = map.getCenter();
  const parts = [
    map.getZoom().toFixed(2), center.lat.toFixed(5), center.lng.toFixed(5),
  ];
  const bearing = Math.round(map.getBearing());
  const pitch = Math.round(map.getPitch());
  if (bearing || pitch) parts.push(String(bearing), String(pitch));
  let fragment = `#map=${parts.join('/')}&layers=${[...layersOn].join(',')}`;
  if (feature) fragment += `&feature=${feature.layer}/${feature.id}`;
  if (compare) {
    fragment += `&compare=${compare.layers.join(',')}&divider=${compare.divider}`;
    if (compare.asOf) fragment += `&compare_as_of=${compare.asOf}`;
  }
  if (time) fragment += `&time=${time}`;
  return fragment;
}

/** Put the current view in the address bar without adding a history entry. */
export function writeState(map, layersOn, feature = null, compare = null, time = null) {
  const url = `${window.location.pathname}${window.location.search}${stateFragment(map, layersOn, feature, compare, time)}`;
  window.history.replaceState(null, '', url);
}

/**
 * Return the state the map opens with: the address's fragment when it names a view or layers,
 * else the saved map the page was opened for (/m/{code}: `config.saved`, whose composition the
 * server has already filtered for this visitor, maps/composition.py), else an empty state.
 */
export function initialState(config, hash = window.location.hash) {
  const state = readState(hash);
  const saved = config.saved?.state;
  if (!saved || state.view || state.layers) return state;
  const { center, zoom, bearing = 0, pitch = 0 } = saved.view;
  return {
    view: { center, zoom, bearing, pitch },
    layers: saved.layers.map((layer) => layer.slug),
    feature: saved.feature || null,
    compare: saved.compare || null,
    opacity: Object.fromEntries(saved.layers.filter((layer) => (layer.opacity ?? 1) < 1)
      .map((layer) => [layer.slug, layer.opacity])),
    table: saved.table || null,
    time: saved.time || null,
  };
}
