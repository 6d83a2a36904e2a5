"""Build the web map's label glyphs: signed-distance-field PBFs, the format MapLibre asks for.

MapLibre draws text from glyph ranges (`{fontstack}/{start}-{end}.pbf`, 256 code points each) that
the server must provide; we make them at set-up time from a freely licensed font (Noto Sans,
SIL OFL, from Debian's fonts-noto-core) so labels in Vietnamese (ă â đ ê ô ơ ư and the tone marks
of U+1EA0 to U+1EF9) render with no request leaving the machine. Every one of the 256 ranges is
written, empty when the font has nothing there, so the map never meets a 404 for a glyph range.

The glyphs follow the metrics MapLibre expects (those of node-fontnik and tiny-sdf): rendered at
24 px, a 3 px border, a distance field of radius 8 px with the edge at 0.75 of the range (cutoff
0.25), `top` measured from the font's ascender.

    .venv/bin/python scripts/build_glyphs.py var/glyphs
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import freetype
import numpy as np

FONT_SIZE_PX = 24
BORDER_PX = 3
RADIUS_PX = 8
CUTOFF = 0.25
RANGE_SIZE = 256
LAST_CODE_POINT = 65535
# Large enough to stand for "no seed", small enough that sums of it stay finite.
FAR = 1e20

FONT_DIR = Path("/usr/share/fonts/truetype/noto")
FONTSTACKS = {
    "noto-sans-regular": FONT_DIR / "NotoSans-Regular.ttf",
    "noto-sans-bold": FONT_DIR / "NotoSans-Bold.ttf",
}


@dataclass(frozen=True)
class Glyph:
    """One glyph's SDF bitmap and metrics, as the glyph PBF stores them."""

    code_point: int
    bitmap: bytes
    width: int
    height: int
    left: int
    top: int
    advance: int


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 31)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(value)) + value


def encode_glyph(glyph: Glyph) -> bytes:
    """Return a `glyph` message (id, bitmap, width, height, left, top, advance)."""
    out = _field_varint(1, glyph.code_point)
    if glyph.width:
        out += _field_bytes(2, glyph.bitmap)
    out += _field_varint(3, glyph.width) + _field_varint(4, glyph.height)
    out += _field_varint(5, _zigzag(glyph.left)) + _field_varint(6, _zigzag(glyph.top))
    return out + _field_varint(7, glyph.advance)


def encode_range(name: str, start: int, end: int, glyphs: list[Glyph]) -> bytes:
    """Return a `glyphs` message holding one fontstack with the glyphs of a range."""
    stack = _field_bytes(1, name.encode()) + _field_bytes(2, f"{start}-{end}".encode())
    for glyph in glyphs:
        stack += _field_bytes(3, encode_glyph(glyph))
    return _field_bytes(1, stack)


def _distance_squared(seeds: np.ndarray) -> np.ndarray:
    """Return min over q of |p - q|² + seeds[q] for every pixel p (a separable exact transform)."""
    height, width = seeds.shape
    ys = np.arange(height)
    xs = np.arange(width)
    # Down the columns, then along the rows: each pass is a brute-force 1-D transform.
    column = (seeds[None, :, :] + ((ys[:, None] - ys[None, :]) ** 2)[:, :, None]).min(axis=1)
    return (column[:, None, :] + ((xs[:, None] - xs[None, :]) ** 2)[None, :, :]).min(axis=2)


def signed_distance_field(alpha: np.ndarray) -> np.ndarray:
    """Return the SDF bytes of a coverage bitmap (0 to 1) that already carries its border."""
    outer = np.where(alpha >= 1, 0.0, FAR)
    inner = np.where(alpha >= 1, FAR, 0.0)
    # Partly covered pixels: the edge lies inside the pixel, at a distance from its centre.
    partial = (alpha > 0) & (alpha < 1)
    offset = 0.5 - alpha
    outer = np.where(partial, np.where(offset > 0, offset**2, 0.0), outer)
    inner = np.where(partial, np.where(offset < 0, offset**2, 0.0), inner)
    distance = np.sqrt(_distance_squared(outer)) - np.sqrt(_distance_squared(inner))
    values = np.round(255 - 255 * (distance / RADIUS_PX + CUTOFF))
    return np.clip(values, 0, 255).astype(np.uint8)


def render_glyph(face: freetype.Face, code_point: int, ascender_px: float) -> Glyph:
    """Render one character of the face into an SDF glyph."""
    face.load_char(code_point, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_NO_HINTING)
    slot = face.glyph
    bitmap = slot.bitmap
    width, height = bitmap.width, bitmap.rows
    advance = round(slot.metrics.horiAdvance / 64)
    top = round(slot.bitmap_top - ascender_px)
    if width == 0 or height == 0:
        return Glyph(code_point, b"", 0, 0, slot.bitmap_left, top, advance)
    coverage = np.array(bitmap.buffer, dtype=np.float64).reshape(height, bitmap.pitch)[:, :width]
    alpha = np.zeros((height + 2 * BORDER_PX, width + 2 * BORDER_PX))
    alpha[BORDER_PX : BORDER_PX + height, BORDER_PX : BORDER_PX + width] = coverage / 255
    sdf = signed_distance_field(alpha)
    return Glyph(code_point, sdf.tobytes(), width, height, slot.bitmap_left, top, advance)


def build_fontstack(name: str, font: Path, out_dir: Path) -> int:
    """Write the 256 range files of one fontstack; return how many glyphs they hold."""
    face = freetype.Face(str(font))
    face.set_char_size(FONT_SIZE_PX * 64)
    ascender_px = face.size.ascender / 64
    code_points = sorted(code for code, index in face.get_chars() if index and code <= 65535)
    stack_dir = out_dir / name
    stack_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for start in range(0, LAST_CODE_POINT + 1, RANGE_SIZE):
        end = start + RANGE_SIZE - 1
        glyphs = [
            render_glyph(face, code, ascender_px) for code in code_points if start <= code <= end
        ]
        count += len(glyphs)
        (stack_dir / f"{start}-{end}.pbf").write_bytes(encode_range(name, start, end, glyphs))
    return count


def fingerprint(fonts: dict[str, Path]) -> str:
    """Return a digest of this script and the fonts: the glyphs are rebuilt when it changes."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name, font in sorted(fonts.items()):
        digest.update(name.encode())
        digest.update(font.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where to write {fontstack}/{range}.pbf")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    missing = [str(font) for font in FONTSTACKS.values() if not font.is_file()]
    if missing:
        print(f"Missing fonts (install fonts-noto-core): {', '.join(missing)}", file=sys.stderr)
        return 1
    stamp = args.out_dir / ".fingerprint"
    digest = fingerprint(FONTSTACKS)
    if not args.force and stamp.is_file() and stamp.read_text() == digest:
        return 0
    for name, font in FONTSTACKS.items():
        count = build_fontstack(name, font, args.out_dir)
        print(f"{name}: {count} glyphs from {font.name}")
    stamp.write_text(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
