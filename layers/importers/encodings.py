"""Text encodings of attribute data: the uploader's choice, the file's declaration, or a guess.

Only Shapefile (DBF) and CSV carry text in a code page; the other formats are UTF-8 by definition
(or say their encoding in an XML declaration that GDAL follows). Everything is stored as UTF-8 in
NFC form, so a CP1258 "ế" (ê + combining acute) becomes the one letter search and display expect.
"""

from __future__ import annotations

import codecs
import struct
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .errors import ImportFailed

# Offered to the uploader (the admin's choices); any of their Python aliases is accepted too.
ENCODING_CHOICES = [
    ("utf-8", "UTF-8"),
    ("cp1258", "CP1258 (Windows Vietnamese)"),
    ("latin-1", "Latin-1 (ISO-8859-1)"),
    ("cp1252", "CP1252 (Windows Western)"),
    ("cp1250", "CP1250 (Windows Central European)"),
]
_CANONICAL = {codecs.lookup(code).name: code for code, _label in ENCODING_CHOICES}

VOWELS = set("aeiouyâêôơưăAEIOUYÂÊÔƠƯĂ")
# The five tone marks CP1258 writes as separate combining characters after the vowel.
TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
VIETNAMESE_LETTERS = set("đĐơƠưƯăĂ")


def encoding_choice(name: str) -> str:
    """Return the canonical name of an encoding the uploader may choose, else raise ValueError."""
    try:
        canonical = codecs.lookup(name.strip()).name
    except LookupError:
        canonical = ""
    if canonical not in _CANONICAL:
        choices = ", ".join(code for code, _label in ENCODING_CHOICES)
        raise ValueError(f"Unknown encoding “{name}”; choose one of {choices}.")
    return _CANONICAL[canonical]


def encoding_from_cpg(path: Path) -> str | None:
    """Return the encoding a Shapefile's `.cpg` declares, if it names one Python knows."""
    text = path.read_bytes()[:64].decode("ascii", errors="ignore").strip()
    if not text:
        return None
    candidates = [text, f"cp{text}"] if text.isdigit() else [text, text.replace("ANSI ", "cp")]
    for candidate in candidates:
        try:
            return codecs.lookup(candidate).name
        except LookupError:
            continue
    return None


def _vietnamese_score(text: str) -> int:
    """Return how strongly decoded text looks Vietnamese (tone marks after vowels, đ, ơ, ư, ă)."""
    score = 0
    previous = ""
    for char in text:
        if char in TONE_MARKS:
            score += 1 if previous in VOWELS else -2
        elif char in VIETNAMESE_LETTERS:
            score += 1
        previous = char
    return score


def detect_encoding(samples: list[bytes]) -> str | None:
    """Return the likely encoding of these text values, None if they are plain ASCII.

    Valid UTF-8 is UTF-8 (other code pages almost never form valid multi-byte sequences); text
    whose CP1258 reading has tone marks on vowels is Vietnamese CP1258; anything else is Latin-1.
    """
    data = b"\n".join(samples)
    if data.isascii():
        return None
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _vietnamese_score(data.decode("cp1258", errors="replace")) > 0:
        return "cp1258"
    return "latin-1"


def dbf_text_samples(path: Path, max_records: int = 5000) -> list[bytes]:
    """Return raw bytes of the field names and text values of a DBF file's first records."""
    with open(path, "rb") as stream:
        header = stream.read(32)
        if len(header) < 32:
            return []
        records, header_bytes, record_bytes = struct.unpack("<IHH", header[4:12])
        descriptors = stream.read(max(0, header_bytes - 32))
        fields = []  # (name, type, length)
        for start in range(0, len(descriptors) - 31, 32):
            item = descriptors[start : start + 32]
            if item[0] == 0x0D:
                break
            fields.append((item[:11].split(b"\0")[0], chr(item[11]), item[16]))
        samples = [name for name, _type, _length in fields]
        stream.seek(header_bytes)
        for _ in range(min(records, max_records)):
            record = stream.read(record_bytes)
            if len(record) < record_bytes:
                break
            offset = 1  # the deletion flag
            for _name, kind, length in fields:
                if kind == "C":
                    value = record[offset : offset + length].strip(b" \0")
                    if value:
                        samples.append(value)
                offset += length
    return samples


def text_samples(path: Path, max_bytes: int = 1 << 20) -> list[bytes]:
    """Return the first bytes of a text file, split in lines."""
    with open(path, "rb") as stream:
        return stream.read(max_bytes).splitlines()


def nfc(text: str) -> str:
    """Return text in Unicode NFC form without NUL characters (PostgreSQL refuses them)."""
    return unicodedata.normalize("NFC", text).replace("\0", "")


def transcode_text_file(path: Path, encoding: str, target: Path) -> Path:
    """Write a UTF-8 (NFC) copy of a text file read in the given encoding; return its path."""
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as error:
        raise ImportFailed(
            f"The file is not valid {encoding} text (byte {error.start}): choose its encoding."
        ) from error
    target.write_text(nfc(text.removeprefix("\ufeff")), encoding="utf-8")
    return target


def _raw_bytes(value: bytes) -> bytes:
    """Return the file's bytes of a value GDAL read as Latin-1 (recoded to UTF-8, or passed raw)."""
    try:
        return value.decode("utf-8").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return value


def recode_column(column: pa.Array, encoding: str | None) -> pa.Array:
    """Return a string column in NFC; values GDAL read as Latin-1 are decoded as `encoding`.

    Reading a code page as Latin-1 keeps every byte (one byte, one letter), so the bytes can be
    decoded again here; the unique values are decoded once each, not every row.
    """
    if encoding is None or encoding == "utf-8":
        return pc.replace_substring(pc.utf8_normalize(column, "NFC"), "\0", "")
    encoded = pc.dictionary_encode(column.cast(pa.binary()))
    values = [
        None if value is None else nfc(_raw_bytes(value).decode(encoding, errors="replace"))
        for value in encoded.dictionary.to_pylist()
    ]
    return pa.DictionaryArray.from_arrays(encoded.indices, pa.array(values, pa.string())).cast(
        pa.string()
    )


def recode_name(name: str, encoding: str | None) -> str:
    """Return a field name GDAL read as Latin-1, decoded as `encoding`, in NFC."""
    if encoding is None or encoding == "utf-8":
        return nfc(name)
    return nfc(_raw_bytes(name.encode("utf-8", "surrogateescape")).decode(encoding, "replace"))
