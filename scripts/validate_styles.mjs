// Validate MapLibre styles with the style specification's own validator (validateStyleMin).
// Reads a JSON object {name: style} on stdin; prints {name: [error messages]} on stdout.
import { validateStyleMin } from '@maplibre/maplibre-gl-style-spec';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const styles = JSON.parse(input);
  const out = {};
  for (const [name, style] of Object.entries(styles)) {
    out[name] = validateStyleMin(style).map((error) => error.message);
  }
  process.stdout.write(JSON.stringify(out));
});
