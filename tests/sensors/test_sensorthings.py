"""The SensorThings API 1.1 read resources (/sta/v1.1/): paths, query options, visibility.

The expected answers are computed here from the rows the test writes (not by the code under
test): which observations pass a filter, in which order, on which page.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from rest_framework.test import APIClient

from sensors.models import Datastream, ObservedProperty, SensorLayer, Station
from sensors.sensorthings.entities import SECOND_BITS
from tests.factories import FeatureFactory, LayerFactory

ROOT = "/sta/v1.1"
START = dt.datetime(2026, 10, 30, 0, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=10)
# Kim Long's water level over an hour: rising, then a bad reading.
KIM_LONG_LEVELS = [0.8, 1.1, 1.6, 2.3, 2.9, 3.6]


def _observations(datastream: Datastream, values: list[float], flags: list[int] | None = None):
    flags = flags or [0] * len(values)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO sensors_observation (datastream_id, time, value, flag) "
            "VALUES (%s, %s, %s, %s)",
            [
                (datastream.pk, START + i * STEP, value, flag)
                for i, (value, flag) in enumerate(zip(values, flags, strict=True))
            ],
        )


def _station(layer, code: str, name: str, lon: float, lat: float) -> Station:
    feature = FeatureFactory(layer=layer, geom=Point(lon, lat, srid=4326), name=name)
    return Station.objects.create(layer=layer, feature_id=feature.pk, code=code, name=name)


@pytest.fixture
def sta(category, planners):
    """A public sensor layer (two stations) and a restricted one (one station), with readings."""
    public = LayerFactory(slug="tram-cong-khai", category=category, visibility="public")
    hidden = LayerFactory(slug="tram-han-che", category=category, visibility="restricted")
    hidden.groups.add(planners)
    for layer in (public, hidden):
        SensorLayer.objects.create(layer=layer)
    level = ObservedProperty.objects.create(
        code="water_level", name_vi="Mực nước", name_en="Water level", unit="m"
    )
    rain = ObservedProperty.objects.create(
        code="rainfall", name_vi="Lượng mưa", name_en="Rainfall", unit="mm"
    )
    kim_long = _station(public, "KIM_LONG", "Kim Long", 107.5531, 16.4631)
    a_luoi = _station(public, "A_LUOI", "A Lưới", 107.2406, 16.2167)
    secret = _station(hidden, "SECRET", "Trạm kín", 107.60, 16.46)
    streams = {
        "kim_long_level": Datastream.objects.create(station=kim_long, property=level),
        "a_luoi_rain": Datastream.objects.create(station=a_luoi, property=rain),
        "secret_level": Datastream.objects.create(station=secret, property=level),
    }
    _observations(streams["kim_long_level"], KIM_LONG_LEVELS, [0, 0, 0, 0, 0, 2])
    _observations(streams["a_luoi_rain"], [0.0, 4.5, 12.0])
    _observations(streams["secret_level"], [9.9, 9.8])
    return {"kim_long": kim_long, "a_luoi": a_luoi, "secret": secret, **streams}


def _get(client: APIClient, path: str, status: int = 200, **params):
    response = client.get(f"{ROOT}/{path}", params)
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def client():
    return APIClient()


def test_service_root_lists_the_entity_sets_and_conformance(client, db):
    body = _get(client, "")
    names = {item["name"] for item in body["value"]}
    assert {"Things", "Locations", "Datastreams", "Sensors", "ObservedProperties"} <= names
    assert {"Observations", "FeaturesOfInterest"} <= names
    things = next(item for item in body["value"] if item["name"] == "Things")
    assert things["url"] == "http://testserver/sta/v1.1/Things"
    assert (
        "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel"
        in body["serverSettings"]["conformance"]
    )


def test_anonymous_sees_only_stations_of_public_layers(client, sta):
    body = _get(client, "Things", **{"$count": "true"})
    assert body["@iot.count"] == 2
    assert {thing["name"] for thing in body["value"]} == {"Kim Long", "A Lưới"}
    secret = sta["secret"].pk
    error = _get(client, f"Things({secret})", 404)
    assert "not yours to see" in error["detail"]
    _get(client, f"Locations({secret})", 404)
    _get(client, f"Datastreams({sta['secret_level'].pk})", 404)
    _get(client, f"Datastreams({sta['secret_level'].pk})/Observations", 404)
    # No path around it: every observation listed belongs to a public station.
    observations = _get(client, "Observations", **{"$top": "1000"})["value"]
    assert len(observations) == len(KIM_LONG_LEVELS) + 3
    assert 9.9 not in {o["result"] for o in observations}


def test_a_member_of_the_layers_group_sees_its_station(client, sta, member):
    client.force_authenticate(member)
    thing = _get(client, f"Things({sta['secret'].pk})")
    assert thing["name"] == "Trạm kín"
    assert _get(client, "Things", **{"$count": "true"})["@iot.count"] == 3


def test_thing_links_resolve_to_its_location_and_datastreams(client, sta):
    kim_long = sta["kim_long"]
    thing = _get(client, f"Things({kim_long.pk})")
    assert thing["@iot.id"] == kim_long.pk
    assert thing["@iot.selfLink"] == f"http://testserver{ROOT}/Things({kim_long.pk})"
    assert thing["properties"]["code"] == "KIM_LONG"
    link = thing["Datastreams@iot.navigationLink"]
    datastreams = client.get(link.removeprefix("http://testserver")).json()["value"]
    assert [d["@iot.id"] for d in datastreams] == [sta["kim_long_level"].pk]
    locations = _get(client, f"Things({kim_long.pk})/Locations")["value"]
    assert locations[0]["encodingType"] == "application/geo+json"
    assert locations[0]["location"]["type"] == "Point"
    assert locations[0]["location"]["coordinates"] == pytest.approx([107.5531, 16.4631])


def test_datastream_carries_unit_type_and_time_interval(client, sta):
    stream = _get(client, f"Datastreams({sta['kim_long_level'].pk})")
    assert stream["unitOfMeasurement"]["symbol"] == "m"
    assert stream["unitOfMeasurement"]["name"] == "metre"
    assert stream["unitOfMeasurement"]["definition"].startswith("http://qudt.org/")
    assert stream["observationType"].endswith("OM_Measurement")
    last = START + (len(KIM_LONG_LEVELS) - 1) * STEP
    assert stream["phenomenonTime"] == "2026-10-30T00:00:00Z/" + last.isoformat().replace(
        "+00:00", "Z"
    )
    assert stream["observedArea"]["type"] == "Point"
    sensor = _get(client, f"Datastreams({sta['kim_long_level'].pk})/Sensor")
    prop = _get(client, f"Datastreams({sta['kim_long_level'].pk})/ObservedProperty")
    assert sensor["@iot.id"] == prop["@iot.id"] == sta["kim_long_level"].property_id
    assert prop["definition"].startswith("http")
    english = client.get(
        f"{ROOT}/ObservedProperties({prop['@iot.id']})", HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert (prop["name"], english["name"]) == ("Mực nước", "Water level")
    thing = _get(client, f"Datastreams({sta['kim_long_level'].pk})/Thing")
    assert thing["name"] == "Kim Long"


def test_observations_newest_first_paged_by_next_link(client, sta):
    path = f"Datastreams({sta['kim_long_level'].pk})/Observations"
    page = _get(client, path, **{"$orderby": "phenomenonTime desc", "$top": "4", "$count": "true"})
    assert page["@iot.count"] == len(KIM_LONG_LEVELS)
    assert [o["result"] for o in page["value"]] == KIM_LONG_LEVELS[::-1][:4]
    assert page["value"][0]["phenomenonTime"] == "2026-10-30T00:50:00Z"
    assert page["value"][0]["resultQuality"] == "bad"
    following = client.get(page["@iot.nextLink"].removeprefix("http://testserver")).json()
    assert [o["result"] for o in following["value"]] == KIM_LONG_LEVELS[::-1][4:]
    assert "@iot.nextLink" not in following
    # $top=0: the count alone, and no next page to follow for ever.
    assert _get(client, path, **{"$top": "0", "$count": "true"}) == {
        "@iot.count": len(KIM_LONG_LEVELS),
        "value": [],
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("result gt 2", [v for v in KIM_LONG_LEVELS if v > 2]),
        ("result ge 1.1 and result le 2.3", [1.1, 1.6, 2.3]),
        ("result lt 1 or result eq 3.6", [0.8, 3.6]),
        ("not (result lt 2)", [2.3, 2.9, 3.6]),
        ("phenomenonTime ge 2026-10-30T00:30:00Z", KIM_LONG_LEVELS[3:]),
        # The same instant in Huế's time: 07:30 at +07:00 is 00:30 UTC.
        ("phenomenonTime lt 2026-10-30T07:30:00+07:00", KIM_LONG_LEVELS[:3]),
        ("2 lt result and resultQuality eq 'good'", [2.3, 2.9]),
        ("result in (0.8, 2.9)", [0.8, 2.9]),
        ("Datastream/Thing/name eq 'Kim Long' and result gt 3", [3.6]),
    ],
)
def test_filter_on_observations(client, sta, expression, expected):
    path = f"Datastreams({sta['kim_long_level'].pk})/Observations"
    body = _get(client, path, **{"$filter": expression, "$orderby": "phenomenonTime"})
    assert [o["result"] for o in body["value"]] == expected


def test_filter_through_navigation_across_datastreams(client, sta):
    body = _get(client, "Observations", **{"$filter": "Datastream/Thing/name eq 'A Lưới'"})
    assert sorted(o["result"] for o in body["value"]) == [0.0, 4.5, 12.0]
    things = _get(client, "Things", **{"$filter": "substringof('Lưới', name)"})["value"]
    assert [t["name"] for t in things] == ["A Lưới"]
    things = _get(client, "Things", **{"$filter": "properties/code eq 'KIM_LONG'"})["value"]
    assert [t["name"] for t in things] == ["Kim Long"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"$filter": "result gt"}, "cannot read it at character 6"),
        ({"$filter": "(result gt 2"}, "ends too early"),
        ({"$filter": "result add 1 gt 2"}, "arithmetic"),
        ({"$filter": "colour eq 'red'"}, "filterable properties"),
        ({"$filter": "result eq 'high'"}, "a number"),
        ({"$filter": "phenomenonTime gt 'yesterday'"}, "ISO 8601"),
        ({"$filter": "geo.intersects(location, geography'POINT(1 2)')"}, "not supported"),
        ({"$filter": "Datastream/Thing/Datastreams/name eq 'x'"}, "any/all"),
        ({"$search": "flood"}, "not supported"),
        ({"$top": "-1"}, "whole number"),
        ({"$orderby": "colour desc"}, "cannot be ordered"),
        ({"$orderby": "result sideways"}, "property desc"),
        ({"$select": "colour"}, "has no colour"),
        ({"$expand": "Datastream/Thing"}, "one level"),
    ],
)
def test_unsupported_or_wrong_options_are_a_clear_400(client, sta, params, words):
    body = _get(client, "Observations", 400, **params)
    assert words in body["detail"], body


def test_observation_by_id_and_its_links(client, sta):
    stream = sta["kim_long_level"]
    newest = _get(
        client,
        f"Datastreams({stream.pk})/Observations",
        **{"$orderby": "phenomenonTime desc", "$top": "1"},
    )["value"][0]
    expected_id = (stream.pk << SECOND_BITS) | int((START + 5 * STEP).timestamp())
    assert newest["@iot.id"] == expected_id
    again = _get(client, f"Observations({expected_id})")
    assert again["result"] == 3.6
    assert _get(client, f"Observations({expected_id})/Datastream")["@iot.id"] == stream.pk
    foi = _get(client, f"Observations({expected_id})/FeatureOfInterest")
    assert foi["feature"]["type"] == "Point"
    assert _get(client, f"Observations({expected_id})/result") == {"result": 3.6}
    raw = client.get(f"{ROOT}/Things({sta['kim_long'].pk})/name/$value")
    assert raw.content.decode() == "Kim Long"
    _get(client, f"Observations({expected_id + 1})", 404)


def test_select_and_expand(client, sta):
    kim_long = sta["kim_long"]
    body = _get(
        client,
        f"Things({kim_long.pk})",
        **{
            "$select": "id,name,Datastreams",
            "$expand": "Datastreams($select=name,unitOfMeasurement;$top=1),Locations",
        },
    )
    assert set(body) == {
        "@iot.id",
        "name",
        "Datastreams@iot.navigationLink",
        "Datastreams",
        "Locations",
    }
    [stream] = body["Datastreams"]
    assert set(stream) == {"name", "unitOfMeasurement"}
    assert stream["name"] == "Kim Long - Mực nước"  # the default language, Vietnamese
    assert stream["unitOfMeasurement"]["symbol"] == "m"
    assert body["Locations"][0]["location"]["type"] == "Point"
    expanded = _get(
        client,
        f"Datastreams({sta['kim_long_level'].pk})",
        **{"$expand": "Observations($filter=result gt 3;$orderby=result desc;$count=true)"},
    )
    assert expanded["Observations@iot.count"] == 1
    # An expanded collection longer than its $top links to the rest, with the same options.
    paged = _get(
        client,
        f"Datastreams({sta['kim_long_level'].pk})",
        **{"$expand": "Observations($filter=result gt 1;$orderby=result desc;$top=2)"},
    )
    assert [o["result"] for o in paged["Observations"]] == [3.6, 2.9]
    rest = client.get(paged["Observations@iot.nextLink"].removeprefix("http://testserver")).json()
    assert [o["result"] for o in rest["value"]] == [2.3, 1.6]
    assert "@iot.nextLink" in rest  # 1.1 is left
    assert [o["result"] for o in expanded["Observations"]] == [3.6]
    # Expanding never reaches a hidden station's rows.
    props = _get(
        client,
        f"ObservedProperties({sta['kim_long_level'].property_id})",
        **{"$expand": "Datastreams"},
    )
    assert [d["@iot.id"] for d in props["Datastreams"]] == [sta["kim_long_level"].pk]


def test_a_sensorthings_client_library_reads_the_api(live_server, sta):
    """istsos4-client (PyPI), a typed SensorThings client, against the live server."""
    istsos = pytest.importorskip("istsos4_client")
    requests = pytest.importorskip("requests")
    with istsos.Client(f"{live_server.url}{ROOT}", max_retries=0) as sta_client:
        things = sta_client.list(istsos.Thing)
        assert sorted(t.name for t in things) == ["A Lưới", "Kim Long"]
        locations = sta_client.list(istsos.Location)
        assert {loc.location["type"] for loc in locations} == {"Point"}
        streams = {d.iot_id: d for d in sta_client.list(istsos.Datastream)}
        assert set(streams) == {sta["kim_long_level"].pk, sta["a_luoi_rain"].pk}
        level = streams[sta["kim_long_level"].pk]
        assert level.unit_of_measurement.symbol == "m"
        assert level.phenomenon_time.start == START
        assert {s.name for s in sta_client.list(istsos.Sensor)} >= {"Mực nước sensor"}
        assert len(sta_client.list(istsos.ObservedProperty)) == 2
        # Two pages of two, the client following @iot.nextLink.
        readings = sta_client.list(
            istsos.Observation,
            filter="Datastream/Thing/name eq 'Kim Long' and result gt 2",
            orderby="phenomenonTime desc",
            top=2,
        )
        assert [o.result for o in readings] == [3.6, 2.9, 2.3]
        assert readings[0].phenomenon_time == START + 5 * STEP
        with pytest.raises(requests.HTTPError):
            sta_client.get(istsos.Thing, sta["secret"].pk)
