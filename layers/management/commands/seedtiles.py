"""`python manage.py seedtiles [SLUG …] [--min-zoom Z] [--max-zoom Z] [--background]`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from layers.models import Layer
from layers.tiles.seed import tile_job_run_here, tile_seed_create, tile_seed_start

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Prebuild layers' vector tiles into the tile cache (all layers when none is named), "
        "from the min zoom to the prebuild depth unless told otherwise. Tiles already current "
        "are skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        parser.add_argument("--min-zoom", type=int)
        parser.add_argument("--max-zoom", type=int)
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the jobs for the Celery workers instead of running them here.",
        )

    def handle(self, *args, slugs, min_zoom, max_zoom, background, **options) -> None:
        layers = Layer.objects.exclude(feature_count=0).order_by("slug")
        if slugs:
            layers = Layer.objects.filter(slug__in=slugs).order_by("slug")
            missing = sorted(set(slugs) - {layer.slug for layer in layers})
            if missing:
                raise CommandError(f"No layer named {', '.join(missing)}.")
        for layer in layers:
            zooms = {"min_zoom": min_zoom, "max_zoom": max_zoom}
            if background:
                job = tile_seed_start(layer=layer, **zooms)
                self.stdout.write(f"{layer.slug}: queued tile job {job.pk}")
                continue
            job = tile_seed_create(layer=layer, **zooms)
            self._bar(layer.slug, 0, 0)
            job = tile_job_run_here(
                job=job,
                on_progress=lambda done, total, slug=layer.slug: self._bar(slug, done, total),
            )
            self._bar(layer.slug, job.progress_done, job.progress_total)
            self.stdout.write(
                f"\n{layer.slug}: z{job.min_zoom}-{job.max_zoom}, {job.tiles_rendered} rendered, "
                f"{job.tiles_skipped} already current ({job.get_status_display()})"
            )

    def _bar(self, slug: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else 0
        percent = 100 * done // total if total else 0
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stdout.write(f"\r{slug} [{bar}] {done}/{total} tiles {percent:3d}%", ending="")
        self.stdout.flush()
