"""`importlayer PATH --layer SLUG`: import a GIS file into a layer here, with a progress bar.

The file is read in this process (no worker needed), through the same service as uploads, so it
gets the same checks, messages and all-or-nothing write. A missing layer is created (mode create).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from layers.imports import import_layer_create, import_options_clean, import_run
from layers.models import Category, ImportJob, Layer

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Import a GIS file (GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, CSV…) into a layer."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="The file to import.")
        parser.add_argument("--layer", required=True, help="Slug of the layer (created if new).")
        parser.add_argument(
            "--mode",
            choices=[choice for choice, _label in ImportJob.Mode.choices],
            help="replace (default for an existing layer), append, or create (a new layer).",
        )
        parser.add_argument("--srid", help="EPSG code of the file when it has no CRS (e.g. 9214).")
        parser.add_argument("--encoding", help="Text encoding: utf-8, cp1258, latin-1…")
        parser.add_argument("--source-layer", help="Layer of a file that has several.")
        parser.add_argument("--lon-field", help="CSV column of longitudes.")
        parser.add_argument("--lat-field", help="CSV column of latitudes.")
        parser.add_argument("--title", help="Title of a new layer (the file name otherwise).")
        parser.add_argument("--category", help="Category slug of a new layer.")

    def handle(self, *args, path: str, layer: str, mode: str | None, **options) -> None:
        source = Path(path)
        if not source.is_file():
            raise CommandError(f"No file {source}.")
        try:
            cleaned = import_options_clean(options)
        except ValueError as error:
            field, message = error.args
            raise CommandError(f"--{field.replace('_', '-')}: {message}") from error
        target = Layer.objects.filter(slug=layer).first()
        if target is None:
            if mode not in (None, ImportJob.Mode.CREATE):
                raise CommandError(f"No layer “{layer}” to {mode}: leave out --mode to create it.")
            target = import_layer_create(
                slug=layer,
                title=options["title"] or source.stem,
                category=self._category(options["category"]),
                user=None,
            )
            mode = ImportJob.Mode.CREATE
        elif mode == ImportJob.Mode.CREATE:
            raise CommandError(f"The layer “{layer}” exists: use --mode replace or append.")
        job = ImportJob.objects.create(
            layer=target,
            mode=mode or ImportJob.Mode.REPLACE,
            options=cleaned,
            source_name=source.name,
        )
        job = import_run(job=job, source_path=source, progress=self._bar)
        if job.status == ImportJob.Status.SUCCEEDED:
            self._bar(job.progress_done, job.progress_total, done_features=job.imported_count)
        self.stdout.write("")
        for message in job.messages:
            where = f"#{message['feature']} " if message.get("feature") else ""
            self.stdout.write(f"{message['level']}: {where}{message['message']}")
        summary = (
            f"{layer}: {job.imported_count} imported, {job.repaired_count} repaired, "
            f"{job.skipped_count} skipped ({job.status}, job {job.pk})"
        )
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _category(self, slug: str | None) -> Category | None:
        if not slug:
            return None
        category = Category.objects.filter(slug=slug).first()
        if category is None:
            raise CommandError(f"No category “{slug}”.")
        return category

    def _bar(self, done: int, total: int, done_features: int | None = None) -> None:
        # Reading is the first half of a job's progress, writing the second (`imports._stage`).
        filled = BAR_WIDTH * done // total if total else 0
        percent = 100 * done // total if total else 0
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        if done_features is None:
            what = f"{done:,} of {total // 2:,} features read"
        else:
            what = f"{done_features:,} features written"
        self.stdout.write(f"\r[{bar}] {percent:3d}% {what}   ", ending="")
        self.stdout.flush()
