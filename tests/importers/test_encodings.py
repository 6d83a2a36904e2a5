"""Text in any encoding a .cpg can name, and in the legacy Vietnamese TCVN3 and VNI encodings.

The DBFs are written byte by byte here (code page 0, as old provincial files have), so what the
importer reads is exactly what the test put there. TCVN3 and VNI bytes come from hand-written
per-letter tables of the published layouts below (TCVN 5712:1993 VN3, and VNI's base letter + mark
bytes), not from the importer's own tables, so a wrong table would fail here.
"""

from __future__ import annotations

import struct
import unicodedata

import pytest
import shapely

from layers.imports import import_options_clean
from layers.models import Feature

from .conftest import run, shapefile_parts, write_layer, zip_files

pytestmark = pytest.mark.django_db

PLACES = ["Thành phố Huế", "Đại Nội", "Phường Phú Hội", "Chùa Thiên Mụ", "Lăng Tự Đức"]

# TCVN3 (ABC): one byte a letter; only the letters these names need.
TCVN3_BYTES = {
    "à": 0xB5, "ố": 0xE8, "ế": 0xD5, "Đ": 0xA7, "ạ": 0xB9, "ộ": 0xE9, "ư": 0xAD, "ờ": 0xEA,
    "ú": 0xF3, "ù": 0xEF, "ê": 0xAA, "ụ": 0xF4, "ă": 0xA8, "ự": 0xF9, "ứ": 0xF8,
}  # fmt: skip
# VNI-Windows: a base letter followed by a mark byte (ư, ơ, đ and Đ are single bytes).
VNI_BYTES = {
    "à": b"a\xf8", "ố": b"o\xe1", "ế": b"e\xe1", "Đ": b"\xd1", "ạ": b"a\xef", "ộ": b"o\xe4",
    "ư": b"\xf6", "ờ": b"\xf4\xf8", "ú": b"u\xf9", "ù": b"u\xf8", "ê": b"e\xe2", "ụ": b"u\xef",
    "ă": b"a\xea", "ự": b"\xf6\xef", "ứ": b"\xf6\xf9",
}  # fmt: skip


def to_tcvn3(text: str) -> bytes:
    return b"".join(
        bytes([TCVN3_BYTES[char]]) if char in TCVN3_BYTES else char.encode("ascii") for char in text
    )


def to_vni(text: str) -> bytes:
    return b"".join(VNI_BYTES[char] if char in VNI_BYTES else char.encode("ascii") for char in text)


def dbf(path, values: list[bytes], field: str = "TEN", code_page: int = 0) -> None:
    """Write a dBASE III file of one text field holding these bytes, with this code page mark."""
    width = max(len(v) for v in values)
    header = struct.pack(
        "<BBBBIHH17xB2x", 3, 126, 1, 1, len(values), 32 + 32 + 1, 1 + width, code_page
    )
    descriptor = struct.pack("<11sc4xBB14x", field.encode(), b"C", width, 0)
    records = b"".join(b" " + v.ljust(width, b" ") for v in values)
    path.write_bytes(header + descriptor + b"\r" + records + b"\x1a")


def shapefile(tmp_path, values: list[bytes], *, cpg: str | None = None):
    """Return a zipped point Shapefile whose DBF holds these raw bytes (and a .cpg if given)."""
    shp = write_layer(
        tmp_path / "dia_danh.shp",
        [shapely.Point(107.58 + i / 100, 16.46) for i in range(len(values))],
        {"TEN": ["x"] * len(values)},
        driver="ESRI Shapefile",
    )
    dbf(shp.with_suffix(".dbf"), values)
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    if cpg:
        shp.with_suffix(".cpg").write_text(cpg)
    return zip_files(tmp_path / "dia_danh.zip", *shapefile_parts(shp))


def stored(layer) -> list[str]:
    return [f.attributes["ten"] for f in Feature.objects.filter(layer=layer).order_by("id")]


@pytest.mark.parametrize(
    ("cpg", "values"),
    [
        ("big5", ["臺北市", "高雄市"]),
        ("cp936", ["北京市", "顺化市"]),
        ("shift_jis", ["東京都", "京都市"]),
        ("cp1251", ["Москва", "Ханой"]),
        ("iso-8859-2", ["Łódź", "Kraków"]),
        ("windows-1250", ["Hněvošický háj", "Žďár"]),
    ],
)
def test_a_cpg_naming_any_python_encoding_is_honoured(layer, tmp_path, cpg, values):
    job = run(shapefile(tmp_path, [v.encode(cpg) for v in values], cpg=cpg), layer=layer)
    assert job.status == "succeeded", job.messages
    assert stored(layer) == values
    assert "declared by the .cpg" in " ".join(m["message"] for m in job.messages)


def test_the_uploader_may_name_any_python_encoding(layer, tmp_path):
    values = ["Москва", "Ханой", "Хюэ"]
    job = run(shapefile(tmp_path, [v.encode("koi8_r") for v in values]), layer=layer,
              encoding="KOI8-R")  # fmt: skip
    assert job.status == "succeeded", job.messages
    assert stored(layer) == values
    assert job.report["source"]["encoding"] == "koi8-r"


@pytest.mark.parametrize("name", ["klingon", "base64", "rot13", "zlib", ""])
def test_an_unknown_encoding_name_is_refused_clearly(name):
    if not name:
        assert import_options_clean({"encoding": name}) == {}
        return
    with pytest.raises(ValueError) as error:
        import_options_clean({"encoding": name})
    field, message = error.value.args
    assert field == "encoding"
    assert f"“{name}”" in message
    # Says what is wrong: a name Python does not know, or a codec that is not for text.
    known_codec = name in {"base64", "rot13", "zlib"}
    assert ("is not a text encoding" in message) == known_codec
    assert message.startswith("Unknown text encoding") != known_codec
    assert "tcvn3" in message and "cp1258" in message  # says what would work


@pytest.mark.parametrize(
    ("encode", "name"), [(to_tcvn3, "tcvn3"), (to_vni, "vni")], ids=["tcvn3", "vni"]
)
def test_legacy_vietnamese_without_cpg_is_detected_and_stored_as_nfc(layer, tmp_path, encode, name):
    job = run(shapefile(tmp_path, [encode(v) for v in PLACES]), layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["encoding"] == name
    values = stored(layer)
    assert values == PLACES
    assert all(unicodedata.is_normalized("NFC", v) for v in values)
    assert Feature.objects.filter(layer=layer, search_text__contains="dai noi").exists()
    assert f"Text read as {name} (detected" in " ".join(m["message"] for m in job.messages)


@pytest.mark.parametrize(
    ("encode", "chosen"),
    [(to_tcvn3, "TCVN3"), (to_tcvn3, "ABC"), (to_vni, "vni"), (to_vni, "VNI-Windows")],
)
def test_staff_pick_the_legacy_encodings_by_name(layer, tmp_path, encode, chosen):
    # One short value: too little to detect, so the uploader says which.
    job = run(shapefile(tmp_path, [encode("Huế")]), layer=layer, encoding=chosen)
    assert job.status == "succeeded", job.messages
    assert stored(layer) == ["Huế"]


def test_a_vni_csv_is_detected(layer):
    text = b"ten,kinh_do,vi_do\n" + b"".join(to_vni(v) + b",107.58,16.46\n" for v in PLACES)
    job = run(text, layer=layer, name="dia_danh.csv")
    assert job.status == "succeeded", job.messages
    assert [f.name for f in Feature.objects.filter(layer=layer).order_by("id")] == PLACES


def test_latin1_text_is_not_taken_for_vietnamese(layer, tmp_path):
    values = ["Müller", "François", "Ærøskøbing", "café crème"]
    job = run(shapefile(tmp_path, [v.encode("latin-1") for v in values]), layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["encoding"] == "latin-1"
    assert stored(layer) == values
