// Print to PDF: a panel where a planner picks paper, orientation, scale, resolution and grid, and
// gets a PDF page with the map, title, legend, scale bar, north arrow, grid, credits, date and notes.
//
// The map is drawn again, off screen, by a second MapLibre map the size of the page's map frame in
// CSS pixels with pixelRatio = dpi/96: its canvas holds the frame at the chosen dpi (a 300 dpi A3
// frame is ~4,700 px wide), never a screenshot stretched. Everything else on the page is vector
// (jsPDF), its text in Noto Sans (the map's label font: Vietnamese included), embedded as a subset.
// The legend's symbols come from legend.js (`legendRows`, read from the drawn style), redrawn here
// as PDF shapes. Loaded with jsPDF and the fonts the first time the panel is opened (main.js).

import * as maplibregl from 'maplibre-gl';

import { _, attributionText, fmt, h, number, toast } from './dom.js';
import { legendRows } from './legend.js';
import {
  CSS_PX_PER_MM, DEGREE_STEPS, DPIS, METRE_STEPS, SCALES, frameCssPx, gridStep, gridValues,
  pageLayout, scaleAtZoom, scaleBarMetres, zoomForScale,
} from './printlayout.js';

const CSS_URL = new URL('../print.css', import.meta.url).href;
const FONT_URLS = {
  normal: new URL('../../vendor/fonts/NotoSans-Regular.ttf', import.meta.url).href,
  bold: new URL('../../vendor/fonts/NotoSans-Bold.ttf', import.meta.url).href,
};
const FONT = 'NotoSans';
const RENDER_TIMEOUT_MS = 90000;
const PT_MM = 25.4 / 72;
const SWATCH_MM_PER_UNIT = 0.25; // legend.js draws its swatches 28 × 18 units: 7 × 4.5 mm here
const GRID_SAMPLES = 24; // points along each VN-2000 grid line (they curve a little in Mercator)
const INK = [31, 41, 55];
const MUTED = [75, 85, 99];

let librariesLoading = null;

/** Return the binary string of a font file, as jsPDF's virtual file system takes it. */
async function fontFile(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(fmt(_('the font could not be loaded (HTTP %(status)s)'), { status: response.status }));
  const bytes = new Uint8Array(await response.arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return text;
}

/** Return jsPDF and the fonts, fetched the first time (jsPDF's one-file build sets globalThis.jspdf). */
function loadLibraries() {
  librariesLoading ??= Promise.all([
    import('jspdf').then(() => {
      if (!globalThis.jspdf?.jsPDF) throw new Error('jsPDF did not load');
      return globalThis.jspdf.jsPDF;
    }),
    fontFile(FONT_URLS.normal),
    fontFile(FONT_URLS.bold),
  ]).then(([jsPDF, normal, bold]) => ({ jsPDF, fonts: { normal, bold } }))
    .catch((error) => { librariesLoading = null; throw error; });
  return librariesLoading;
}

/** Add the panel's stylesheet to the page once; resolve when it applies. */
function loadStylesheet() {
  if ([...document.querySelectorAll('link[rel="stylesheet"]')].some((link) => link.href === CSS_URL)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const link = h('link', { rel: 'stylesheet', href: CSS_URL });
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => reject(new Error(_('its stylesheet did not load'))));
    document.head.append(link);
  });
}

/** Return the largest canvas side this browser's WebGL draws (the off-screen map stays within it). */
function maxCanvasPx() {
  const gl = document.createElement('canvas').getContext('webgl2') || document.createElement('canvas').getContext('webgl');
  if (!gl) return 4096;
  const viewport = gl.getParameter(gl.MAX_VIEWPORT_DIMS);
  const limit = Math.min(gl.getParameter(gl.MAX_RENDERBUFFER_SIZE), gl.getParameter(gl.MAX_TEXTURE_SIZE), viewport[0], viewport[1]);
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return limit;
}

// --- Colours ---------------------------------------------------------------------------------------

const probe = document.createElement('canvas').getContext('2d');

/** Return [r, g, b, alpha] of any CSS colour (the canvas normalises it), or null for none. */
function rgba(colour) {
  if (colour === null || colour === undefined || colour === 'none' || colour === '') return null;
  probe.fillStyle = '#000000';
  probe.fillStyle = String(colour);
  const value = probe.fillStyle;
  if (value.startsWith('#')) return [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16)).concat(1);
  const parts = value.match(/[\d.]+/g).map(Number);
  return [parts[0], parts[1], parts[2], parts[3] ?? 1];
}

// --- The map ---------------------------------------------------------------------------------------

/** Return the layers the page's legend lists: those on and drawn at `zoom`, top first. */
export function printedLayers(webmap, zoom) {
  return webmap.order.slugs.filter((slug) => webmap.on.has(slug)).reverse()
    .map((slug) => webmap.bySlug.get(slug))
    .filter((layer) => layer && layer.min_zoom <= zoom + 1e-9);
}

/** Return the camera of the print: the screen map's centre at the scale asked, or its view fitted. */
function printCamera(webmap, scale, cssSize) {
  const { map } = webmap;
  const center = map.getCenter();
  if (scale) return { center, zoom: zoomForScale(scale, center.lat) };
  const screen = map.getContainer();
  const fit = Math.min(cssSize.width / screen.clientWidth, cssSize.height / screen.clientHeight);
  return { center, zoom: map.getZoom() + Math.log2(fit) };
}

/** Wait until a map has drawn everything (or say why it did not in time). */
function whenIdle(map) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(_('the map took too long to draw'))), RENDER_TIMEOUT_MS);
    map.once('idle', () => { clearTimeout(timer); resolve(); });
  });
}

/** Return the grid lines over the frame, in CSS px of the frame: [{points, label, axis}]. */
async function gridLines(printMap, grid, webmap, canvas) {
  if (grid === 'none') return [];
  const bounds = printMap.getBounds();
  const mid = bounds.getCenter();
  const lines = [];
  if (grid === 'wgs84') {
    const step = gridStep(Math.max(bounds.getEast() - bounds.getWest(), bounds.getNorth() - bounds.getSouth()), DEGREE_STEPS);
    const digits = Math.max(0, -Math.floor(Math.log10(step)) + (String(step).includes('5') || String(step).includes('2') ? 1 : 0));
    const degrees = (value) => `${number(value, { minimumFractionDigits: digits, maximumFractionDigits: digits })}°`;
    for (const lon of gridValues(bounds.getWest(), bounds.getEast(), step)) {
      const { x } = printMap.project([lon, mid.lat]);
      lines.push({ axis: 'x', label: `${degrees(lon)} ${_('E')}`, points: [[x, 0], [x, canvas.height]] });
    }
    for (const lat of gridValues(bounds.getSouth(), bounds.getNorth(), step)) {
      const { y } = printMap.project([mid.lng, lat]);
      lines.push({ axis: 'y', label: `${degrees(lat)} ${_('N')}`, points: [[0, y], [canvas.width, y]] });
    }
    return lines;
  }
  // VN-2000 / TM-3: lines of equal easting (Y) and northing (X), through the coordinates bar's proj4.
  const converter = await webmap.coordinates.transformer();
  const corners = [[bounds.getWest(), bounds.getSouth()], [bounds.getEast(), bounds.getSouth()],
    [bounds.getEast(), bounds.getNorth()], [bounds.getWest(), bounds.getNorth()]].map((corner) => converter.forward(corner));
  const eastings = corners.map((corner) => corner[0]);
  const northings = corners.map((corner) => corner[1]);
  const [minE, maxE, minN, maxN] = [Math.min(...eastings), Math.max(...eastings), Math.min(...northings), Math.max(...northings)];
  const step = gridStep(Math.max(maxE - minE, maxN - minN), METRE_STEPS);
  const metres = (value) => number(value, { maximumFractionDigits: 0, useGrouping: false });
  const along = (fixed, low, high, toPoint) => Array.from({ length: GRID_SAMPLES + 1 }, (_unused, i) => {
    const lonLat = converter.inverse(toPoint(fixed, low + ((high - low) * i) / GRID_SAMPLES));
    const { x, y } = printMap.project(lonLat);
    return [x, y];
  });
  for (const easting of gridValues(minE, maxE, step)) {
    lines.push({ axis: 'x', label: `Y ${metres(easting)}`, points: along(easting, minN, maxN, (e, n) => [e, n]) });
  }
  for (const northing of gridValues(minN, maxN, step)) {
    lines.push({ axis: 'y', label: `X ${metres(northing)}`, points: along(northing, minE, maxE, (n, e) => [e, n]) });
  }
  return lines;
}

/**
 * Draw the map off screen for the frame and return what the page needs from it: its image (a
 * canvas at the print's dpi), the scale it is at, the legend's rows, the grid and the credits.
 */
async function renderMap(webmap, { cssSize, dpi, scale, grid }) {
  const camera = printCamera(webmap, scale, cssSize);
  const limit = maxCanvasPx();
  const container = h('div', { class: 'print-render', 'aria-hidden': 'true' });
  container.style.width = `${cssSize.width}px`;
  container.style.height = `${cssSize.height}px`;
  document.body.append(container);
  const printMap = new maplibregl.Map({
    container,
    style: webmap.map.getStyle(),
    center: camera.center,
    zoom: camera.zoom,
    bearing: 0, // a printed planning map is north up: its arrow and grid say so
    pitch: 0,
    interactive: false,
    attributionControl: false,
    fadeDuration: 0,
    pixelRatio: dpi / 96,
    maxCanvasSize: [limit, limit],
    // Without it the canvas may be cleared before it is read.
    canvasContextAttributes: { preserveDrawingBuffer: true, antialias: true },
  });
  try {
    await whenIdle(printMap);
    const zoom = printMap.getZoom();
    const layers = printedLayers(webmap, zoom);
    const background = printMap.getStyle().layers.find((layer) => layer.type === 'background')?.paint?.['background-color'];
    const source = printMap.getCanvas();
    // The image is copied out: the WebGL canvas goes with the map.
    const image = document.createElement('canvas');
    image.width = source.width;
    image.height = source.height;
    image.getContext('2d').drawImage(source, 0, 0);
    const credits = [...new Set([
      ...layers.map((layer) => attributionText(layer.attribution).trim()),
      webmap.config.basemap?.url ? attributionText(webmap.config.basemap.attribution).trim() : '',
    ].filter(Boolean))];
    return {
      image,
      dpi: 96 * printMap.getPixelRatio(),
      zoom,
      lat: printMap.getCenter().lat,
      scale: scaleAtZoom(zoom, printMap.getCenter().lat),
      legend: layers.map((layer) => ({ layer, rows: legendRows(printMap, layer) })),
      background: typeof background === 'string' ? background : '#ffffff',
      grid: await gridLines(printMap, grid, webmap, cssSize),
      credits,
    };
  } finally {
    printMap.remove();
    container.remove();
  }
}

// --- The page ----------------------------------------------------------------------------------------

class PageWriter {
  /** Write on a jsPDF document in mm, Noto Sans for all text. */
  constructor(doc) {
    this.doc = doc;
  }

  font(size, weight = 'normal', colour = INK) {
    this.doc.setFont(FONT, weight);
    this.doc.setFontSize(size);
    this.doc.setTextColor(...colour);
    return this;
  }

  lineMm(size) {
    return size * PT_MM * 1.2;
  }

  /** Write wrapped text from its top left; return the height used. */
  paragraph(text, x, y, width, size, weight = 'normal', colour = INK) {
    this.font(size, weight, colour);
    const lines = this.doc.splitTextToSize(String(text), width);
    this.doc.text(lines, x, y, { baseline: 'top', lineHeightFactor: 1.2 });
    return lines.length * this.lineMm(size);
  }

  fill(colour) {
    const [r, g, b, alpha] = colour;
    this.doc.setFillColor(r, g, b);
    return alpha;
  }

  /** Set fill and stroke opacity (1 resets). */
  opacity(fill = 1, stroke = fill) {
    this.doc.setGState(new this.doc.GState({ opacity: fill, 'stroke-opacity': stroke }));
  }
}

/** Draw one of legend.js's swatches (an SVG of rect, path, circle, image and text) as PDF shapes. */
function drawSwatch(writer, picture, x, y, background) {
  const { doc } = writer;
  const k = SWATCH_MM_PER_UNIT;
  const w = Number(picture.getAttribute('width')) * k;
  const hMm = Number(picture.getAttribute('height')) * k;
  writer.fill(rgba(background));
  doc.roundedRect(x, y, w, hMm, 0.6, 0.6, 'F');
  for (const shape of picture.children) {
    const at = (name, fallback = 0) => (shape.hasAttribute(name) ? Number(shape.getAttribute(name)) : fallback);
    const fill = rgba(shape.getAttribute('fill'));
    const stroke = rgba(shape.getAttribute('stroke'));
    const fillOpacity = at('fill-opacity', 1) * (fill?.[3] ?? 1);
    const strokeOpacity = at('stroke-opacity', 1) * (stroke?.[3] ?? 1);
    if (fill) writer.fill(fill);
    if (stroke) doc.setDrawColor(stroke[0], stroke[1], stroke[2]);
    doc.setLineWidth(at('stroke-width', 1) * k);
    const dashes = shape.getAttribute('stroke-dasharray');
    doc.setLineDashPattern(dashes ? dashes.split(/[\s,]+/).map((dash) => Number(dash) * k) : [], 0);
    writer.opacity(fillOpacity, strokeOpacity);
    const style = fill && stroke ? 'FD' : (fill ? 'F' : 'S');
    if (shape.tagName === 'rect' && (fill || stroke)) {
      const r = at('rx') * k;
      doc.roundedRect(x + at('x') * k, y + at('y') * k, at('width') * k, at('height') * k, r, r, style);
    } else if (shape.tagName === 'path' && stroke) {
      const [x1, y1, x2, y2] = (shape.getAttribute('d').match(/-?[\d.]+/g) || []).map(Number);
      doc.line(x + x1 * k, y + y1 * k, x + x2 * k, y + y2 * k);
    } else if (shape.tagName === 'circle' && (fill || stroke)) {
      doc.circle(x + at('cx') * k, y + at('cy') * k, at('r') * k, style);
    } else if (shape.tagName === 'image') {
      writer.opacity(at('opacity', 1));
      doc.addImage(shape.getAttribute('href'), 'PNG', x + at('x') * k, y + at('y') * k, at('width') * k, at('height') * k);
    } else if (shape.tagName === 'text' && fill) {
      writer.font(at('font-size', 12) * k / PT_MM, 'bold', fill.slice(0, 3));
      doc.text(shape.textContent, x + at('x') * k, y + at('y') * k, { align: 'center' });
    }
    writer.opacity(1);
    doc.setLineDashPattern([], 0);
  }
  return hMm;
}

/** Draw the legend in its box: each layer's title and its symbols (one per class). */
function drawLegend(writer, box, legend, background) {
  const { doc } = writer;
  let y = box.y;
  y += writer.paragraph(_('Legend'), box.x, y, box.w, 11, 'bold') + 1.5;
  const swatchW = 28 * SWATCH_MM_PER_UNIT;
  const textX = box.x + swatchW + 2;
  const bottom = box.y + box.h;
  for (let index = 0; index < legend.length; index += 1) {
    const { layer, rows } = legend[index];
    const single = rows.length === 1 && !rows[0].label;
    const need = single ? 5 : 5 + rows.length * 5;
    if (y + Math.min(need, 10) > bottom) {
      writer.paragraph(fmt(_('… and %(count)s more layers'), { count: legend.length - index }), box.x, y, box.w, 8, 'normal', MUTED);
      break;
    }
    if (single) {
      drawSwatch(writer, rows[0].svg, box.x, y, background);
      y += Math.max(5, writer.paragraph(layer.title, textX, y + 0.2, box.w - swatchW - 2, 8.5, 'bold')) + 1;
      continue;
    }
    y += writer.paragraph(layer.title, box.x, y, box.w, 8.5, 'bold') + 0.8;
    for (const row of rows) {
      if (y + 5 > bottom) break;
      drawSwatch(writer, row.svg, box.x + 2, y, background);
      y += Math.max(5, writer.paragraph(row.label, textX + 2, y + 0.4, box.w - swatchW - 4, 7.5, 'normal', row.other ? MUTED : INK)) + 0.3;
    }
    y += 1;
  }
  doc.setLineWidth(0.2);
}

/** Draw the grid lines over the frame (clipped to it), each labelled at the frame's edge. */
function drawGrid(writer, frame, lines) {
  if (!lines.length) return;
  const { doc } = writer;
  const toMm = ([x, y]) => [frame.x + x / CSS_PX_PER_MM, frame.y + y / CSS_PX_PER_MM];
  doc.saveGraphicsState();
  doc.rect(frame.x, frame.y, frame.w, frame.h, null);
  doc.clip();
  doc.discardPath();
  doc.setDrawColor(30, 64, 175);
  doc.setLineWidth(0.15);
  writer.opacity(1, 0.75);
  for (const line of lines) {
    const points = line.points.map(toMm);
    const [first, ...rest] = points;
    doc.lines(rest.map((point, i) => [point[0] - points[i][0], point[1] - points[i][1]]), first[0], first[1], [1, 1], 'S');
  }
  writer.opacity(1);
  writer.font(6, 'normal', [30, 64, 175]);
  for (const line of lines) {
    const points = line.points.map(toMm);
    if (line.axis === 'x') {
      const top = points.reduce((a, b) => (a[1] < b[1] ? a : b));
      if (top[0] > frame.x + 2 && top[0] < frame.x + frame.w - 2) doc.text(line.label, top[0] + 0.8, frame.y + 1, { baseline: 'top' });
    } else {
      const left = points.reduce((a, b) => (a[0] < b[0] ? a : b));
      if (left[1] > frame.y + 4 && left[1] < frame.y + frame.h - 2) doc.text(line.label, frame.x + 1, left[1] - 0.8);
    }
  }
  doc.restoreGraphicsState();
}

/** Draw the north arrow in the frame's top right corner (the print is north up). */
function drawNorthArrow(writer, frame) {
  const { doc } = writer;
  const cx = frame.x + frame.w - 9;
  const cy = frame.y + 11;
  doc.setFillColor(255, 255, 255);
  writer.opacity(0.85, 1);
  doc.circle(cx, cy, 6.5, 'F');
  writer.opacity(1);
  doc.setDrawColor(...INK);
  doc.setLineWidth(0.25);
  doc.setFillColor(...INK);
  doc.triangle(cx, cy - 4.5, cx - 2.4, cy + 3.5, cx, cy + 2, 'FD');
  doc.setFillColor(255, 255, 255);
  doc.triangle(cx, cy - 4.5, cx + 2.4, cy + 3.5, cx, cy + 2, 'FD');
  writer.font(7, 'bold');
  doc.text(_('N'), cx, cy - 5, { align: 'center' });
}

/** Return a ground length as written on the bar: "250 m", "1 km". */
function groundText(metres) {
  return metres >= 1000 ? `${number(metres / 1000)} km` : `${number(metres)} m`;
}

/** Draw the scale bar in the frame's lower left corner: four segments and their lengths. */
function drawScaleBar(writer, frame, scale) {
  const { doc } = writer;
  const metres = scaleBarMetres(scale, Math.min(50, frame.w / 4));
  const lengthMm = (metres / scale) * 1000;
  const x = frame.x + 4;
  const y = frame.y + frame.h - 9;
  doc.setFillColor(255, 255, 255);
  writer.opacity(0.85, 1);
  doc.rect(frame.x + 1.5, y - 4.5, lengthMm + 12, 9, 'F');
  writer.opacity(1);
  doc.setDrawColor(...INK);
  doc.setLineWidth(0.2);
  const part = lengthMm / 4;
  for (let i = 0; i < 4; i += 1) {
    doc.setFillColor(...(i % 2 ? [255, 255, 255] : INK));
    doc.rect(x + i * part, y, part, 1.4, 'FD');
  }
  writer.font(6.5);
  doc.text('0', x, y - 0.8, { align: 'center' });
  doc.text(groundText(metres / 2), x + lengthMm / 2, y - 0.8, { align: 'center' });
  doc.text(groundText(metres), x + lengthMm, y - 0.8, { align: 'center' });
}

/** Return "1:5.000" (rounded to what a person would say: 4 significant digits at most). */
export function scaleText(scale) {
  const digits = Math.max(0, Math.floor(Math.log10(scale)) - 3);
  const rounded = Math.round(scale / 10 ** digits) * 10 ** digits;
  return `1:${number(rounded, { maximumFractionDigits: 0 })}`;
}

/** Draw the scale said in words, the notes box and the credits in the info box. */
function drawInfo(writer, box, { rendered, notes, date, grid, crsName }) {
  const { doc } = writer;
  let y = box.y;
  y += writer.paragraph(fmt(_('Scale %(scale)s'), { scale: scaleText(rendered.scale) }), box.x, y, box.w, 11, 'bold');
  const latitude = number(rendered.lat, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  y += writer.paragraph(fmt(_('at the centre of the map (latitude %(lat)s°), printed at %(dpi)s dpi'), {
    lat: latitude, dpi: Math.round(rendered.dpi),
  }), box.x, y, box.w, 7, 'normal', MUTED) + 2;
  // The credits and the date go at the bottom; the notes box fills what is between.
  const gridName = { wgs84: 'WGS 84', vn2000: crsName }[grid];
  const credits = [
    fmt(_('Data: %(credits)s'), { credits: rendered.credits.join('; ') || '—' }),
    gridName ? fmt(_('Grid: %(name)s'), { name: gridName }) : null,
    fmt(_('Printed on %(date)s'), { date }),
  ].filter(Boolean);
  writer.font(7);
  const creditLines = credits.flatMap((line) => doc.splitTextToSize(line, box.w));
  const creditsH = creditLines.length * writer.lineMm(7);
  const notesBottom = box.y + box.h - creditsH - 2;
  y += writer.paragraph(_('Notes'), box.x, y, box.w, 9, 'bold') + 0.8;
  doc.setDrawColor(...MUTED);
  doc.setLineWidth(0.2);
  doc.rect(box.x, y, box.w, Math.max(8, notesBottom - y));
  if (notes) {
    writer.font(8);
    const lines = doc.splitTextToSize(notes, box.w - 3);
    const fits = Math.max(1, Math.floor((notesBottom - y - 2) / writer.lineMm(8)));
    doc.text(lines.slice(0, fits), box.x + 1.5, y + 1.5, { baseline: 'top', lineHeightFactor: 1.2 });
  }
  writer.font(7, 'normal', MUTED);
  doc.text(creditLines, box.x, box.y + box.h - creditsH, { baseline: 'top', lineHeightFactor: 1.2 });
}

/** Return a file name for the PDF from its title: "ban-do-quy-hoach-2025-12-05.pdf". */
export function pdfName(title, isoDate) {
  const slug = title.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd')
    .toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
  return `${slug || 'ban-do'}-${isoDate}.pdf`;
}

/**
 * Make the PDF of the map as the options say: {paper, orientation, scale (N, or 0 for the
 * current view), dpi, grid ('none', 'wgs84', 'vn2000'), title, notes}. Return {blob, name, info}.
 */
export async function makePdf(webmap, options) {
  const { jsPDF, fonts } = await loadLibraries();
  const layout = pageLayout(options.paper, options.orientation);
  const cssSize = frameCssPx(layout.frame);
  const rendered = await renderMap(webmap, { cssSize, dpi: options.dpi, scale: options.scale, grid: options.grid });
  const doc = new jsPDF({ orientation: options.orientation, unit: 'mm', format: options.paper, compress: true });
  doc.addFileToVFS('NotoSans-Regular.ttf', fonts.normal);
  doc.addFont('NotoSans-Regular.ttf', FONT, 'normal');
  doc.addFileToVFS('NotoSans-Bold.ttf', fonts.bold);
  doc.addFont('NotoSans-Bold.ttf', FONT, 'bold');
  const writer = new PageWriter(doc);
  const now = new Date();
  const date = now.toLocaleDateString(document.documentElement.lang || 'vi', { day: '2-digit', month: '2-digit', year: 'numeric' });
  const title = options.title.trim() || _('Huế city map');
  doc.setProperties({ title, subject: fmt(_('Scale %(scale)s'), { scale: scaleText(rendered.scale) }), creator: document.title });

  const { header, frame } = layout;
  writer.paragraph(title, header.x, header.y, header.w - 45, 16, 'bold');
  writer.font(8, 'normal', MUTED);
  doc.text(date, header.x + header.w, header.y + 1.5, { align: 'right', baseline: 'top' });
  doc.setDrawColor(...INK);
  doc.setLineWidth(0.4);
  doc.line(header.x, header.y + header.h - 2.5, header.x + header.w, header.y + header.h - 2.5);

  // The map at its physical size: the image's pixels per mm are the dpi asked for.
  doc.addImage(rendered.image, 'PNG', frame.x, frame.y, frame.w, frame.h, 'map', 'FAST');
  drawGrid(writer, frame, rendered.grid);
  drawNorthArrow(writer, frame);
  drawScaleBar(writer, frame, rendered.scale);
  doc.setDrawColor(...INK);
  doc.setLineWidth(0.35);
  doc.rect(frame.x, frame.y, frame.w, frame.h);

  drawLegend(writer, layout.legend, rendered.legend, rendered.background);
  drawInfo(writer, layout.info, {
    rendered, notes: options.notes.trim(), date, grid: options.grid, crsName: webmap.config.projected_crs?.name || 'VN-2000',
  });
  const isoDate = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
  return {
    blob: doc.output('blob'),
    name: pdfName(title, isoDate),
    info: {
      dpi: rendered.dpi, scale: rendered.scale, zoom: rendered.zoom,
      imagePx: [rendered.image.width, rendered.image.height], frameMm: [frame.w, frame.h],
      legend: rendered.legend.map((entry) => entry.layer.slug),
    },
  };
}

// --- The panel -------------------------------------------------------------------------------------

/** Return the print panel of the map, its stylesheet and libraries loaded. */
export async function createPrintPanel({ webmap }) {
  await Promise.all([loadStylesheet(), loadLibraries()]);
  return new PrintPanel({ webmap });
}

export class PrintPanel {
  constructor({ webmap }) {
    this.webmap = webmap;
    this.busy = false;
    this.lastInfo = null;
    const select = (id, label, options, value) => h('label', { for: id }, label,
      h('select', { id, name: id }, options.map(([optionValue, text]) => h('option', { value: optionValue, selected: String(optionValue) === String(value) }, text))));
    const grids = [['none', _('No grid')], ['wgs84', _('WGS 84 (degrees)')]];
    if (webmap.config.projected_crs) grids.push(['vn2000', fmt(_('%(name)s (metres)'), { name: webmap.config.projected_crs.name })]);
    this.status = h('p', { id: 'print-status', class: 'print-status', role: 'status', 'aria-live': 'polite' });
    this.button = h('button', { type: 'submit', id: 'print-make', class: 'primary' }, _('Create PDF'));
    this.form = h('form', { id: 'print-form', class: 'print-form', onsubmit: (event) => { event.preventDefault(); this.print(); } },
      h('label', { for: 'print-title' }, _('Title'),
        h('input', { id: 'print-title', name: 'title', type: 'text', maxlength: 120, value: _('Huế city map') })),
      h('div', { class: 'print-row' },
        select('print-paper', _('Paper'), [['a4', 'A4'], ['a3', 'A3']], 'a4'),
        select('print-orientation', _('Orientation'), [['landscape', _('Landscape')], ['portrait', _('Portrait')]], 'landscape')),
      h('div', { class: 'print-row' },
        select('print-scale', _('Scale'), [[0, _('Current view')], ...SCALES.map((scale) => [scale, `1:${number(scale)}`])], 0),
        select('print-dpi', _('Resolution'), DPIS.map((dpi) => [dpi, `${dpi} dpi`]), 150)),
      select('print-grid', _('Coordinate grid'), grids, 'none'),
      h('label', { for: 'print-notes' }, _('Notes'),
        h('textarea', { id: 'print-notes', name: 'notes', rows: 3, maxlength: 1000 })),
      h('p', { class: 'hint' }, _('The map is printed north up around the centre of the current view.')),
      this.button, this.status);
    this.panel = h('section', { id: 'print-panel', class: 'print-panel', 'aria-labelledby': 'print-heading', hidden: true },
      h('div', { class: 'print-head' },
        h('h2', { id: 'print-heading' }, _('Print to PDF')),
        h('button', { type: 'button', class: 'print-close', 'aria-label': _('Close the print panel'), title: _('Close the print panel'), onclick: () => webmap.togglePrint(false) }, '×')),
      this.form);
    webmap.map.getContainer().parentElement.append(this.panel);
  }

  get open() {
    return !this.panel.hidden;
  }

  show(on) {
    this.panel.hidden = !on;
    if (on) this.form.elements.title.focus();
  }

  options() {
    const { elements } = this.form;
    return {
      title: elements.title.value, notes: elements.notes.value,
      paper: elements['print-paper'].value, orientation: elements['print-orientation'].value,
      scale: Number(elements['print-scale'].value), dpi: Number(elements['print-dpi'].value),
      grid: elements['print-grid'].value,
    };
  }

  /** Make the PDF and download it; return what was printed (the tests read it). */
  async print() {
    if (this.busy) return null;
    this.busy = true;
    this.button.disabled = true;
    this.status.classList.remove('error');
    this.status.textContent = _('Drawing the map at print resolution…');
    const options = this.options();
    try {
      const { blob, name, info } = await makePdf(this.webmap, options);
      const link = h('a', { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 30000);
      this.lastInfo = info;
      const lowered = Math.round(info.dpi) < options.dpi;
      this.status.textContent = lowered
        ? fmt(_('This browser can draw the map at %(dpi)s dpi at most on this paper: the PDF is at that resolution.'), { dpi: Math.round(info.dpi) })
        : fmt(_('The PDF is downloading (%(scale)s).'), { scale: scaleText(info.scale) });
      return info;
    } catch (error) {
      this.status.textContent = fmt(_('The PDF could not be made (%(reason)s).'), { reason: error.message });
      this.status.classList.add('error');
      toast(this.status.textContent, 'error');
      return null;
    } finally {
      this.busy = false;
      this.button.disabled = false;
    }
  }
}
