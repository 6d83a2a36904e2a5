"""Time-enabled tiles: what `?datetime=` costs a tile of the real boundaries of Huế.

The 40 wards and communes of 2025 (valid from 2025-07-01) and the 9 districts before them (valid
to 2025-06-30) are loaded into two time-enabled layers, inside one transaction that is rolled
back at the end (the database is left as it was). Every tile of both layers at zooms 8-12 is then
rendered in PostGIS three ways, each several rounds, median per tile: plain (what the tile cache
holds), with the time condition of one day (`datetime=2025-06-30`: the districts are drawn, the
wards are not) and of an interval. We report milliseconds per tile and the ratio to plain, and
the one-off cost of `time_selects_all` (is the plain tile the answer?).

    DATABASE_URL=postgres://…/a_database_with_the_schema .venv/bin/python bench/time_tiles.py

Writes nothing to bench/RESULTS.md by itself; its output is pasted there.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")
os.environ["TILE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-time-tiles-")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.contrib.gis.gdal import DataSource  # noqa: E402
from django.db import transaction  # noqa: E402

from layers.features.temporal import time_filter, time_selects_all  # noqa: E402
from layers.models import Category, Layer  # noqa: E402
from layers.services import FeatureRecord, layer_replace_features  # noqa: E402
from layers.tiles.filtered import TileFilter, filtered_specs  # noqa: E402
from layers.tiles.grid import TileCoord  # noqa: E402
from layers.tiles.render import render_tile, tile_spec  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
ROUNDS = 5
ZOOMS = range(8, 13)
SCHEMA = [{"name": "ten", "type": "text"}, {"name": "valid_from", "type": "date"},
          {"name": "valid_to", "type": "date"}]  # fmt: skip


class Rollback(Exception):
    pass


def tiles_over(box, zooms) -> list[TileCoord]:
    """Return the tiles of these zooms that cover a longitude/latitude box (XYZ, y down)."""

    def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 2**z
        lat_r = math.radians(lat)
        return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)

    coords = []
    for z in zooms:
        (x0, y0), (x1, y1) = tile(box[0], box[3], z), tile(box[2], box[1], z)
        coords += [TileCoord(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return coords


def load(slug: str, path: Path, name: str, times: dict, category: Category) -> Layer:
    layer = Layer.objects.create(
        slug=slug, category=category, geometry_type="polygon", attribute_schema=SCHEMA,
        time_start_field="valid_from", time_end_field="valid_to", tile_fields=["ten"],
    )  # fmt: skip
    records = [
        FeatureRecord(geom=feature.geom.geos, attributes={"ten": feature.get(name), **times})
        for feature in DataSource(str(path))[0]
    ]
    layer_replace_features(layer=layer, records=records)
    layer.refresh_from_db()
    return layer


def median_ms(spec, coords) -> float:
    per_tile = []
    for coord in coords:
        times = []
        for _round in range(ROUNDS):
            started = time.perf_counter()
            render_tile(spec, coord)
            times.append(time.perf_counter() - started)
        per_tile.append(statistics.median(times))
    return statistics.mean(per_tile) * 1000


def main() -> None:
    try:
        with transaction.atomic():
            category = Category.objects.create(slug="bench-time", name_vi="x", name_en="x")
            wards = load("bench-wards-2025", DATA / "hue_wards_2025" / "hue_wards_2025.gpkg",
                         "name", {"valid_from": "2025-07-01"}, category)  # fmt: skip
            districts = load("bench-districts", DATA / "vn_admin_tth_gov" / "tth_districts.geojson",
                             "ten", {"valid_to": "2025-06-30"}, category)  # fmt: skip
            for layer in (wards, districts):
                box = layer.extent.extent
                coords = tiles_over(box, ZOOMS)
                plain = median_ms(tile_spec(layer), coords)
                print(f"{layer.slug}: {layer.feature_count} features, {len(coords)} tiles z8-12")
                print(f"  plain                 {plain:7.2f} ms/tile")
                for value in ("2025-06-30", "2025-01-01/2025-12-31"):
                    spec = filtered_specs(layers=[layer], wanted=TileFilter(datetime=value))
                    ms = median_ms(spec[layer.pk], coords)
                    print(f"  datetime={value:22} {ms:7.2f} ms/tile  ({ms / plain:.2f}x plain)")
                for day in ("2026-01-01", "2026-01-02"):  # the first on a new connection
                    started = time.perf_counter()
                    time_selects_all(layer, time_filter(layer, day))
                    print(f"  time_selects_all({day}), once per version and day: "
                          f"{(time.perf_counter() - started) * 1000:.1f} ms")  # fmt: skip
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
