"""CQL2 beyond the basics: the temporal functions (T_*), property-to-property comparisons, and
`filter-crs` in any CRS the server offers (VN-2000 included)."""

import datetime
import itertools
import re

import pytest
from django.db import connection

from layers.features.cql2 import compile_filter
from layers.features.query import AttributeField
from tests.ogc.test_filter import PLACES, names, places  # noqa: F401  (the fixture)

EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
ALL = {place[0] for place in PLACES}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # khanh_thanh: the Citadel 1805-01-01, Đông Ba 2020-06-01T02:00Z, Trường Tiền no date.
        ("T_BEFORE(khanh_thanh, DATE('1900-01-01'))", {"Huế Citadel"}),
        ("T_AFTER(khanh_thanh, DATE('1900-01-01'))", {"Chợ Đông Ba"}),
        ("T_DURING(khanh_thanh, INTERVAL('2020-01-01', '2021-01-01'))", {"Chợ Đông Ba"}),
        ("T_INTERSECTS(khanh_thanh, INTERVAL('..', '1900-01-01'))", {"Huế Citadel"}),
        ("T_EQUALS(khanh_thanh, TIMESTAMP('2020-06-01T02:00:00Z'))", {"Chợ Đông Ba"}),
        ("T_DISJOINT(khanh_thanh, INTERVAL('1800-01-01', '1810-01-01'))", {"Chợ Đông Ba"}),
        ("T_INTERSECTS(INTERVAL(khanh_thanh, '..'), DATE('1950-01-01'))", {"Huế Citadel"}),
        ("T_EQUALS(INTERVAL(khanh_thanh, '..'), INTERVAL('1805-01-01', '..'))", {"Huế Citadel"}),
        ("T_MEETS(INTERVAL('1700-01-01', '1805-01-01'), khanh_thanh)", {"Huế Citadel"}),
        ("T_CONTAINS(INTERVAL('1800-01-01', '1900-01-01'), khanh_thanh)", {"Huế Citadel"}),
        ("NOT T_BEFORE(khanh_thanh, DATE('1900-01-01'))", {"Chợ Đông Ba"}),
        # Property to property, and literal to literal.
        ("T_EQUALS(khanh_thanh, khanh_thanh)", {"Huế Citadel", "Chợ Đông Ba"}),
        ("tang = tang", {"Huế Citadel", "Chùa Thiên Mụ", "Chợ Đông Ba"}),
        (
            "ten LIKE ten AND loai <> ten",
            {"Huế Citadel", "Chùa Thiên Mụ", "Chợ Đông Ba", "Cầu Trường Tiền"},
        ),
        ("tang BETWEEN tang AND 3", {"Huế Citadel", "Chợ Đông Ba"}),
        ("2 = 2", ALL),
        ("S_INTERSECTS(geometry, geometry)", ALL),
    ],
)
def test_temporal_and_property_property(client, places, text, expected):  # noqa: F811
    assert names(client, {"filter": text}) == expected
    assert names(client, {"filter": text}, url="/api/v1/layers/places/features/") == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("T_AFTER(ten, DATE('2020-01-01'))", ["'ten' is not a date", "khanh_thanh"]),
        ("T_AFTER(khanh_thanh, INTERVAL('2021-01-01', '2020-01-01'))", ["ends before it starts"]),
        ("T_AFTER(khanh_thanh, 3)", ["not an instant or an interval"]),
    ],
)
def test_bad_temporal_filters_are_400s(client, places, text, words):  # noqa: F811
    response = client.get("/ogc/collections/places/items", {"filter": text})
    assert response.status_code == 400
    for word in words:
        assert word in response.json()["description"]


def _allen(op: str, a: tuple, b: tuple) -> bool:
    """CQL2 1.0's definitions of the temporal functions, on [start, end] pairs."""
    (a0, a1), (b0, b1) = a, b
    return {
        "t_after": a0 > b1,
        "t_before": a1 < b0,
        "t_contains": a0 < b0 and a1 > b1,
        "t_disjoint": not (a0 <= b1 and a1 >= b0),
        "t_during": a0 > b0 and a1 < b1,
        "t_equals": a0 == b0 and a1 == b1,
        "t_finishedby": a0 < b0 and a1 == b1,
        "t_finishes": a0 > b0 and a1 == b1,
        "t_intersects": a0 <= b1 and a1 >= b0,
        "t_meets": a1 == b0,
        "t_metby": a0 == b1,
        "t_overlappedby": a0 > b0 and a0 < b1 and a1 > b1,
        "t_overlaps": a0 < b0 and a1 > b0 and a1 < b1,
        "t_startedby": a0 == b0 and a1 > b1,
        "t_starts": a0 == b0 and a1 < b1,
    }[op]


DAYS = ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]
PERIODS = [(s, e) for s, e in itertools.product(DAYS, DAYS) if s <= e]


@pytest.mark.parametrize("op", [
    "t_after", "t_before", "t_contains", "t_disjoint", "t_during", "t_equals", "t_finishedby",
    "t_finishes", "t_intersects", "t_meets", "t_metby", "t_overlappedby", "t_overlaps",
    "t_startedby", "t_starts",
])  # fmt: skip
def test_each_temporal_function_is_allens_relation(db, op):
    """Every pair of periods over four days (instants included), in SQL, against the standard."""
    fields = {"d": AttributeField(name="d", type="date")}
    with connection.cursor() as cursor:
        for a, b in itertools.product(PERIODS, PERIODS):
            text = f"{op.upper()}(INTERVAL('{a[0]}', '{a[1]}'), INTERVAL('{b[0]}', '{b[1]}'))"
            compiled = compile_filter(text, fields=fields)
            cursor.execute(
                f"SELECT {compiled.condition.as_string(cursor.connection)}", compiled.params
            )
            days = [tuple(datetime.date.fromisoformat(d) for d in p) for p in (a, b)]
            assert cursor.fetchone()[0] == _allen(op, *days), text


# --- filter-crs -------------------------------------------------------------------------------


def _projected(lon: float, lat: float, srid: int) -> tuple[float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326),"
            " %s) AS p",
            [lon, lat, srid],
        )
        return cursor.fetchone()


def test_filter_crs_vn2000_tm3(client, places):  # noqa: F811
    """A surveyor's box in VN-2000 / TM-3 107-00 (metres, easting first) around Thiên Mụ."""
    x, y = _projected(107.5447, 16.4532, 9214)
    box = f"BBOX({x - 60}, {y - 60}, {x + 60}, {y + 60})"
    query = {"filter": f"S_INTERSECTS(geometry, {box})", "filter-crs": EPSG.format(9214)}
    assert names(client, query) == {"Chùa Thiên Mụ"}
    assert names(client, query, url="/api/v1/layers/places/features/") == {"Chùa Thiên Mụ"}
    # The same numbers read as longitude/latitude are refused, naming filter-crs.
    response = client.get("/ogc/collections/places/items", {"filter": query["filter"]})
    assert response.status_code == 400
    assert "filter-crs" in response.json()["description"]


def test_filter_crs_web_mercator_dwithin(client, places):  # noqa: F811
    x, y = _projected(107.5880, 16.4700, 3857)
    query = {
        "filter": f"S_DWITHIN(geometry, POINT({x} {y}), 250)",
        "filter-crs": EPSG.format(3857),
    }
    assert names(client, query) == {"Chợ Đông Ba", "Cầu Trường Tiền"}


def test_filter_crs_outside_its_area_is_a_400(client, places):  # noqa: F811
    response = client.get(
        "/ogc/collections/places/items",
        {
            "filter": "S_INTERSECTS(geometry, POINT(90000000 90000000))",
            "filter-crs": EPSG.format(9214),
        },
    )
    assert response.status_code == 400
    assert "outside what EPSG:9214 covers" in response.json()["description"]


def test_conformance_declares_them(client, db):
    declared = client.get("/ogc/conformance").json()["conformsTo"]
    for name in ("temporal-functions", "property-property", "spatial-functions"):
        assert f"http://www.opengis.net/spec/cql2/1.0/conf/{name}" in declared


def test_an_export_takes_the_filter_in_vn2000(client, places):  # noqa: F811
    """The docs' surveyor download: a CSV of what a TM-3 box picks, in TM-3 metres."""
    x, y = _projected(107.5447, 16.4532, 9214)
    response = client.get(
        "/api/v1/layers/places/export.csv",
        {
            "filter": f"S_INTERSECTS(geometry, BBOX({x - 60}, {y - 60}, {x + 60}, {y + 60}))",
            "filter-crs": EPSG.format(9214),
            "crs": "EPSG:9214",
        },
    )
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, content
    text = content.decode("utf-8-sig")
    assert "Chùa Thiên Mụ" in text
    assert "Chợ Đông Ba" not in text
    # In TM-3 metres, easting first: the point's WKT starts with its easting.
    [point] = re.findall(r"POINT ?\(([-\d.]+) ([-\d.]+)\)", text)
    assert (float(point[0]), float(point[1])) == pytest.approx((x, y), abs=0.01)
