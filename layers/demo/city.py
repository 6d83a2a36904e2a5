"""The shared ground of the sample layers, built once per load: water, wards, streets, land."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from . import real
from .geometry import repaired
from .places import Places
from .records import DemoFeature, MetricFeature
from .synth import nature, planning, streets, wards, water

CITY_DISTRICT = "Thành phố Huế"
# Points made up near water are moved at least this far onto dry land.
DRY_MARGIN_M = 15


class City:
    """Huế as the sample layers see it, in metres (`places.HUE_FRAME`), each part made once."""

    def __init__(self, places: Places | None = None):
        self.places = places or Places.load()
        self.frame = self.places.frame

    def lonlat(self, features: list[MetricFeature]) -> list[DemoFeature]:
        """Return metric features as lon/lat features."""
        geoms = self.frame.to_lonlat(np.array([f.geom for f in features], dtype=object))
        # Rings that nearly touch in metres can touch after rounding to degrees: repair those.
        invalid = ~shapely.is_valid(geoms)
        geoms[invalid] = [repaired(g) for g in geoms[invalid]]
        return [DemoFeature(g, f.attributes) for g, f in zip(geoms, features, strict=True)]

    @cached_property
    def province(self) -> shapely.Geometry:
        return self.frame.to_metric(real.read_collection("tth_province")[0][0])

    @cached_property
    def district(self) -> shapely.Geometry:
        """Return the real boundary of Thành phố Huế."""
        for geom, properties in real.read_collection("tth_districts"):
            if properties["ten"] == CITY_DISTRICT:
                return self.frame.to_metric(geom)
        raise LookupError(f"{CITY_DISTRICT} is missing from the districts fixture")

    @cached_property
    def water(self) -> list[MetricFeature]:
        return water.water_bodies(self.places, self.province)

    @cached_property
    def water_area(self) -> shapely.Geometry:
        area = shapely.union_all([f.geom for f in self.water])
        shapely.prepare(area)
        return area

    @cached_property
    def dry_land(self) -> shapely.Geometry:
        """Return the province less the water and a margin along it."""
        land = self.province.difference(self.water_area.buffer(DRY_MARGIN_M))
        shapely.prepare(land)
        return land

    @cached_property
    def citadel_area(self) -> shapely.Geometry:
        side = self.places.citadel_side_m
        return self.places.citadel.rect(0, side / 2, side, side)

    @cached_property
    def imperial_city(self) -> shapely.Geometry:
        return self.places.area(self.places["imperial_city"])

    @cached_property
    def wards(self) -> list[MetricFeature]:
        return wards.ward_cells(self.places, self.district)

    @cached_property
    def ward_tree(self) -> shapely.STRtree:
        return shapely.STRtree([f.geom for f in self.wards])

    @cached_property
    def core(self) -> shapely.Geometry:
        """Return the built-up inner wards, less water, the Imperial City and parks."""
        inner = shapely.union_all([f.geom for f in self.wards if f.attributes["noi_thi"]])
        return inner.difference(
            shapely.union_all([self.water_area, self.imperial_city, self.park_area])
        )

    @cached_property
    def named_streets(self) -> list[MetricFeature]:
        return streets.named_streets(self.places)

    @cached_property
    def streets(self) -> list[MetricFeature]:
        """Return the named streets and the lanes between them."""
        region = self.core.difference(self.water_area.buffer(5))
        return self.named_streets + streets.lanes(self.places, region, self.named_streets)

    @cached_property
    def parks(self) -> list[MetricFeature]:
        return nature.parks(self.places, self.water_area)

    @cached_property
    def park_area(self) -> shapely.Geometry:
        return shapely.union_all([f.geom for f in self.parks])

    @cached_property
    def investment_sites(self) -> list[MetricFeature]:
        return planning.investment_sites(self)

    @cached_property
    def wards_2025(self) -> list[tuple[shapely.Geometry, str]]:
        """Return the 40 real wards and communes of Thành phố Huế from 1 July 2025 (in metres)."""
        return [
            (self.frame.to_metric(geom), properties["fullName"])
            for geom, properties in real.read_collection("hue_wards_2025")
        ]

    @cached_property
    def ward_tree_2025(self) -> shapely.STRtree:
        return shapely.STRtree([geom for geom, _name in self.wards_2025])

    def ward_names_2025(self, points: list[Point] | np.ndarray) -> list[str]:
        """Return the 2025 ward or commune each point lies in ("" outside the city).

        What an investor today reads in an address; the sample layers' own wards (`wards`) are
        the pre-2025 ones, which the synthetic city was drawn with."""
        names = [""] * len(points)
        point_index, ward_index = self.ward_tree_2025.query(points, predicate="within")
        for p, w in zip(point_index, ward_index, strict=True):
            names[p] = self.wards_2025[w][1]
        return names

    def ward_names(self, points: list[Point] | np.ndarray) -> list[str]:
        """Return the ward each point lies in ("" outside the city)."""
        names = [""] * len(points)
        point_index, ward_index = self.ward_tree.query(points, predicate="within")
        for p, w in zip(point_index, ward_index, strict=True):
            names[p] = self.wards[w].attributes["ten"]
        return names

    def on_land(self, point: Point) -> Point:
        """Return the point, moved onto dry land if it lies in or next to water."""
        if self.dry_land.contains(point):
            return point
        return nearest_points(self.dry_land, point)[0]
