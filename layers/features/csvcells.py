"""Cells of the CSV exports, made safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (`=HYPERLINK(…)`, `+cmd|' /C calc'!A0`, `@SUM(…)`,
`-2+3`): such text gets a leading single quote, as OWASP advises ("CSV Injection"). A number
stays a number: `-5` in a numeric field, or stored as a JSON number, is written as is.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, and nothing else: `-2+3` or `-1e5)` is not one.
PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def csv_cell(text: str | None, *, numeric: bool = False) -> str | None:
    """Return a cell's text, with a leading quote if a spreadsheet would run it as a formula."""
    if text is None or (numeric and PLAIN_NUMBER.fullmatch(text)):
        return text
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
