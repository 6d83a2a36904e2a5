"""Writes of the import: create a job, run it (read, stage, check, write at once), cancel it.

`import_run` is what the Celery task and the `importlayer` command call. A failure at any step,
or a cancellation, leaves the target layer exactly as it was: its features are only touched by the
last step, inside one transaction that also marks the job succeeded.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from . import jobs, queueing, services
from .importers import ImportFailed, ImportOptions, open_upload
from .importers.crs import crs_name, srid_for
from .importers.encodings import encoding_choice
from .importers.errors import ImportCancelled, without_paths
from .importers.reader import SourceLayout, read_batches
from .importers.schema import guess_name_field, merged_schema
from .importers.staging import PreparedStats, Staging
from .models import Category, ChangeAction, ChangeChannel, ImportJob, Layer
from .partitions import Archive, FreshPartition, SwapTimeout

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
GEOMETRY_TYPES = {
    0: Layer.GeometryType.POINT,
    1: Layer.GeometryType.LINE,
    2: Layer.GeometryType.POLYGON,
}
EARTH_RADIUS_KM = 6371.0


def import_options_clean(data: dict) -> dict:
    """Return the import options with checked values; raise ValueError(field, message) if not."""
    cleaned = {}
    for name in ("source_layer", "lon_field", "lat_field"):
        if data.get(name):
            cleaned[name] = str(data[name]).strip()
    if data.get("srid") not in (None, ""):
        text = str(data["srid"]).strip().upper().removeprefix("EPSG:")
        if not text.isdigit():
            raise ValueError("srid", f"“{data['srid']}” is not an EPSG code (a number like 9214).")
        try:
            crs_name(int(text))
        except ValueError as error:
            raise ValueError("srid", str(error)) from error
        cleaned["srid"] = int(text)
    if data.get("encoding"):
        try:
            cleaned["encoding"] = encoding_choice(str(data["encoding"]))
        except ValueError as error:
            raise ValueError("encoding", str(error)) from error
    if bool(cleaned.get("lon_field")) != bool(cleaned.get("lat_field")):
        missing = "lat_field" if cleaned.get("lon_field") else "lon_field"
        raise ValueError(missing, "Give both the longitude and the latitude column, or neither.")
    return cleaned


def default_category() -> Category:
    """Return the category of layers created by an import that names none."""
    category, _created = Category.objects.get_or_create(
        slug=settings.IMPORT_DEFAULT_CATEGORY,
        defaults={"name_vi": "Khác", "name_en": "Other", "order": 1000},
    )
    return category


@transaction.atomic
def import_job_create(
    *,
    layer: Layer,
    upload: File,
    mode: str = ImportJob.Mode.REPLACE,
    options: dict | None = None,
    user: AbstractBaseUser | None = None,
    queue: bool = True,
) -> ImportJob:
    """Store an upload as a queued import job for a layer; queue its run once this commits."""
    job = ImportJob(
        layer=layer,
        mode=mode,
        options=import_options_clean(options or {}),
        source_name=Path(upload.name or "upload").name[:255],
        created_by=user if user and user.is_authenticated else None,
    )
    job.upload.save(job.source_name or "upload", upload, save=False)
    job.save()
    if queue:
        # The caller reads `job.dispatch.sent` after the commit: False means the broker was down
        # and the job waits in the outbox (an API says so with a 503 and the job's id).
        job.dispatch = queueing.enqueue("layers.tasks.import_run", job.pk)
    return job


@transaction.atomic
def import_layer_create(
    *, slug: str, title: str, category: Category | None, user: AbstractBaseUser | None
) -> Layer:
    """Create the draft layer a `create` import fills (published when the import succeeds)."""
    return Layer.objects.create(
        slug=slug,
        title_vi=title,
        category=category or default_category(),
        status=Layer.Status.DRAFT,
        created_by=user if user and user.is_authenticated else None,
    )


def import_cancel(
    *, job: ImportJob, user: AbstractBaseUser | None = None, reason: str = ""
) -> bool:
    """Cancel a queued or running job, saying who and why; return False if it had finished."""
    who = user.get_username() if user and user.is_authenticated else "the system"
    text = f"Cancelled by {who}" + (f": {reason.strip()[:500]}" if reason.strip() else "")
    note = {"level": "error", "feature": None, "message": f"{text}. The layer was not changed."}
    with transaction.atomic():
        row = (
            ImportJob.objects.select_for_update()
            .filter(pk=job.pk, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
            .first()
        )
        if row is not None:
            ImportJob.objects.filter(pk=row.pk).update(
                status=ImportJob.Status.CANCELLED,
                finished_at=timezone.now(),
                messages=[*row.messages, {**note, "cancel": True}],
                # A queued job's upload goes now: no run will come to delete it.
                **(_upload_cleared() if row.status == ImportJob.Status.QUEUED else {}),
            )
    if row is not None and row.status == ImportJob.Status.QUEUED:
        # No worker will read it: its run sees the cancel and stops before touching the files.
        jobs.import_files_remove(row)
    job.refresh_from_db()
    return row is not None


def _cancel_notes(job: ImportJob) -> list[dict]:
    """Return the messages `import_cancel` left on the job (who cancelled it, and why)."""
    messages = ImportJob.objects.filter(pk=job.pk).values_list("messages", flat=True).first()
    return [message for message in messages or [] if message.get("cancel")]


class _Run:
    """One run of an import job: its options, messages, report, timings and progress."""

    def __init__(self, job: ImportJob, progress: Progress | None) -> None:
        self.job = job
        self.options = ImportOptions.from_dict(job.options or {})
        self.progress = progress
        # What earlier attempts left (a note that the worker stopped) stays in front.
        self.messages: list[dict] = list(job.messages or [])
        self.timings: dict[str, float] = {}
        self.report: dict = {}
        self.name_field = ""
        self.started = time.monotonic()
        # The import's change event: its id and instant, drawn before the features are written
        # (they carry them), recorded when the import lands (`_publish`).
        self.event_id, self.event_at = services.change_event_reserve()

    def say(self, level: str, message: str, feature: int | None = None) -> None:
        # GDAL and Python name files by their full path; the uploader knows the member's name.
        message = without_paths(message)
        self.messages.append({"level": level, "feature": feature, "message": message})

    def tick(self, done: int, total: int) -> None:
        total = max(total, done)
        ImportJob.objects.filter(pk=self.job.pk).update(
            progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )
        if self.progress:
            self.progress(done, total)
        if ImportJob.objects.filter(pk=self.job.pk, status=ImportJob.Status.CANCELLED).exists():
            raise ImportCancelled

    def lap(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.timings[name] = round(now - since, 3)
        return now


def _claim(job: ImportJob) -> bool:
    """Take a job for this worker: a queued one, or a running one whose worker is gone.

    A running job comes back when the broker gives a killed worker's task to another one
    (reject-on-worker-lost); a job already tried `IMPORT_MAX_ATTEMPTS` times is failed instead
    of being run again, so a file that kills its worker cannot loop.
    """
    now = timezone.now()
    with transaction.atomic():
        row = (
            ImportJob.objects.select_for_update()
            .filter(pk=job.pk, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
            .first()
        )
        if row is None:
            claimed = False
        elif row.status == ImportJob.Status.RUNNING and jobs.worker_alive(
            row.worker, row.heartbeat_at, now=now
        ):
            claimed = False  # another worker runs it (a duplicate message)
        else:
            claimed = True
            ImportJob.objects.filter(pk=row.pk).update(
                status=ImportJob.Status.RUNNING,
                started_at=now,
                worker=jobs.worker_id(),
                heartbeat_at=now,
                attempts=F("attempts") + 1,
            )
    job.refresh_from_db()
    if claimed and job.attempts > settings.IMPORT_MAX_ATTEMPTS:
        jobs.import_worker_lost(job=job)
        job.refresh_from_db()
        return False
    return claimed


def _copy_upload(job: ImportJob, source_path: Path | None, workdir: Path) -> Path:
    name = Path(job.source_name or (source_path.name if source_path else "upload")).name
    target = workdir / f"upload{Path(name).suffix.lower()}"
    if source_path is not None:
        shutil.copyfile(source_path, target)
    else:
        with job.upload.open("rb") as stream, open(target, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
    return target


def _source_srid(run: _Run, source) -> int:
    if run.options.srid:
        if source.crs and source.crs != f"EPSG:{run.options.srid}":
            run.say(
                "warning",
                f"The file declares its own CRS ({_short_crs(source.crs)}); "
                f"EPSG:{run.options.srid} was used as the uploader asked.",
            )
        return srid_for(f"EPSG:{run.options.srid}")
    if source.crs:
        return srid_for(source.crs)
    if source.default_srid:
        return source.default_srid
    raise ImportFailed(
        f"The {source.format_name} file does not say its coordinate system. Give its EPSG code "
        "(srid): for example 9214 for VN-2000 / TM-3 107-00 (Thừa Thiên Huế), 4326 for WGS 84."
    )


def _short_crs(crs: str) -> str:
    return crs if len(crs) < 40 else crs.split('"')[1] if '"' in crs else crs[:40] + "…"


def _distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _check_location(run: _Run, stats: PreparedStats, srid: int) -> None:
    """Fail when coordinates are not longitude/latitude; warn when they land far from the city."""
    min_x, min_y, max_x, max_y = stats.extent
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise ImportFailed(
            f"The coordinates (x up to {max(abs(min_x), abs(max_x)):,.0f}, y up to "
            f"{max(abs(min_y), abs(max_y)):,.0f}) are not longitude/latitude once read as "
            f"EPSG:{srid}: the file's coordinate system is missing or wrong. Give the right EPSG "
            "code (srid), for example 9214 for VN-2000 / TM-3 107-00 (Thừa Thiên Huế)."
        )
    region = settings.CITY_REGION_BBOX
    if max_x < region[0] or min_x > region[2] or max_y < region[1] or min_y > region[3]:
        lon, lat = (min_x + max_x) / 2, (min_y + max_y) / 2
        city_lon, city_lat = settings.CITY_CENTER
        distance = _distance_km(lon, lat, city_lon, city_lat)
        run.say(
            "warning",
            f"The data lands around {abs(lat):.4f}°{'N' if lat >= 0 else 'S'} "
            f"{abs(lon):.4f}°{'E' if lon >= 0 else 'W'}, about {distance:,.0f} km from "
            f"{settings.CITY_NAME}, outside the city's region: check the CRS (EPSG:{srid}).",
        )


def _dimension_plan(layer: Layer, stats: PreparedStats, append: bool) -> tuple[list[int], str]:
    """Return the dimensions to store as multi-parts and the layer's geometry type."""
    kinds = dict(stats.kinds)
    if append:
        for dimension, is_multi, count in _existing_kinds(layer):
            kinds[(dimension, is_multi)] = kinds.get((dimension, is_multi), 0) + count
    dimensions = {dimension for dimension, _multi in kinds}
    promote = sorted(
        d for d in dimensions if d >= 0 and kinds.get((d, True)) and kinds.get((d, False))
    )
    if len(dimensions) == 1 and -1 not in dimensions:
        geometry_type = GEOMETRY_TYPES[next(iter(dimensions))]
    else:
        geometry_type = Layer.GeometryType.MIXED
    return promote, geometry_type


def _existing_kinds(layer: Layer) -> list[tuple[int, bool, int]]:
    """Return (dimension, is multi-part, count) of a layer's stored features."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN GeometryType(geom) = 'GEOMETRYCOLLECTION' THEN -1 "
            "ELSE ST_Dimension(geom) END, starts_with(GeometryType(geom), 'MULTI'), count(*) "
            "FROM layers_feature WHERE layer_id = %s GROUP BY 1, 2",
            [layer.pk],
        )
        return cursor.fetchall()


def _feature_messages(run: _Run, staging: Staging, stats: PreparedStats, srid: int) -> None:
    limit = settings.IMPORT_MAX_FEATURE_MESSAGES
    if stats.repaired:
        for n, reason in staging.repaired(srid=srid, limit=limit):
            run.say("warning", f"Invalid geometry repaired ({reason}).", n)
        if stats.repaired > limit:
            run.say("warning", f"… {stats.repaired - limit:,} more geometries were repaired.")
    if stats.skipped:
        for n, reason in staging.skipped(limit=limit):
            run.say("warning", f"Skipped: {reason}.", n)
        if stats.skipped > limit:
            run.say("warning", f"… {stats.skipped - limit:,} more features were skipped.")
    if stats.dropped_zm:
        run.say(
            "info",
            f"{stats.dropped_zm:,} features had Z (height) or M values: they were dropped "
            "and only the 2D geometry was kept.",
        )
    if stats.linearised:
        run.say(
            "info",
            f"{stats.linearised:,} features had curves (circular arcs, curve polygons): they "
            "were turned into straight segments, as web maps and GeoJSON need.",
        )
    if stats.empty_parts:
        run.say(
            "info",
            f"{stats.emptied_features:,} multi-part features held {stats.empty_parts:,} empty "
            "parts: the empty parts were removed, the rest kept.",
        )


def _geometry_report(stats: PreparedStats) -> dict:
    """Return what the import did to geometries, for the job's report."""
    return {
        "read": stats.total,
        "linearised": stats.linearised,
        "dropped_zm": stats.dropped_zm,
        "repaired": stats.repaired,
        "empty_parts_removed": stats.empty_parts,
        "skipped": stats.skipped,
        "skipped_by_reason": stats.skipped_by_reason,
    }


def _stage(run: _Run, source, staging_key: str) -> tuple[Staging, SourceLayout]:
    with read_batches(source) as (layout, tables):
        staging = Staging(key=staging_key, columns=layout.kept)
        staging.create()
        done = 0
        run.tick(0, 2 * layout.feature_count)
        for table in tables:
            staging.copy(table)
            done += table.num_rows
            run.tick(done, 2 * max(layout.feature_count, done))
        layout.feature_count = done
    return staging, layout


def _fill(run: _Run, staging: Staging, stats: PreparedStats) -> tuple[FreshPartition, int] | None:
    """For a create or replace import, fill and index the table that becomes the layer's."""
    if run.job.mode == ImportJob.Mode.APPEND:
        return None
    promote, _geometry_type = _dimension_plan(run.job.layer, stats, append=False)
    return staging.fill_fresh(
        layer_id=run.job.layer_id,
        multi_dimensions=promote,
        rows=stats.importable,
        event_id=run.event_id,
        at=run.event_at,
    )


def _publish(
    run: _Run,
    staging: Staging,
    layout: SourceLayout,
    stats: PreparedStats,
    started: float,
    filled: tuple[FreshPartition, int] | None,
) -> int:
    job = run.job
    append = filled is None
    with transaction.atomic():
        layer = Layer.objects.select_for_update().get(pk=job.layer_id)
        status = ImportJob.objects.select_for_update().values_list("status", flat=True)
        if status.get(pk=job.pk) == ImportJob.Status.CANCELLED:
            raise ImportCancelled
        promote, geometry_type = _dimension_plan(layer, stats, append)
        removed = 0 if append else layer.feature_count
        event = services.change_event_open(
            layer=layer,
            action=ChangeAction.IMPORT,
            by=services.WriteContext(user=job.created_by, channel=ChangeChannel.IMPORT),
            job_id=job.pk,
            note=job.source_name,
            event_id=run.event_id,
            at=None if append else run.event_at,
        )
        try:
            if append:
                written = staging.publish_append(
                    layer_id=layer.pk, multi_dimensions=promote, event_id=event.pk
                )
            else:
                fresh, written = filled
                fresh.swap_in(
                    Archive(event_id=event.pk, at=run.event_at)
                    if settings.HISTORY_ARCHIVE_IMPORTS
                    else None
                )
        except SwapTimeout as error:
            raise ImportFailed(
                f"{error} Nothing was changed; run the import again in a few minutes, or when the "
                "export has finished."
            ) from error
        if append:
            layer.attribute_schema = merged_schema(layer.attribute_schema or [], layout.kept)
        else:
            layer.attribute_schema = [column.schema_entry for column in layout.kept]
        layer.name_field = run.name_field
        layer.geometry_type = geometry_type
        # A new layer is published by its first import; a draft that staff hold back stays one.
        if job.mode == ImportJob.Mode.CREATE or layer.status == Layer.Status.FAILED:
            layer.status = Layer.Status.READY
        layer.save(
            update_fields=[
                "attribute_schema",
                "name_field",
                "geometry_type",
                "status",
                "updated_at",
            ]
        )
        services.layer_data_changed(layer=layer)
        event.counts = {"added": written, "removed": removed}
        event.save(update_fields=["counts"])
        finished = timezone.now()
        run.lap("write", started)
        run.timings["total"] = round(time.monotonic() - run.started, 3)
        run.report["timings"] = run.timings
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.SUCCEEDED,
            imported_count=written,
            repaired_count=stats.repaired,
            skipped_count=stats.skipped,
            progress_done=2 * layout.feature_count,
            progress_total=2 * layout.feature_count,
            messages=run.messages,
            report=run.report,
            finished_at=finished,
            **_upload_cleared(),
        )
    return written


def import_run(
    *, job: ImportJob, source_path: Path | None = None, progress: Progress | None = None
) -> ImportJob:
    """Run an import job to its end; the job says how it went (it never raises for bad data)."""
    if not _claim(job):
        return job
    heartbeat = jobs.Heartbeat(ImportJob, job.pk).start()
    run = _Run(job, progress)
    workdir = Path(tempfile.mkdtemp(prefix=f"import-{job.pk}-", dir=settings.IMPORT_WORK_DIR))
    staging = None
    try:
        started = time.monotonic()
        upload = _copy_upload(job, source_path, workdir)
        source = open_upload(upload, run.options, workdir, job.source_name or upload.name)
        for note in source.notes:
            run.say("info", note)
        srid = _source_srid(run, source)
        run.report["source"] = {
            "format": source.format_name,
            "layer": source.layer,
            "layers": source.layer_names,
            "srid": srid,
            "encoding": source.transcode or source.read_encoding or "utf-8",
        }
        staging, layout = _stage(run, source, f"{job.pk}")
        started = run.lap("read", started)
        run.name_field = _name_field(job, layout)
        stats = staging.prepare(srid=srid, name_column=run.name_field, rows=layout.feature_count)
        run.report["geometry"] = _geometry_report(stats)
        if not stats.importable:
            raise ImportFailed(
                f"None of the {stats.total:,} features has a usable geometry: nothing to import."
                if stats.total
                else "The file holds no features: nothing to import."
            )
        _check_location(run, stats, srid)
        _feature_messages(run, staging, stats, srid)
        started = run.lap("check", started)
        filled = _fill(run, staging, stats)
        written = _publish(run, staging, layout, stats, started, filled)
        logger.info("import %s: %s features into layer %s", job.pk, written, job.layer_id)
    except ImportCancelled:
        run.messages.extend(_cancel_notes(job))
        run.say("error", "The import was cancelled; the layer was not changed.")
        _finish(run, ImportJob.Status.CANCELLED)
    except ImportFailed as error:
        run.report.update(error.details)
        run.say("error", error.message, error.feature)
        _finish(run, ImportJob.Status.FAILED)
    except DatabaseError as error:
        logger.exception("import %s failed in the database", job.pk)
        run.say(
            "error",
            "The database refused the data, so nothing was changed. It said: "
            + str(error).strip().splitlines()[0],
        )
        _finish(run, ImportJob.Status.FAILED)
    except Exception as error:
        logger.exception("import %s failed", job.pk)
        run.say(
            "error", f"The import stopped on an unexpected error ({type(error).__name__}: {error})."
        )
        _finish(run, ImportJob.Status.FAILED)
    finally:
        heartbeat.stop()
        if staging is not None:
            staging.drop()
        shutil.rmtree(workdir, ignore_errors=True)
        if job.upload and not settings.IMPORT_KEEP_UPLOADS:
            job.upload.storage.delete(job.upload.name)
    job.refresh_from_db()
    return job


def _name_field(job: ImportJob, layout: SourceLayout) -> str:
    """Return the layer's naming field after the import: kept if still there, else guessed."""
    names = [column.name for column in layout.kept]
    current = job.layer.name_field if job.layer else ""
    if job.mode == ImportJob.Mode.APPEND:
        existing = [entry.get("name") for entry in job.layer.attribute_schema or []]
        if current and current in existing + names:
            return current
    elif current in names:
        return current
    return guess_name_field(names)


def _upload_cleared() -> dict:
    """Return the job fields that forget the stored upload (deleted once the job has finished)."""
    return {} if settings.IMPORT_KEEP_UPLOADS else {"upload": ""}


def _finish(run: _Run, status: str) -> None:
    """Record a failed or cancelled run; a layer created for it is marked failed."""
    run.timings["total"] = round(time.monotonic() - run.started, 3)
    run.report["timings"] = run.timings
    fields = {
        "messages": run.messages,
        "report": run.report,
        "finished_at": timezone.now(),
        **_upload_cleared(),
    }
    jobs = ImportJob.objects.filter(pk=run.job.pk)
    if jobs.filter(status=ImportJob.Status.CANCELLED).exists():
        status = ImportJob.Status.CANCELLED  # a cancelled job stays cancelled, whatever came next
    jobs.update(status=status, **fields)
    if run.job.mode == ImportJob.Mode.CREATE:
        Layer.objects.filter(pk=run.job.layer_id, status=Layer.Status.DRAFT).update(
            status=Layer.Status.FAILED
        )
