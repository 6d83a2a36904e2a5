"""Text encodings of attribute data: the uploader's choice, the file's declaration, or a guess.

Only Shapefile (DBF) and CSV carry text in a code page; the other formats are UTF-8 by definition
(or say their encoding in an XML declaration that GDAL follows). Any text encoding Python knows can
be chosen or declared (`big5`, `cp936`, `shift_jis`, `cp1251`, `iso-8859-2`…), and so can the two
legacy Vietnamese font encodings that old provincial files hold: TCVN3 (ABC, `.VnTime`) and
VNI-Windows. Their tables come from the `viparse` package (MIT), not from here. Everything is stored
as UTF-8 in NFC form, so a CP1258 "ế" (ê + combining acute) becomes the one letter search and
display expect.
"""

from __future__ import annotations

import codecs
import re
import struct
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from viparse.normalize.tables import Charmap, convert
from viparse.normalize.tcvn3 import TCVN3
from viparse.normalize.vni import VNI

from .errors import ImportFailed

# Offered to the uploader (the admin's choices); any other codec name is accepted too.
ENCODING_CHOICES = [
    ("utf-8", "UTF-8"),
    ("cp1258", "CP1258 (Windows Vietnamese)"),
    ("tcvn3", "TCVN3 (ABC, .VnTime fonts)"),
    ("vni", "VNI-Windows (VNI-Times fonts)"),
    ("latin-1", "Latin-1 (ISO-8859-1)"),
    ("cp1252", "CP1252 (Windows Western)"),
    ("cp1250", "CP1250 (Windows Central European)"),
    ("cp1251", "CP1251 (Windows Cyrillic)"),
    ("iso-8859-2", "ISO-8859-2 (Central European)"),
    ("cp936", "CP936 / GBK (Simplified Chinese)"),
    ("big5", "Big5 (Traditional Chinese)"),
    ("shift_jis", "Shift JIS (Japanese)"),
]
_CANONICAL = {codecs.lookup(code).name: code for code, _label in ENCODING_CHOICES[4:]}
_CANONICAL.update({"utf-8": "utf-8", "cp1258": "cp1258"})

# Legacy Vietnamese encodings: one byte a glyph of a font, not code pages Python knows. A byte
# read as Latin-1 is the "surface" character viparse's tables map to the Vietnamese letter.
LEGACY_VIETNAMESE: dict[str, Charmap] = {"tcvn3": TCVN3, "vni": VNI}
LEGACY_ALIASES = {
    "tcvn3": "tcvn3", "tcvn": "tcvn3", "tcvn-3": "tcvn3", "tcvn5712": "tcvn3",
    "tcvn-5712": "tcvn3", "abc": "tcvn3", "vntime": "tcvn3", ".vntime": "tcvn3",
    "vni": "vni", "vni-windows": "vni", "vni-win": "vni", "vniwin": "vni", "vni-times": "vni",
}  # fmt: skip
EXAMPLES = "utf-8, cp1258, tcvn3, vni, latin-1, cp1251, iso-8859-2, cp936, big5 or shift_jis"

# The five tone marks, as NFD writes them after the vowel they sit on.
TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
VOWELS = set("aeiouy")  # as NFD writes them: ư is u + horn, so the base letters suffice
# The vowel groups of Vietnamese syllables (tone marks removed), longest first.
NUCLEI_TEXT = """a ă â e ê i y o ô ơ u ư ai ao au ay âu ây eo êu ia iê iu oa oă oe oi ôi ơi oo ua uâ
    uê ui uô uơ uy ưa ưi ưu ươ yê iêu yêu oai oay oao oeo uây uôi ươi ươu uya uyê uyu"""
NUCLEI = sorted(NUCLEI_TEXT.split(), key=len, reverse=True)
SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdđghklmnpqrstvx])?"
    "(" + "|".join(NUCLEI) + r")(ch|ng|nh|[cmnpt])?"
)
WORD = re.compile(r"[^\W\d_]+")


def legacy_name(name: str) -> str | None:
    """Return "tcvn3" or "vni" when a name means one of the legacy Vietnamese encodings."""
    return LEGACY_ALIASES.get(name.strip().lower().replace("_", "-").replace(" ", "-"))


def _codec_name(name: str) -> str | None:
    """Return the canonical name of a text encoding Python knows, None if it knows none."""
    try:
        canonical = codecs.lookup(name.strip()).name
        "".encode(canonical)  # refuses codecs that are not text encodings (base64, rot13, zlib…)
    except LookupError:
        return None
    return canonical


def encoding_choice(name: str) -> str:
    """Return the canonical name of an encoding the uploader may choose, else raise ValueError."""
    legacy = legacy_name(name)
    if legacy:
        return legacy
    canonical = _codec_name(name)
    if canonical is None:
        shown = name.strip()[:60]
        try:
            codecs.lookup(name.strip())
            problem = f"“{shown}” is not a text encoding (it transforms bytes, like base64)"
        except LookupError:
            problem = f"Unknown text encoding “{shown}”"
        raise ValueError(
            f"{problem}: give a name such as {EXAMPLES} (any encoding Python knows), or leave "
            "it empty to use the .cpg file or detection."
        )
    return _CANONICAL.get(canonical, canonical)


def encoding_from_cpg(path: Path) -> str | None:
    """Return the encoding a Shapefile's `.cpg` declares, if it names one we know."""
    text = path.read_bytes()[:64].decode("ascii", errors="ignore").strip()
    if not text:
        return None
    if legacy_name(text):
        return legacy_name(text)
    candidates = [text, f"cp{text}"] if text.isdigit() else [text, text.replace("ANSI ", "cp")]
    for candidate in candidates:
        canonical = _codec_name(candidate)
        if canonical:
            return _CANONICAL.get(canonical, canonical)
    return None


def decode(data: bytes, encoding: str, errors: str = "replace") -> str:
    """Return bytes decoded in an encoding (a codec or a legacy Vietnamese one) in NFC."""
    charmap = LEGACY_VIETNAMESE.get(encoding)
    if charmap is not None:
        return nfc(convert(data.decode("latin-1"), charmap))
    return nfc(data.decode(encoding, errors))


def _is_syllable(word: str) -> bool:
    """Return whether a word is a possible Vietnamese syllable: one tone, on a vowel group."""
    tones = 0
    base = ""
    last_letter = ""
    for char in unicodedata.normalize("NFD", word.lower()):
        if char in TONE_MARKS:
            tones += 1
            if last_letter not in VOWELS:
                return False
            continue
        base += char
        if not unicodedata.combining(char):
            last_letter = char
    return tones <= 1 and SYLLABLE.fullmatch(unicodedata.normalize("NFC", base)) is not None


def _vietnamese_score(text: str) -> int:
    """Return how much decoded text reads as Vietnamese: its accented words that are syllables.

    Each word with a letter outside ASCII counts +1 if it is a possible Vietnamese syllable
    (initial consonant, vowel group, final consonant, at most one tone mark, on a vowel) and -1
    if not; a combining mark NFC could not attach counts -1. A wrong decoding leaves symbols and
    impossible letter groups ("Thµnh", "phoỏ"), the right one leaves syllables ("Thành", "phố").
    """
    text = unicodedata.normalize("NFC", text)
    score = -sum(1 for char in text if unicodedata.combining(char))
    for word in WORD.findall(text):
        if not word.isascii():
            score += 1 if _is_syllable(word) else -1
    return score


def detect_encoding(samples: list[bytes]) -> str | None:
    """Return the likely encoding of these text values, None if they are plain ASCII.

    Valid UTF-8 is UTF-8 (other code pages almost never form valid multi-byte sequences). Else
    the Vietnamese readings (CP1258, TCVN3, VNI) are scored by how many of their accented words
    are Vietnamese syllables; the best wins if it reads as Vietnamese at all, else Latin-1.
    """
    data = b"\n".join(samples)
    if data.isascii():
        return None
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Distinct values only, and a bounded amount: a million rows say no more than a thousand.
    unique = b"\n".join(dict.fromkeys(value for value in samples if not value.isascii()))
    unique = unique[: 1 << 20]
    scores = {name: _vietnamese_score(decode(unique, name)) for name in ("cp1258", "tcvn3", "vni")}
    best = max(scores, key=lambda name: scores[name])  # CP1258 first on a tie
    return best if scores[best] > 0 else "latin-1"


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
        text = decode(path.read_bytes(), encoding, errors="strict")
    except UnicodeDecodeError as error:
        raise ImportFailed(
            f"The file is not valid {encoding} text (byte {error.start}): choose its encoding."
        ) from error
    target.write_text(text.removeprefix("\ufeff"), encoding="utf-8")
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
        None if value is None else decode(_raw_bytes(value), encoding)
        for value in encoded.dictionary.to_pylist()
    ]
    return pa.DictionaryArray.from_arrays(encoded.indices, pa.array(values, pa.string())).cast(
        pa.string()
    )


def recode_name(name: str, encoding: str | None) -> str:
    """Return a field name GDAL read as Latin-1, decoded as `encoding`, in NFC."""
    if encoding is None or encoding == "utf-8":
        return nfc(name)
    return decode(_raw_bytes(name.encode("utf-8", "surrogateescape")), encoding)
