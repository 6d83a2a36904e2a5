"""Hostile parameters and bodies are 400s that name what is wrong, never 500s: non-finite and
overflowing numbers, huge or NUL-laden text, deeply nested JSON."""

import pytest

from layers.errors import InvalidParameter
from layers.features.query import parse_decimal, parse_number
from layers.models import Feature

pytestmark = pytest.mark.django_db

NON_FINITE = ["nan", "NaN", "inf", "-Infinity", "1e309", "1e999999", "-1e999999", "sNaN"]


@pytest.mark.parametrize("text", NON_FINITE)
def test_the_number_parser_refuses_non_finite_numbers_and_overflows(text):
    with pytest.raises(InvalidParameter) as refused:
        parse_number(text, parameter="area_min")
    assert refused.value.parameter == "area_min"
    with pytest.raises(InvalidParameter):
        parse_decimal(text, parameter="x")


def test_the_number_parser_takes_ordinary_numbers():
    assert parse_number(" -12.5 ", parameter="x") == -12.5
    assert parse_number("1e3", parameter="x") == 1000
    assert parse_decimal("0e-999999", parameter="x") == 0
    with pytest.raises(InvalidParameter, match="from 0 to 20"):
        parse_number("21", parameter="tolerance", minimum=0, maximum=20)


def assert_refused(response, parameter: str, *, ogc: bool = False) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    if ogc:
        assert body["code"] == "InvalidParameterValue"
        assert parameter in body["description"]
    else:
        assert body["parameter"] == parameter, body


@pytest.mark.parametrize("value", ["nan", "inf", "1e309", "-1e999999"])
def test_investor_page_areas(client, value):
    response = client.get("/investors/", {"area_min": value})
    assert response.status_code == 400
    assert "area_min" in response.content.decode()
    assert client.get("/investors/", {"area_max": value}).status_code == 400
    assert client.get("/investors/", {"area_min": "100"}).status_code == 200


@pytest.mark.parametrize("value", ["1e999999", "-1e999999", "nan", "Infinity", "1e-999999"])
def test_numeric_filters_on_features_ogc_and_exports(api, hue_places, value):
    slug = hue_places.slug
    assert_refused(
        api().get(f"/api/v1/layers/{slug}/features/", {"dien_tich__gt": value}), "dien_tich__gt"
    )
    assert_refused(
        api().get(f"/api/v1/layers/{slug}/features/", {"so_tang__in": f"1,{value}"}),
        "so_tang__in",
    )
    assert_refused(
        api().get(f"/api/v1/layers/{slug}/export.csv", {"so_tang__lte": value}), "so_tang__lte"
    )
    assert_refused(
        api().get(f"/ogc/collections/{slug}/items", {"so_tang": value}), "so_tang", ogc=True
    )


def test_bbox_limit_and_paging_numbers(api, hue_places):
    slug = hue_places.slug
    for bbox in ("nan,16,108,17", "107,16,inf,17", "107,16,1e309,17", "107,,108,17"):
        assert_refused(api().get(f"/api/v1/layers/{slug}/features/", {"bbox": bbox}), "bbox")
        assert_refused(
            api().get(f"/ogc/collections/{slug}/items", {"bbox": bbox}), "bbox", ogc=True
        )
    for limit in ("1e999", "9" * 5000, "nan", "-1"):
        assert_refused(
            api().get(f"/ogc/collections/{slug}/items", {"limit": limit}), "limit", ogc=True
        )
        assert_refused(api().get(f"/api/v1/layers/{slug}/features/", {"limit": limit}), "limit")
    assert_refused(api().get(f"/api/v1/layers/{slug}/features/", {"offset": "1e999"}), "offset")
    answer = api().get(
        f"/ogc/collections/{slug}/items", {"datetime": "2020-01-01T00:00:00Z/..", "limit": "2"}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"lon": "nan", "lat": "16.4"}, "lon"),
        ({"lon": "107.5", "lat": "inf"}, "lat"),
        ({"lon": "107.5", "lat": "16.4", "zoom": "1e309"}, "zoom"),
        ({"lon": "107.5", "lat": "16.4", "tolerance": "nan"}, "tolerance"),
        ({"lon": "107.5", "lat": "16.4", "tolerance": "21"}, "tolerance"),
        ({"lon": "107.5", "lat": "16.4", "tolerance": "50"}, "tolerance"),
    ],
)
def test_identify_numbers(api, hue_places, params, parameter):
    assert_refused(api().get("/api/v1/identify/", params), parameter)


def test_search_text_that_is_huge_or_holds_nul(api, hue_places):
    assert_refused(api().get("/api/v1/search/", {"q": "Huế" * 100_000}), "q")
    assert_refused(api().get("/api/v1/search/", {"q": "Hu\x00ế"}), "q")
    assert_refused(
        api().get(f"/api/v1/layers/{hue_places.slug}/features/", {"q": "a" * 100_000}), "q"
    )
    assert api().get("/api/v1/search/", {"q": "Thiên Mụ"}).json()["count"] == 1


def nested(depth: int, *, kind: str = "array") -> str:
    return ("[" * depth + "]" * depth) if kind == "array" else ('{"a":' * depth + "1" + "}" * depth)


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", [40, 10_000, 100_000])
def test_deeply_nested_json_in_staff_writes(api, hue_places, staff, kind, depth):
    client = api(staff)
    url = f"/api/v1/layers/{hue_places.slug}/features/"
    feature_id = Feature.objects.filter(layer=hue_places).first().pk
    body = '{"type": "Feature", "geometry": ' + nested(depth, kind=kind) + ', "properties": {}}'
    for method, target in (("post", url), ("patch", f"{url}{feature_id}/")):
        response = getattr(client, method)(target, body, content_type="application/json")
        assert response.status_code == 400, (method, response.content[:200])
        assert "nested deeper" in response.json()["detail"]


def test_overflowing_numbers_in_a_json_body(api, hue_places, staff):
    url = f"/api/v1/layers/{hue_places.slug}/features/"
    for body in (
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e999, 16]}}',
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [107.5, 16]},'
        ' "properties": {"dien_tich": 1e999}}',
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, 16]}}',
    ):
        response = api(staff).post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content


def test_investor_page_text_filters_with_nul(client, settings):
    from django.contrib.gis.geos import Polygon

    from layers.services import FeatureRecord, layer_replace_features
    from tests.factories import CategoryFactory, LayerFactory

    category = CategoryFactory(slug=settings.WEBMAP_INVESTMENT_CATEGORY)
    layer = LayerFactory(
        slug="khu-dat",
        category=category,
        geometry_type="polygon",
        attribute_schema=[{"name": "zoning", "type": "text"}, {"name": "area_m2", "type": "real"}],
    )
    layer_replace_features(
        layer=layer,
        records=[
            FeatureRecord(
                geom=Polygon.from_bbox((107.5, 16.4, 107.51, 16.41)),
                attributes={"zoning": "thương mại", "area_m2": 5000},
            )
        ],
    )
    assert client.get("/investors/", {"zoning": "thương mại", "area_min": "100"}).status_code == 200
    for name in ("zoning", "status", "ward"):
        response = client.get("/investors/", {name: "a\x00b"})
        assert response.status_code == 400
        assert name in response.content.decode()
    assert client.get("/investors/", {"area_max": "nan"}).status_code == 400
