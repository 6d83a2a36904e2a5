"""A layer's attribute schema from a file's fields: names for use, labels for display, types.

A field keeps its name as written in the file as its label ("Tên trường"), and gets a plain name
for use in URLs, filters and styles ("ten_truong"). Types follow the file's declared field types.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pyarrow as pa

# Fields that name a feature, best first; `ten_…` ("tên …", Vietnamese for "name of …") after them.
NAME_FIELDS = ("name", "ten", "ten_goi", "tieu_de", "title", "label", "nam", "name_vi", "name_en")
NAME_PREFIXES = ("ten_", "name_", "ten")


def plain_name(name: str) -> str:
    """Return a name as plain lower-case ASCII words joined by `_` ("Tên đường" → "ten_duong")."""
    text = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


@dataclass(frozen=True)
class Column:
    """An attribute column of the file: its label (as written), name for use and type."""

    label: str
    name: str
    type: str  # integer, number, text, date, boolean

    @property
    def schema_entry(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "label_vi": self.label,
            "label_en": self.label,
        }


SQL_TYPES = {
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "text": "text",
    "date": "text",
}


def field_type(arrow_type: pa.DataType) -> str | None:
    """Return our type for an Arrow type, None for values that are not attributes (blobs)."""
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type):
        return "date"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return None
    return "text"


def columns_for(fields: list[tuple[str, pa.DataType]]) -> list[Column | None]:
    """Return a column per field (None for the skipped ones), with unique plain names."""
    columns: list[Column | None] = []
    taken: set[str] = set()
    for position, (label, arrow_type) in enumerate(fields, start=1):
        kind = field_type(arrow_type)
        if kind is None:
            columns.append(None)
            continue
        base = plain_name(label) or f"field_{position}"
        if base[0].isdigit():
            base = f"f_{base}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        columns.append(Column(label=label, name=name, type=kind))
    return columns


def guess_name_field(names: list[str]) -> str:
    """Return the field that most likely names a feature ('' if none looks like one)."""
    for candidate in NAME_FIELDS:
        if candidate in names:
            return candidate
    for prefix in NAME_PREFIXES:
        for name in names:
            if name.startswith(prefix):
                return name
    return ""


def merged_schema(existing: list[dict], columns: list[Column]) -> list[dict]:
    """Return a layer's schema with the new columns added; a type clash widens to number or text."""
    merged = [dict(entry) for entry in existing]
    by_name = {entry.get("name"): entry for entry in merged}
    for column in columns:
        entry = by_name.get(column.name)
        if entry is None:
            merged.append(column.schema_entry)
            by_name[column.name] = merged[-1]
        elif entry.get("type") != column.type:
            numbers = {"integer", "number", "real"}
            both_numbers = {entry.get("type"), column.type} <= numbers
            entry["type"] = "number" if both_numbers else "text"
    return merged
