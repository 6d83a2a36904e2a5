// Reading a coordinate a person types into "go to": VN-2000 X/Y in metres or latitude/longitude in
// degrees, in the notations Vietnamese planners and surveyors use. Pure functions (no map, no DOM),
// so the browser tests can run many inputs through them at once.
//
// Vietnamese surveying writes X for the northing and Y for the easting (X: 1820000, Y: 560000 in
// Huế), the reverse of the mathematician's x/y; decimals take a comma, thousands a dot.

import { _ } from './dom.js';

/** A coordinate that cannot be read; its message says what is wrong and how to write it. */
export class CoordinateError extends Error {}

// In Vietnam a TM-3 northing is 880 km (8.5°N) or more and an easting 500 km ± 200 km:
// the two never overlap, so a number's size tells which one it is.
export const NORTHING_MIN_M = 850000;
const EASTING_RANGE_M = [200000, 800000];

// A number: grouped with dots and a decimal comma (1.820.569,22), grouped with commas
// (1,820,569.22), or plain with either decimal separator (16,4637 or 16.4637).
const NUMBER = String.raw`\d{1,3}(?:\.\d{3}){2,}(?:,\d+)?|\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:,\d{3}){2,}(?:\.\d+)?|\d{1,3}(?:,\d{3})+\.\d+|\d+(?:[.,]\d+)?`;
// After an X or Y label a number may also be grouped with spaces (X: 1 820 000).
const SPACED = String.raw`\d{1,3}(?: \d{3})+(?:[.,]\d+)?`;

const TOKENS = [
  // Separators, and the "m" of metres (copied from the coordinates bar).
  ['space', /[\s;/|]+|,(?!\d)|m(?![a-z])/y],
  ['lat', /(?:latitude|lat|vi do|vido)(?![a-z])\s*[:=]?/y],
  ['lon', /(?:longitude|long|lng|lon|kinh do|kinhdo)(?![a-z])\s*[:=]?/y],
  ['x', /x(?![a-z])\s*[:=]?/y],
  ['y', /y(?![a-z])\s*[:=]?/y],
  ['hemisphere', /(?:north|south|east|west|bac|nam|dong|tay|[nsewbdt])(?![a-z])\.?/y],
  ['number', new RegExp(String.raw`([-+−]?)(${NUMBER})\s*([°'"]?)`, 'y')],
];
const SPACED_NUMBER = new RegExp(String.raw`([-+−]?)(${SPACED})(?!\d)\s*([°'"]?)`, 'y');
const HEMISPHERES = {
  n: 'N', north: 'N', b: 'N', bac: 'N',
  s: 'S', south: 'S', nam: 'S',
  e: 'E', east: 'E', d: 'E', dong: 'E',
  w: 'W', west: 'W', t: 'W', tay: 'W',
};

/** Return the value of a number as written (dots or commas for decimals or thousands). */
export function readNumber(text) {
  const digits = text.replace(/ /g, '');
  if (/^\d{1,3}(\.\d{3})+(,\d+)?$/.test(digits) && (digits.split('.').length > 2 || digits.includes(','))) {
    return Number(digits.replace(/\./g, '').replace(',', '.'));
  }
  if (/^\d{1,3}(,\d{3})+(\.\d+)?$/.test(digits) && (digits.split(',').length > 2 || digits.includes('.'))) {
    return Number(digits.replace(/,/g, ''));
  }
  return Number(digits.replace(',', '.'));
}

/** Return the text lower-cased, without Vietnamese accents, with the usual symbols made ASCII. */
function normalise(text) {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .replace(/[º˚]/g, '°')
    .replace(/″|”|“|''|’’|′′/g, '"')
    .replace(/[′’‘´`]/g, "'")
    .trim();
}

function tokenise(text) {
  const tokens = [];
  let at = 0;
  while (at < text.length) {
    const previous = tokens.filter((token) => token.kind !== 'space').at(-1);
    const candidates = previous && (previous.kind === 'x' || previous.kind === 'y')
      ? [['number', SPACED_NUMBER], ...TOKENS] : TOKENS;
    let matched = null;
    for (const [kind, pattern] of candidates) {
      pattern.lastIndex = at;
      const match = pattern.exec(text);
      if (match && match[0].length) { matched = { kind, match }; break; }
    }
    if (!matched) {
      const rest = text.slice(at).split(/\s/)[0];
      throw new CoordinateError(`${_('This cannot be read as a coordinate:')} “${rest}”. ${examples()}`);
    }
    if (matched.kind !== 'space') tokens.push(matched);
    at += matched.match[0].length;
  }
  return tokens;
}

/** Return the examples shown with every error. */
export function examples() {
  return _('Write for example X: 1820000 Y: 560000 (VN-2000, metres), 16.4637, 107.5905 or 16°28\'12"N 107°35\'24"E.');
}

/** Group the tokens into values: one number, or degrees with minutes and seconds, with its label. */
function values(tokens) {
  const out = [];
  let current = null;
  let label = null;
  let hemisphere = null;
  const close = () => { if (current) out.push(current); current = null; };
  for (const { kind, match } of tokens) {
    if (kind === 'number') {
      const [, sign, digits, unit] = match;
      const value = readNumber(digits);
      const negative = sign === '-' || sign === '−';
      if (unit === "'" && current?.unit === '°') {
        current.minutes = value; current.unit = "'";
      } else if (unit === '"' && (current?.unit === "'" || current?.unit === '°')) {
        current.seconds = value; current.unit = '"';
      } else if (unit === "'" || unit === '"') {
        throw new CoordinateError(`${_('Minutes or seconds must follow degrees, e.g. 16°28\'12".')} ${examples()}`);
      } else {
        close();
        current = { degrees: value, minutes: 0, seconds: 0, unit, negative, label, hemisphere, text: digits };
        label = null; hemisphere = null;
      }
    } else if (kind === 'hemisphere') {
      const letter = HEMISPHERES[match[0].replace('.', '')];
      if (current && !current.hemisphere) { current.hemisphere = letter; close(); } else { close(); hemisphere = letter; }
    } else {
      close();
      label = kind;
    }
  }
  close();
  if (label || hemisphere) {
    throw new CoordinateError(`${_('A label or a direction has no number after it.')} ${examples()}`);
  }
  return out;
}

function angle(value) {
  if (value.minutes >= 60 || value.seconds >= 60) {
    throw new CoordinateError(`${_('Minutes and seconds must be less than 60.')} ${examples()}`);
  }
  const degrees = value.degrees + value.minutes / 60 + value.seconds / 3600;
  const negative = value.negative || value.hemisphere === 'S' || value.hemisphere === 'W';
  return negative ? -degrees : degrees;
}

function isAngular(value) {
  return Boolean(value.hemisphere || value.unit || value.label === 'lat' || value.label === 'lon');
}

/** Read latitude and longitude from two values, by label, hemisphere, size or else their order. */
function degrees([first, second]) {
  const axisOf = (value) => {
    if (value.label === 'lat' || value.hemisphere === 'N' || value.hemisphere === 'S') return 'lat';
    if (value.label === 'lon' || value.hemisphere === 'E' || value.hemisphere === 'W') return 'lon';
    return null;
  };
  let [a, b] = [axisOf(first), axisOf(second)];
  if (a && a === b) {
    throw new CoordinateError(`${_('Both numbers are latitudes or both longitudes: give one of each.')} ${examples()}`);
  }
  let swapped = false;
  if (!a && !b) {
    // Latitude first, as usually written, unless only the first can be a longitude (over 90°).
    swapped = Math.abs(angle(first)) > 90 && Math.abs(angle(second)) <= 90;
    [a, b] = swapped ? ['lon', 'lat'] : ['lat', 'lon'];
  } else {
    a = a || (b === 'lat' ? 'lon' : 'lat');
    b = a === 'lat' ? 'lon' : 'lat';
    swapped = a === 'lon';
  }
  const lat = angle(a === 'lat' ? first : second);
  const lon = angle(a === 'lat' ? second : first);
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    throw new CoordinateError(`${_('A latitude lies between -90° and 90°, a longitude between -180° and 180°.')} ${examples()}`);
  }
  return { kind: 'degrees', lat, lon, swapped };
}

/** Read a VN-2000 northing (X) and easting (Y) from two values, by label and by size. */
function metres([first, second], labelled) {
  if (first.negative || second.negative) {
    throw new CoordinateError(`${_('VN-2000 X and Y are positive numbers of metres.')} ${examples()}`);
  }
  let [x, y] = labelled && first.label === 'y' ? [second.degrees, first.degrees] : [first.degrees, second.degrees];
  const isNorthing = (value) => value >= NORTHING_MIN_M;
  let swapped = false;
  if (isNorthing(x) === isNorthing(y)) {
    throw new CoordinateError(`${_('Which number is X (northing) and which Y (easting) cannot be told from their size: X is the larger in Vietnam (e.g. X: 1820000 Y: 560000). Check the numbers.')}`);
  }
  if (!isNorthing(x)) { [x, y] = [y, x]; swapped = true; }
  if (y < EASTING_RANGE_M[0] || y > EASTING_RANGE_M[1]) {
    throw new CoordinateError(`${_('A VN-2000 Y (easting) lies between 200000 and 800000 m.')} ${examples()}`);
  }
  return { kind: 'metres', x, y, swapped };
}

/**
 * Read a coordinate: {kind: 'degrees', lat, lon, swapped} or {kind: 'metres', x (northing),
 * y (easting), swapped}; `swapped` when the values came in the other order than their labels or
 * the usual one said. Throw a CoordinateError saying what is wrong.
 */
export function parseCoordinate(input) {
  const text = normalise(String(input ?? ''));
  if (!text) throw new CoordinateError(`${_('Type a coordinate.')} ${examples()}`);
  const found = values(tokenise(text));
  if (found.length !== 2) {
    const message = found.length < 2
      ? _('Only one number was found: a coordinate has two.')
      : _('More than two numbers were found: a coordinate has two.');
    throw new CoordinateError(`${message} ${examples()}`);
  }
  const labels = found.map((value) => value.label);
  const xy = labels.filter((label) => label === 'x' || label === 'y');
  if (xy.length) {
    if (xy.length !== 2 || labels[0] === labels[1] || found.some(isAngular)) {
      throw new CoordinateError(`${_('Give both X and Y in metres, e.g. X: 1820000 Y: 560000.')} ${examples()}`);
    }
    return metres(found, true);
  }
  if (found.some(isAngular)) return degrees(found);
  const sizes = found.map((value) => Math.abs(value.degrees));
  if (sizes.every((size) => size <= 180)) return degrees(found);
  if (sizes.every((size) => size >= 10000)) return metres(found, false);
  throw new CoordinateError(`${_('These numbers are neither degrees nor VN-2000 metres.')} ${examples()}`);
}
