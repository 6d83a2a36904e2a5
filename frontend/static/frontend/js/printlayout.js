// The arithmetic of a printed map, apart from the browser: paper sizes, where each part of the page
// goes, the zoom that gives a scale of 1:N on paper, and the round steps of scale bars and grids.
// Lengths on paper are in millimetres; the map is drawn in CSS pixels of 1/96 inch.

export const PAPERS_MM = { a4: [210, 297], a3: [297, 420] };
export const SCALES = [500, 1000, 2000, 5000, 10000, 25000, 50000];
export const DPIS = [150, 300];
export const CSS_PX_PER_MM = 96 / 25.4;

const EARTH_CIRCUMFERENCE_M = 2 * Math.PI * 6378137; // Web Mercator's sphere at the equator
const TILE_PX = 512; // MapLibre's world is 512 CSS px wide at zoom 0
const MARGIN_MM = 10;
const HEADER_MM = 14;
const GAP_MM = 5;
const SIDE_MM = 64; // the legend's column beside the map on landscape paper
const BAND_MM = { a4: 66, a3: 84 }; // the band under the map on portrait paper

const rad = (degrees) => (degrees * Math.PI) / 180;

/**
 * Return the zoom at which the map prints at 1:`scale` at latitude `lat`: one CSS pixel on paper
 * (0.0254/96 m) covers `scale` times that on the ground, and a Web Mercator pixel covers
 * C·cos φ / (512·2^z) metres.
 */
export function zoomForScale(scale, lat) {
  const groundPerPx = (scale * 0.0254) / 96;
  return Math.log2((EARTH_CIRCUMFERENCE_M * Math.cos(rad(lat))) / (TILE_PX * groundPerPx));
}

/** Return N of the scale 1:N that a zoom gives on paper at latitude `lat` (zoomForScale's inverse). */
export function scaleAtZoom(zoom, lat) {
  const groundPerPx = (EARTH_CIRCUMFERENCE_M * Math.cos(rad(lat))) / (TILE_PX * 2 ** zoom);
  return (groundPerPx * 96) / 0.0254;
}

/**
 * Return where each part of the page goes, in mm from the top left: `page` [w, h], `header` (title
 * and date), `frame` (the map), `legend` and `info` (scale, notes, credits) boxes.
 */
export function pageLayout(paper, orientation) {
  const [short, long] = PAPERS_MM[paper];
  const landscape = orientation === 'landscape';
  const [width, height] = landscape ? [long, short] : [short, long];
  const header = { x: MARGIN_MM, y: MARGIN_MM, w: width - 2 * MARGIN_MM, h: HEADER_MM };
  const top = MARGIN_MM + HEADER_MM;
  const bottom = height - MARGIN_MM;
  if (landscape) {
    const frame = { x: MARGIN_MM, y: top, w: width - 2 * MARGIN_MM - SIDE_MM - GAP_MM, h: bottom - top };
    const side = { x: frame.x + frame.w + GAP_MM, y: top, w: SIDE_MM, h: frame.h };
    // The legend takes the top of the column, the notes and credits its lower part.
    const infoH = Math.min(95, side.h * 0.55);
    return {
      page: [width, height], header, frame,
      legend: { ...side, h: side.h - infoH - GAP_MM },
      info: { x: side.x, y: side.y + side.h - infoH, w: side.w, h: infoH },
    };
  }
  const bandH = BAND_MM[paper];
  const frame = { x: MARGIN_MM, y: top, w: width - 2 * MARGIN_MM, h: bottom - top - bandH - GAP_MM };
  const bandY = frame.y + frame.h + GAP_MM;
  const half = (frame.w - GAP_MM) / 2;
  return {
    page: [width, height], header, frame,
    legend: { x: MARGIN_MM, y: bandY, w: half, h: bandH },
    info: { x: MARGIN_MM + half + GAP_MM, y: bandY, w: half, h: bandH },
  };
}

/** Return the map frame's size in CSS pixels (what the off-screen map is laid out at). */
export function frameCssPx(frame) {
  return { width: Math.round(frame.w * CSS_PX_PER_MM), height: Math.round(frame.h * CSS_PX_PER_MM) };
}

/** Return the scale bar's ground length (m) for 1:`scale`: the longest round one within `maxMm`. */
export function scaleBarMetres(scale, maxMm) {
  const maxM = (maxMm / 1000) * scale;
  const power = 10 ** Math.floor(Math.log10(maxM));
  const step = [5, 2.5, 2, 1].find((factor) => factor * power <= maxM) || 1;
  return step * power;
}

/** Return a round grid step out of `steps` giving a few lines (about 3 to 7) over `span`. */
export function gridStep(span, steps) {
  return steps.find((step) => span / step <= 7) || steps[steps.length - 1];
}

export const DEGREE_STEPS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];
export const METRE_STEPS = [50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000];

/** Return the multiples of `step` between `low` and `high`. */
export function gridValues(low, high, step) {
  const values = [];
  for (let value = Math.ceil(low / step) * step; value <= high; value += step) {
    values.push(Number(value.toFixed(6)));
  }
  return values;
}
