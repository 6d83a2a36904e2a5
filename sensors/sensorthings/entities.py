"""The SensorThings entity sets over the sensor models, each declared like a small ModelAdmin.

| SensorThings         | backed by                  | id                                           |
|----------------------|----------------------------|----------------------------------------------|
| Things               | Station                    | station id                                   |
| Locations            | Station (its feature)      | station id (one fixed location per station)  |
| FeaturesOfInterest   | Station (its feature)      | station id (what is observed is the place)   |
| Datastreams          | Datastream                 | datastream id                                |
| Sensors              | ObservedProperty           | property id (one kind of sensor a property)  |
| ObservedProperties   | ObservedProperty           | property id                                  |
| Observations         | Observation                | datastream id * 2**32 + Unix second          |

Every entity set starts from `Entity.queryset(user)`, which keeps only stations of sensor layers
the user may see (`Layer.objects.visible_to`, the one rule): navigation and `$expand` go through
the target's queryset too, so no path leads to a station of a hidden layer.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import F, Model, OuterRef, QuerySet, Subquery
from django.utils.translation import get_language

from layers.errors import InvalidParameter
from layers.models import Feature, Layer
from sensors.models import Datastream, Observation, ObservedProperty, Station

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
# Observation ids: the datastream in the high bits, the Unix second in the low 32 (until 2106).
# Below 2**53 for datastreams up to 2**21, so JavaScript clients read them exactly.
SECOND_BITS = 32
# Names and QUDT definitions of the units the demo and the contract use; others show their symbol.
UNITS = {
    "m": ("metre", "http://qudt.org/vocab/unit/M"),
    "mm": ("millimetre", "http://qudt.org/vocab/unit/MilliM"),
    "‰": ("parts per thousand", "http://qudt.org/vocab/unit/PPTH"),
    "µg/m³": ("microgram per cubic metre", "http://qudt.org/vocab/unit/MicroGM-PER-M3"),
    "°C": ("degree Celsius", "http://qudt.org/vocab/unit/DEG_C"),
}
# CF standard names of the contract's properties (vocabulary of the NERC Vocabulary Server).
CF = "http://vocab.nerc.ac.uk/standard_name/"
DEFINITIONS = {
    "water_level": CF + "water_surface_height_above_reference_datum/",
    "rainfall": CF + "thickness_of_rainfall_amount/",
    "salinity": CF + "sea_water_salinity/",
    "pm25": CF + "mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air/",
    "temperature": CF + "air_temperature/",
}
FLAG_QUALITY = {0: "good", 1: "suspect", 2: "bad"}


@dataclass(frozen=True)
class Property:
    """A property `$filter` and `$orderby` may name: its ORM lookup and the kind of its values."""

    path: str
    kind: str  # number | text | datetime | id | flag ('good', 'suspect', 'bad')


@dataclass(frozen=True)
class Nav:
    """A navigation property: the target set, and how a source row selects the target's rows."""

    target: str
    many: bool
    source_attr: str  # attribute of the source row holding the key
    target_lookup: str  # lookup on the target's queryset that the key must match
    filter_path: str | None = None  # ORM path to the target, for `$filter` through a to-one nav


@dataclass
class Context:
    """What serialising needs from the request: the service root's URL and the user."""

    base_url: str
    user: object


class Entity:
    """An entity set: which rows, how they are named in URLs, and how each becomes JSON."""

    name: str = ""
    singular: str = ""
    model: type[Model]
    navigation: dict[str, Nav] = {}
    filterable: dict[str, Property] = {}
    # The entity's own properties, as `properties` returns them (what `$select` may name).
    fields: tuple[str, ...] = ()
    default_order: tuple[str, ...] = ("pk",)
    registry: dict[str, Entity] = {}

    def queryset(self, user) -> QuerySet:
        """Return the rows of this set the user may see."""
        raise NotImplementedError

    def by_id(self, queryset: QuerySet, raw_id: str) -> Model | None:
        """Return the row of an id as written in a URL (`Things(3)`), or None."""
        return queryset.filter(pk=self.parse_id(raw_id)).first()

    def parse_id(self, raw_id: str) -> int:
        try:
            return int(raw_id.strip("'"))
        except ValueError:
            raise InvalidParameter(
                f"{self.name}({raw_id}): ids are whole numbers, e.g. {self.name}(1)."
            ) from None

    def id_of(self, obj: Model) -> int:
        return obj.pk

    def properties(self, obj: Model, context: Context) -> dict:
        """Return the entity's own properties (no @iot members, no navigation links)."""
        raise NotImplementedError

    def order_fields(self, name: str) -> tuple[str, ...]:
        """Return the ORM fields ordering by a property means (`id` may be several)."""
        if name == "id":
            return self.default_order
        prop = self.filterable.get(name)
        if prop is None:
            offered = ", ".join(sorted(self.filterable))
            raise InvalidParameter(
                f"$orderby: {self.name} cannot be ordered by {name!r}; by one of {offered}.",
                parameter="$orderby",
            )
        return (prop.path,)

    def self_link(self, obj: Model, context: Context) -> str:
        return f"{context.base_url}/{self.name}({self.id_of(obj)})"

    def to_json(self, obj: Model, context: Context, select: list[str] | None = None) -> dict:
        """Return the entity as SensorThings JSON (only the `$select`ed members if given)."""
        link = self.self_link(obj, context)
        body = {"@iot.id": self.id_of(obj), "@iot.selfLink": link}
        body.update(self.properties(obj, context))
        for name in self.navigation:
            body[f"{name}@iot.navigationLink"] = f"{link}/{name}"
        if select is not None:
            members = {"id": "@iot.id", "selfLink": "@iot.selfLink"}
            wanted = {members.get(name, name) for name in select}
            wanted |= {f"{name}@iot.navigationLink" for name in select if name in self.navigation}
            body = {key: value for key, value in body.items() if key in wanted}
        return body

    def selectable(self) -> set[str]:
        return {"id", "selfLink", *self.fields, *self.navigation}


def visible_stations(user) -> QuerySet:
    """Return the stations of sensor layers the user may see (the one visibility rule)."""
    layers = Layer.objects.visible_to(user).filter(sensor_config__isnull=False)
    return Station.objects.filter(layer__in=layers.values("pk"))


def _with_geometry(stations: QuerySet) -> QuerySet:
    """Annotate each station with its feature's geometry as GeoJSON text."""
    feature = Feature.objects.filter(layer_id=OuterRef("layer_id"), pk=OuterRef("feature_id"))
    return stations.annotate(
        geometry_json=Subquery(feature.annotate(json=AsGeoJSON("geom")).values("json")[:1])
    )


def _geometry(station: Station) -> dict | None:
    text = getattr(station, "geometry_json", None)
    return json.loads(text) if text else None


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _property_name(prop: ObservedProperty) -> str:
    return prop.name_vi if (get_language() or "").startswith("vi") else prop.name_en


class Things(Entity):
    name, singular, model = "Things", "Thing", Station
    fields = ("name", "description", "properties")
    navigation = {
        "Locations": Nav("Locations", True, "pk", "pk"),
        "Datastreams": Nav("Datastreams", True, "pk", "station_id"),
    }
    filterable = {
        "id": Property("pk", "id"),
        "name": Property("name", "text"),
        "properties/code": Property("code", "text"),
    }

    def queryset(self, user) -> QuerySet:
        return visible_stations(user).select_related("layer")

    def properties(self, obj: Station, context: Context) -> dict:
        return {
            "name": obj.name or obj.code,
            "description": obj.layer.title,
            "properties": {
                "code": obj.code,
                "layer": obj.layer.slug,
                "featureId": obj.feature_id,
                "active": obj.active,
            },
        }


class Locations(Entity):
    name, singular, model = "Locations", "Location", Station
    fields = ("name", "description", "encodingType", "location")
    navigation = {"Things": Nav("Things", True, "pk", "pk")}
    filterable = {"id": Property("pk", "id"), "name": Property("name", "text")}

    def queryset(self, user) -> QuerySet:
        return _with_geometry(visible_stations(user))

    def properties(self, obj: Station, context: Context) -> dict:
        return {
            "name": obj.name or obj.code,
            "description": f"{obj.name or obj.code} ({obj.code})",
            "encodingType": GEOJSON,
            "location": _geometry(obj),
        }


class FeaturesOfInterest(Locations):
    name, singular = "FeaturesOfInterest", "FeatureOfInterest"
    fields = ("name", "description", "encodingType", "feature")
    navigation = {"Observations": Nav("Observations", True, "pk", "datastream__station_id")}

    def properties(self, obj: Station, context: Context) -> dict:
        body = super().properties(obj, context)
        body["feature"] = body.pop("location")
        return body


class Datastreams(Entity):
    name, singular, model = "Datastreams", "Datastream", Datastream
    fields = (
        "name",
        "description",
        "unitOfMeasurement",
        "observationType",
        "observedArea",
        "phenomenonTime",
        "resultTime",
        "properties",
    )
    navigation = {
        "Thing": Nav("Things", False, "station_id", "pk", filter_path="station"),
        "Sensor": Nav("Sensors", False, "property_id", "pk", filter_path="property"),
        "ObservedProperty": Nav("ObservedProperties", False, "property_id", "pk", "property"),
        "Observations": Nav("Observations", True, "pk", "datastream_id"),
    }
    filterable = {
        "id": Property("pk", "id"),
        "name": Property("station__name", "text"),
        "unitOfMeasurement/symbol": Property("property__unit", "text"),
        "observedProperty/code": Property("property__code", "text"),
    }

    def queryset(self, user) -> QuerySet:
        times = Observation.objects.filter(datastream_id=OuterRef("pk")).values("time")
        station = Station.objects.filter(pk=OuterRef("station_id"))
        return (
            Datastream.objects.filter(station__in=visible_stations(user).values("pk"))
            .select_related("station", "property")
            .annotate(
                first_time=Subquery(times.order_by("time")[:1]),
                last_time=Subquery(times.order_by("-time")[:1]),
                geometry_json=Subquery(_with_geometry(station).values("geometry_json")[:1]),
            )
        )

    def properties(self, obj: Datastream, context: Context) -> dict:
        prop, station = obj.property, obj.station
        unit_name, unit_definition = UNITS.get(prop.unit, (prop.unit, ""))
        interval = None
        if obj.first_time is not None:
            interval = f"{_iso(obj.first_time)}/{_iso(obj.last_time)}"
        return {
            "name": f"{station.name or station.code} - {_property_name(prop)}",
            "description": f"{_property_name(prop)} ({prop.unit}), {station.code}",
            "unitOfMeasurement": {
                "name": unit_name,
                "symbol": prop.unit,
                "definition": unit_definition,
            },
            "observationType": OM_MEASUREMENT,
            "observedArea": _geometry(obj),
            "phenomenonTime": interval,
            "resultTime": interval,
            "properties": {"station": station.code, "property": prop.code},
        }


class ObservedProperties(Entity):
    name, singular, model = "ObservedProperties", "ObservedProperty", ObservedProperty
    fields = ("name", "definition", "description", "properties")
    navigation = {"Datastreams": Nav("Datastreams", True, "pk", "property_id")}
    filterable = {
        "id": Property("pk", "id"),
        "name": Property("name_en", "text"),
        "properties/code": Property("code", "text"),
    }

    def queryset(self, user) -> QuerySet:
        used = Datastream.objects.filter(station__in=visible_stations(user).values("pk"))
        return ObservedProperty.objects.filter(pk__in=used.values("property_id"))

    def properties(self, obj: ObservedProperty, context: Context) -> dict:
        return {
            "name": _property_name(obj),
            "definition": DEFINITIONS.get(obj.code, f"urn:hue:sensors:property:{obj.code}"),
            "description": f"{obj.name_en} / {obj.name_vi} ({obj.unit})",
            "properties": {
                "code": obj.code,
                "unit": obj.unit,
                "physicalMin": obj.physical_min,
                "physicalMax": obj.physical_max,
            },
        }


class Sensors(ObservedProperties):
    name, singular = "Sensors", "Sensor"
    fields = ("name", "description", "encodingType", "metadata")

    def properties(self, obj: ObservedProperty, context: Context) -> dict:
        name = _property_name(obj)
        return {
            "name": f"{name} sensor",
            "description": f"The instrument measuring {obj.name_en.lower()} in {obj.unit}.",
            "encodingType": "text/plain",
            "metadata": f"{obj.name_en} ({obj.unit})",
        }


class Observations(Entity):
    name, singular, model = "Observations", "Observation", Observation
    fields = ("phenomenonTime", "resultTime", "result", "resultQuality")
    navigation = {
        "Datastream": Nav("Datastreams", False, "datastream_id", "pk", filter_path="datastream"),
        "FeatureOfInterest": Nav(
            "FeaturesOfInterest", False, "station_id", "pk", filter_path="datastream__station"
        ),
    }
    filterable = {
        "phenomenonTime": Property("time", "datetime"),
        "resultTime": Property("time", "datetime"),
        "result": Property("value", "number"),
        "resultQuality": Property("flag", "flag"),
    }
    default_order = ("datastream_id", "time")

    def queryset(self, user) -> QuerySet:
        datastreams = Datastream.objects.filter(station__in=visible_stations(user).values("pk"))
        return Observation.objects.filter(datastream__in=datastreams.values("pk")).annotate(
            station_id=F("datastream__station_id")
        )

    def id_of(self, obj: Observation) -> int:
        return (obj.datastream_id << SECOND_BITS) | int(obj.time.timestamp())

    def by_id(self, queryset: QuerySet, raw_id: str) -> Observation | None:
        number = self.parse_id(raw_id)
        datastream_id, second = number >> SECOND_BITS, number & ((1 << SECOND_BITS) - 1)
        start = dt.datetime.fromtimestamp(second, dt.UTC)
        return (
            queryset.filter(
                datastream_id=datastream_id,
                time__gte=start,
                time__lt=start + dt.timedelta(seconds=1),
            )
            .order_by("time")
            .first()
        )

    def properties(self, obj: Observation, context: Context) -> dict:
        time = _iso(obj.time)
        return {
            "phenomenonTime": time,
            "resultTime": time,
            "result": obj.value,
            "resultQuality": FLAG_QUALITY.get(obj.flag, str(obj.flag)),
        }


ENTITY_SETS: dict[str, Entity] = {
    entity.name: entity
    for entity in (
        Things(),
        Locations(),
        Datastreams(),
        Sensors(),
        ObservedProperties(),
        Observations(),
        FeaturesOfInterest(),
    )
}
Entity.registry = ENTITY_SETS
