"""`python manage.py exportpmtiles SLUG OUT.pmtiles [--min-zoom Z] [--max-zoom Z]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from layers.models import Layer
from layers.tiles.pmtiles import export_pmtiles


class Command(BaseCommand):
    help = (
        "Write a layer's vector tiles (min zoom to prebuild depth by default) as a PMTiles v3 "
        "archive with its TileJSON metadata, for static or CDN hosting."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", metavar="SLUG")
        parser.add_argument("path", metavar="OUT.pmtiles", type=Path)
        parser.add_argument("--min-zoom", type=int)
        parser.add_argument("--max-zoom", type=int)
        parser.add_argument(
            "--budget",
            type=int,
            help="Most tiles to write (default TILE_SEED_BUDGET); deeper zooms are left out.",
        )

    def handle(self, *args, slug, path, min_zoom, max_zoom, budget, **options) -> None:
        layer = Layer.objects.filter(slug=slug).first()
        if layer is None:
            raise CommandError(f"No layer named {slug}.")
        try:
            done = export_pmtiles(
                layer=layer, path=path, min_zoom=min_zoom, max_zoom=max_zoom, budget=budget
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{path}: {done.tiles} tiles of {slug}, z{done.min_zoom}-{done.max_zoom}")
        if done.max_zoom < done.requested_max_zoom:
            self.stdout.write(
                f"Stopped at z{done.max_zoom} instead of z{done.requested_max_zoom}: the next "
                "zoom would pass the tile budget. Give a larger --budget to go deeper."
            )
