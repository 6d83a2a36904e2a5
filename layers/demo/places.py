"""The approximate real places of Huế that anchor the sample layers (fixtures/demo/places.json)."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from django.conf import settings
from shapely.geometry import LineString, Point, Polygon

from .geometry import LocalFrame, RotatedFrame, rect_at

PLACES_PATH = Path(settings.BASE_DIR) / "fixtures" / "demo" / "places.json"
# The metric frame every sample layer is drawn in: the middle of Huế.
HUE_FRAME = LocalFrame(origin_lon=107.59, origin_lat=16.46)


class Places:
    """places.json, with its points (lon/lat, or metres in the Citadel's frame) made metric."""

    def __init__(self, data: dict, frame: LocalFrame = HUE_FRAME):
        self.data = data
        self.frame = frame

    @classmethod
    def load(cls, path: Path = PLACES_PATH) -> Places:
        """Read the places file."""
        with path.open(encoding="utf-8") as handle:
            return cls(json.load(handle))

    def __getitem__(self, key: str):
        return self.data[key]

    @cached_property
    def citadel(self) -> RotatedFrame:
        """Return the Citadel's frame: u along the front wall, v inwards, from the wall's middle."""
        spec = self.data["citadel"]
        x, y = self.frame.xy(*spec["front_mid"])
        return RotatedFrame(origin_x=x, origin_y=y, bearing_deg=spec["bearing_deg"])

    @property
    def citadel_side_m(self) -> float:
        return self.data["citadel"]["side_m"]

    def xy(self, spec) -> tuple[float, float]:
        """Return the metric coordinates of a point spec: [lon, lat] or {"citadel": [u, v]}."""
        if isinstance(spec, dict):
            return self.citadel.xy(*spec["citadel"])
        return self.frame.xy(*spec)

    def point(self, spec) -> Point:
        """Return a point spec as a metric Point."""
        return Point(self.xy(spec))

    def line(self, specs: list) -> LineString:
        """Return a list of point specs as a metric LineString."""
        return LineString([self.xy(spec) for spec in specs])

    def polygon(self, specs: list) -> Polygon:
        """Return a list of point specs as a metric Polygon."""
        return Polygon([self.xy(spec) for spec in specs])

    def area(self, item: dict) -> Polygon:
        """Return the polygon an item gives: `polygon`, `citadel_rect` or `center` and `size_m`."""
        if "polygon" in item:
            return self.polygon(item["polygon"])
        if "citadel_rect" in item:
            return self.citadel.rect(*item["citadel_rect"])
        x, y = self.xy(item["center"])
        width_m, depth_m = item["size_m"]
        return rect_at(x, y, width_m, depth_m, item.get("bearing_deg", 0))
