"""The registry of demo builders: the names the catalogue uses, and the functions behind them."""

from __future__ import annotations

from collections.abc import Callable

from . import osm, real, reform
from .city import City
from .records import DemoFeature
from .synth import (
    buildings,
    heritage,
    nature,
    planning,
    pois,
    streets,
    transit,
    utilities,
    wards,
)

Builder = Callable[[City], list[DemoFeature]]

BUILDERS: dict[str, Builder] = {
    "real.province": real.province,
    "real.districts": real.districts,
    "real.settlements": real.settlements,
    "real.national_roads": real.national_roads,
    "real.railways": real.railways,
    "real.hydropower": real.hydropower,
    "real.protected_areas": real.protected_areas,
    "real.heritage_sites": real.heritage_sites,
    "real.wards_2025": reform.wards_2025,
    "real.city_boundary_2025": reform.city_boundary_2025,
    "real.provinces_2025": reform.provinces_2025,
    "real.osm_hotels": osm.hotels,
    "real.osm_sights": osm.sights,
    "real.osm_worship": osm.worship,
    "real.osm_markets": osm.markets,
    "real.osm_food": osm.food,
    "real.osm_fuel": osm.fuel,
    "real.osm_atms": osm.atms,
    "real.osm_other": osm.other,
    "synth.wards": wards.wards_layer,
    "synth.streets": streets.streets_layer,
    "synth.bus_routes": transit.routes_layer,
    "synth.bus_stops": transit.stops_layer,
    "synth.heritage_areas": heritage.heritage_areas_layer,
    "synth.hospitals": pois.hospitals_layer,
    "synth.health_stations": pois.health_stations_layer,
    "synth.schools": pois.schools_layer,
    "synth.universities": pois.universities_layer,
    "synth.offices": pois.offices_layer,
    "synth.land_use": planning.land_use_layer,
    "synth.buildings": buildings.buildings_layer,
    "synth.investment": planning.investment_layer,
    "synth.industrial_parks": planning.industrial_parks_layer,
    "synth.water_mains": utilities.water_mains_layer,
    "synth.drainage": utilities.drainage_layer,
    "synth.power_lines": utilities.power_lines_layer,
    "synth.critical_sites": utilities.critical_sites_layer,
    "synth.water": nature.water_layer,
    "synth.parks": nature.parks_layer,
    "synth.protected_forests": nature.protected_forests_layer,
}


def build(name: str, city: City) -> list[DemoFeature]:
    """Return the features the named builder makes."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise LookupError(f"No demo builder named {name!r}") from None
    return builder(city)
