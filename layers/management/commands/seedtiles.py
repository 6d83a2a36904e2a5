"""`python manage.py seedtiles [SLUG …] [--min-zoom Z] [--max-zoom Z] [--background]`, and
`python manage.py seedtiles --cancel [JOB_ID | SLUG …]` to stop running seeds."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from layers.models import JobStatus, Layer, TileJob
from layers.tiles.seed import (
    tile_job_cancel,
    tile_job_run_here,
    tile_seed_create,
    tile_seed_start,
)

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Prebuild layers' vector tiles into the tile cache (all layers when none is named), "
        "from the min zoom to the prebuild depth unless told otherwise. Tiles already current "
        "are skipped. A seed prebuilds no more than TILE_SEED_BUDGET tiles: the depth is lowered "
        "until it fits. With --cancel, stop the queued and running seeds of the jobs (by id) or "
        "layers (by slug) named, or all of them when none is."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        parser.add_argument(
            "--cancel",
            action="store_true",
            help="Cancel the queued and running tile jobs named by id or layer slug (all if none).",
        )
        parser.add_argument("--min-zoom", type=int)
        parser.add_argument("--max-zoom", type=int)
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the jobs for the Celery workers instead of running them here.",
        )

    def handle(self, *args, slugs, min_zoom, max_zoom, background, cancel, **options) -> None:
        if cancel:
            self._cancel(slugs)
            return
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

    def _cancel(self, names: list[str]) -> None:
        active = TileJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        ids = {int(name) for name in names if name.isdigit()}
        slugs = {name for name in names if not name.isdigit()}
        if names:
            known = set(TileJob.objects.filter(pk__in=ids).values_list("pk", flat=True))
            known_slugs = set(Layer.objects.filter(slug__in=slugs).values_list("slug", flat=True))
            missing = sorted(map(str, ids - known)) + sorted(slugs - known_slugs)
            if missing:
                raise CommandError(f"No tile job or layer named {', '.join(missing)}.")
            active = active.filter(Q(pk__in=ids) | Q(layer__slug__in=slugs))
        jobs = list(active.select_related("layer").order_by("pk"))
        for job in jobs:
            if tile_job_cancel(job=job):
                self.stdout.write(
                    f"tile job {job.pk} ({job.layer.slug if job.layer else '?'}): cancelled"
                )
        if not jobs:
            self.stdout.write("No queued or running tile job to cancel.")

    def _bar(self, slug: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else 0
        percent = 100 * done // total if total else 0
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stdout.write(f"\r{slug} [{bar}] {done}/{total} tiles {percent:3d}%", ending="")
        self.stdout.flush()
