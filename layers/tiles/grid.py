"""The Web Mercator tile grid (EPSG:3857, XYZ): tile coordinates and the tiles a box touches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# Half the width of the EPSG:3857 world square, in metres.
WORLD_HALF_M = 20037508.342789244
MAX_TILE_ZOOM = 24


class TileOutsideGrid(ValueError):
    """A z/x/y that names no tile of the grid."""


@dataclass(frozen=True, order=True, slots=True)
class TileCoord:
    """One tile of the grid: zoom, column (west to east) and row (north to south)."""

    z: int
    x: int
    y: int

    @classmethod
    def checked(cls, z: int, x: int, y: int) -> TileCoord:
        """Return the tile, or raise TileOutsideGrid when z/x/y is not in the grid."""
        if not 0 <= z <= MAX_TILE_ZOOM:
            raise TileOutsideGrid(f"zoom {z} is outside 0-{MAX_TILE_ZOOM}")
        size = 1 << z
        if not (0 <= x < size and 0 <= y < size):
            raise TileOutsideGrid(f"tile {z}/{x}/{y} is outside the grid (0-{size - 1} at z{z})")
        return cls(z, x, y)

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"

    def children(self) -> list[TileCoord]:
        """Return the four tiles of the next zoom that this tile covers."""
        z, x, y = self.z + 1, self.x * 2, self.y * 2
        return [TileCoord(z, x + dx, y + dy) for dy in (0, 1) for dx in (0, 1)]

    def parent(self) -> TileCoord:
        """Return the tile of the previous zoom that covers this one."""
        return TileCoord(self.z - 1, self.x // 2, self.y // 2)

    def bounds_m(self) -> tuple[float, float, float, float]:
        """Return (xmin, ymin, xmax, ymax) of the tile in EPSG:3857 metres."""
        size_m = tile_size_m(self.z)
        xmin = -WORLD_HALF_M + self.x * size_m
        ymax = WORLD_HALF_M - self.y * size_m
        return xmin, ymax - size_m, xmin + size_m, ymax


def tile_size_m(z: int) -> float:
    """Return the width of a tile at zoom z, in EPSG:3857 metres."""
    return 2 * WORLD_HALF_M / (1 << z)


@dataclass(frozen=True, slots=True)
class TileRange:
    """The tiles of one zoom from (x_min, y_min) to (x_max, y_max), both included."""

    z: int
    x_min: int
    y_min: int
    x_max: int
    y_max: int

    def __len__(self) -> int:
        return (self.x_max - self.x_min + 1) * (self.y_max - self.y_min + 1)

    def __contains__(self, coord: object) -> bool:
        return (
            isinstance(coord, TileCoord)
            and coord.z == self.z
            and self.x_min <= coord.x <= self.x_max
            and self.y_min <= coord.y <= self.y_max
        )

    def __iter__(self) -> Iterator[TileCoord]:
        for x in range(self.x_min, self.x_max + 1):
            for y in range(self.y_min, self.y_max + 1):
                yield TileCoord(self.z, x, y)


def tiles_touching(
    z: int, box_m: tuple[float, float, float, float], margin_m: float = 0.0
) -> TileRange:
    """Return the tiles of zoom z that a box (EPSG:3857 metres), grown by a margin, touches."""
    xmin, ymin, xmax, ymax = box_m
    size_m = tile_size_m(z)
    last = (1 << z) - 1

    def column(x_m: float) -> int:
        return min(last, max(0, int((x_m + WORLD_HALF_M) // size_m)))

    def row(y_m: float) -> int:
        return min(last, max(0, int((WORLD_HALF_M - y_m) // size_m)))

    return TileRange(
        z,
        column(xmin - margin_m),
        row(ymax + margin_m),
        column(xmax + margin_m),
        row(ymin - margin_m),
    )
