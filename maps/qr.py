"""The QR code of a short link, drawn as SVG on the server with segno.

segno (pure Python, no dependency, maintained, BSD) writes SVG itself; the `qrcode` package needs
Pillow or lxml plug-ins for the same. Error correction M (15 % of the code may be lost: a print
folded or smudged still reads), and the four-module quiet zone the standard asks for.
"""

from __future__ import annotations

import io

import segno

QR_SCALE_PX = 6
QR_BORDER_MODULES = 4


def qr_svg(url: str, *, title: str) -> bytes:
    """Return an SVG QR code of the URL, titled (screen readers say the title)."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(
        out, kind="svg", scale=QR_SCALE_PX, border=QR_BORDER_MODULES, title=title,
        dark="#111827", light="#ffffff", xmldecl=False,
    )  # fmt: skip
    return out.getvalue()
