"""What demo builders return: a geometry and its attributes, before they become a Feature."""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely


@dataclass(frozen=True)
class DemoFeature:
    """One generated or fixture feature: a shapely geometry in EPSG:4326 and its attributes."""

    geom: shapely.Geometry
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetricFeature:
    """A generated feature still in the city's metric frame (see `places.HUE_FRAME`)."""

    geom: shapely.Geometry
    attributes: dict = field(default_factory=dict)
