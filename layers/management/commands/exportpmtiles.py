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

    def handle(self, *args, slug, path, min_zoom, max_zoom, **options) -> None:
        layer = Layer.objects.filter(slug=slug).first()
        if layer is None:
            raise CommandError(f"No layer named {slug}.")
        try:
            count = export_pmtiles(layer=layer, path=path, min_zoom=min_zoom, max_zoom=max_zoom)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{path}: {count} tiles of {slug}")
