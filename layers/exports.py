"""Export jobs: a layer's features written to a file by a worker, downloadable until it expires.

`export_job_create` checks what is asked (the layer visible to the requester, the parameters, the
size) and queues `layers.tasks.export_run` on the `exports` queue; `export_run` writes the file with
the writers of `layers.features.exports` (the same ones the inline exports stream), reporting
progress as features are written, and stores it through the job's FileField (MEDIA_ROOT/exports/
by default: any Django storage will do, so the worker need not share a disk with the web server).
`exports_cleanup` deletes the files past `expires_at`.

Who may follow a job: its creator (a signed-in user), GIS staff, and for a job made by an anonymous
requester whoever holds its key (`export_key`, carried in the URLs handed to that requester). The
layer must still be visible to the one asking, at download time too (`Layer.objects.visible_to`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files import File
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from . import queueing
from .errors import Conflict, Gone, InvalidParameter, LayerError, NotFound, TooManyJobs
from .features import exports as writers
from .features.crs import answer_in, crs_from_name
from .features.query import (
    QUERY_PARAMETERS,
    FeatureQuery,
    feature_query_from_params,
    parse_instant,
)
from .features.temporal import parse_datetime
from .jobs import Heartbeat, worker_id
from .models import ExportJob, JobStatus, Layer
from .querysets import can_edit_layers

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser | None
# A job's format → the writer's format (`layers.features.exports.FORMATS`).
WRITER_FORMATS = {
    ExportJob.Format.GEOJSON: "geojson",
    ExportJob.Format.CSV: "csv",
    ExportJob.Format.GPKG: "gpkg",
    ExportJob.Format.SHP: "shp.zip",
    ExportJob.Format.KML: "kml",
}
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
# The query parameters an export job keeps; anything else in `filters` names an attribute.
QUERY_KEYS = (
    "bbox", "q", "properties", "sortby", "as_of", "datetime", "crs", "filter", "filter-lang",
    "filter-crs",
)  # fmt: skip
KEY_SALT = "layers.exports.key"


class ExportStopped(Exception):
    """The job stopped being ours while it ran: cancelled, or taken back by the sweeper."""


def export_requester(*, user: User, address: str = "") -> str:
    """Return who asks, as jobs record it: `user:<id>`, or a hash of an anonymous address."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    # Hashed: the job table needs to tell addresses apart, not to know them.
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{address}".encode()).hexdigest()[:16]
    return f"anon:{digest}"


def export_key(job: ExportJob) -> str:
    """Return the key that lets an anonymous requester follow and download their job."""
    return salted_hmac(KEY_SALT, str(job.pk)).hexdigest()[:32]


def export_params_clean(*, layer: Layer, params: Mapping) -> dict:
    """Return the export's parameters as a job keeps them, or raise InvalidParameter.

    `params`: `bbox` (text or four numbers), `q`, `filters` ({field or field__op: value}),
    `filter` (CQL2 text, or JSON as text or an object) with `filter-lang` and `filter-crs`,
    `properties` (text or list), `limit`, `offset`, `as_of` (an ISO 8601 instant: the layer as
    it was then), `datetime` (OGC: the features of a time-enabled layer whose time meets it),
    `crs` (the file's CRS: EPSG:9214 or another of `layers.features.crs.OFFERED`).
    """
    cleaned: dict = {}
    bbox = params.get("bbox")
    if isinstance(bbox, list | tuple):
        bbox = ",".join(str(number) for number in bbox)
    if bbox not in (None, ""):
        cleaned["bbox"] = str(bbox)
    if str(params.get("q") or "").strip():
        cleaned["q"] = str(params["q"]).strip()
    properties = params.get("properties")
    if isinstance(properties, list | tuple):
        properties = ",".join(str(name) for name in properties)
    if properties is not None:
        cleaned["properties"] = str(properties)
    if params.get("sortby"):
        cleaned["sortby"] = str(params["sortby"])
    if str(params.get("as_of") or "").strip():
        # Kept in UTC: the same instant written with another offset finds the same job.
        instant = parse_instant(str(params["as_of"]), parameter="as_of")
        cleaned["as_of"] = instant.astimezone(UTC).isoformat()
    if str(params.get("datetime") or "").strip():
        # OGC `datetime` (time-enabled layers): checked, and kept as it was written.
        cleaned["datetime"] = str(params["datetime"]).strip()
        parse_datetime(cleaned["datetime"])
    if str(params.get("crs") or "").strip():
        # Kept as EPSG:n: the same CRS named by its URI finds the same job.
        cleaned["crs"] = crs_from_name(str(params["crs"]), parameter="crs").epsg
    cql = params.get("filter")
    if isinstance(cql, Mapping):  # CQL2 JSON given as an object in a JSON body
        cql = json.dumps(cql, ensure_ascii=False)
        cleaned["filter-lang"] = "cql2-json"
    if str(cql or "").strip():
        cleaned["filter"] = str(cql)
        for name in ("filter-lang", "filter-crs"):
            if str(params.get(name) or "").strip():
                cleaned[name] = str(params[name]).strip()
    filters = params.get("filters") or {}
    if not isinstance(filters, Mapping):
        raise InvalidParameter("filters must be an object: {field: value}.", parameter="filters")
    cleaned_filters = {}
    for name, value in filters.items():
        if name in QUERY_PARAMETERS:
            raise InvalidParameter(f"'{name}' is not an attribute filter.", parameter="filters")
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, str | int | float):
            raise InvalidParameter(f"filters: {name} must be a value.", parameter="filters")
        cleaned_filters[str(name)] = str(value)
    if cleaned_filters:
        cleaned["filters"] = cleaned_filters
    for name in ("limit", "offset"):
        if params.get(name) not in (None, "", 0):
            cleaned[name] = int(params[name])
    export_query(layer=layer, params=cleaned)  # raises InvalidParameter, naming the parameter
    return cleaned


def export_query(*, layer: Layer, params: Mapping) -> FeatureQuery:
    """Return the feature query of an export's cleaned parameters."""
    flat = {key: params[key] for key in QUERY_KEYS if key in params and key != "crs"}
    flat.update(params.get("filters") or {})
    query = feature_query_from_params(layer=layer, params=flat)
    if params.get("crs"):
        # Files keep east (longitude) first whatever the CRS, as their readers expect.
        query = answer_in(query, crs_from_name(params["crs"]), authority_axes=False)
    return query


@transaction.atomic
def export_job_create(
    *, layer: Layer, format: str, params: Mapping, user: User, address: str = ""
) -> ExportJob:
    """Save an export job for the layer and queue its run once this commits.

    The same requester asking again for the same export of the same layer version gets the job
    already made (queued, running or done and not expired), so a client that repeats a GET or a
    POST does not make a second file. `job.dispatch` is None then.
    """
    if format not in WRITER_FORMATS:
        raise InvalidParameter(
            f"format must be one of {', '.join(WRITER_FORMATS)}.", parameter="format"
        )
    if not Layer.objects.visible_to(user).filter(pk=layer.pk).exists():
        raise NotFound(f"No layer '{layer.slug}'.")
    cleaned = export_params_clean(layer=layer, params=params)
    query = export_query(layer=layer, params=cleaned)
    if format == ExportJob.Format.KML:
        writers.check_kml_crs(query.srid)
    writers.check_size(query, limit=cleaned.get("limit"))
    requester = export_requester(user=user, address=address)
    stored = {**cleaned, "requester": requester, "layer_version": layer.version}
    # One requester's jobs are counted and made one at a time (the lock ends with the transaction).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"export:{requester}"])
    same = (
        ExportJob.objects.filter(layer=layer, format=format, params=stored)
        .exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED])
        .exclude(expires_at__lte=timezone.now())
        .order_by("-created_at")
        .first()
    )
    if same is not None:
        same.dispatch = None
        return same
    active = ExportJob.objects.filter(params__requester=requester, status__in=ACTIVE).count()
    if active >= settings.EXPORT_MAX_ACTIVE_JOBS:
        raise TooManyJobs(
            f"You have {active} exports under way; at most {settings.EXPORT_MAX_ACTIVE_JOBS} run "
            "at once. Wait for one to finish (or cancel it), then ask again."
        )
    job = ExportJob.objects.create(
        layer=layer,
        format=format,
        params=stored,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    job.dispatch = queueing.enqueue("layers.tasks.export_run", job.pk)
    return job


def export_run(*, job: ExportJob) -> ExportJob:
    """Write a queued export job's file, store it and mark the job done; return the job."""
    now = timezone.now()
    claimed = ExportJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=now,
        worker=worker_id(),
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    job.refresh_from_db()
    if not claimed:
        return job  # cancelled before it started, or run already
    heartbeat = Heartbeat(ExportJob, job.pk).start()
    directory = Path(tempfile.mkdtemp(prefix=f"export-{job.pk}-"))
    try:
        path, count = _write(job, directory)
        _store(job, path, count)
    except ExportStopped:
        logger.info("export %s stopped: %s", job.pk, job.status)
    except LayerError as error:
        _fail(job, error.message)
    except Exception:
        logger.exception("export %s failed", job.pk)
        _fail(job, "The export failed on the server; the error is in the worker's log.")
    finally:
        heartbeat.stop()
        shutil.rmtree(directory, ignore_errors=True)
    job.refresh_from_db()
    return job


class _Progress:
    """Count the features written and tell the job row; stop when the job is no longer ours."""

    def __init__(self, job: ExportJob, total: int) -> None:
        self.job = job
        self.total = total
        self.done = 0

    def __call__(self, written: int) -> None:
        self.done += written
        # The rows may have changed since the count: the total grows with what was written.
        self.total = max(self.total, self.done)
        still_ours = ExportJob.objects.filter(
            pk=self.job.pk, status=JobStatus.RUNNING, worker=self.job.worker
        ).update(progress_done=self.done, progress_total=self.total, heartbeat_at=timezone.now())
        if not still_ours:
            raise ExportStopped


def _write(job: ExportJob, directory: Path) -> tuple[Path, int]:
    """Write the job's file in `directory`; return its path and how many features it holds."""
    layer = job.layer
    query = export_query(layer=layer, params=job.params)
    limit, offset = job.params.get("limit"), job.params.get("offset", 0)
    total = writers.check_size(query, limit=limit)
    ExportJob.objects.filter(pk=job.pk).update(progress_total=total)
    progress = _Progress(job, total)
    options = {"limit": limit, "offset": offset, "on_batch": progress}
    if job.format == ExportJob.Format.GPKG:
        path = writers.write_gpkg(layer, query, directory=directory, **options)
    elif job.format == ExportJob.Format.SHP:
        path = writers.write_shapefile_zip(layer, query, directory=directory, **options)
    elif job.format == ExportJob.Format.KML:
        path = writers.write_kml(layer, query, directory=directory, **options)
    else:
        chunks = writers.geojson_chunks if job.format == ExportJob.Format.GEOJSON else None
        chunks = chunks or writers.csv_chunks
        path = directory / f"{layer.slug}.{WRITER_FORMATS[job.format]}"
        with path.open("wb") as handle:
            for chunk in chunks(layer, query, **options):
                handle.write(chunk)
    return path, progress.done


def _store(job: ExportJob, path: Path, count: int) -> None:
    """Store the written file as the job's and mark it succeeded (unless it was cancelled)."""
    suffix = WRITER_FORMATS[job.format]
    # A random part: a stored name can never be guessed, whatever serves the storage.
    stored_name = f"{job.layer.slug}-{secrets.token_hex(8)}.{suffix}"
    with path.open("rb") as handle:
        job.file.save(stored_name, File(handle), save=False)
    finished = timezone.now()
    message = {"level": "info", "feature": None, "message": f"{count} features written."}
    with transaction.atomic():
        done = ExportJob.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, worker=job.worker
        ).update(
            status=JobStatus.SUCCEEDED,
            file=job.file.name,
            file_name=f"{job.layer.slug}.{suffix}",
            size_bytes=path.stat().st_size,
            feature_count=count,
            progress_done=count,
            progress_total=count,
            finished_at=finished,
            expires_at=finished + settings.EXPORT_LINK_TTL,
            messages=[*job.messages, message],
        )
    if not done:
        job.file.storage.delete(job.file.name)  # cancelled while it was being stored
        raise ExportStopped


def _fail(job: ExportJob, reason: str) -> None:
    message = {"level": "error", "feature": None, "message": reason}
    ExportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), messages=[*job.messages, message]
    )


def export_cancel(*, job: ExportJob) -> ExportJob:
    """Cancel a queued or running export (a running one stops at its next batch)."""
    cancelled = ExportJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if not cancelled:
        raise Conflict(f"The export has already {job.status}.")
    return job


def exports_cleanup(*, now: datetime | None = None) -> int:
    """Delete the files of exports past their expiry; return how many were deleted."""
    now = now or timezone.now()
    deleted = 0
    for job in ExportJob.objects.filter(expires_at__lte=now).exclude(file=""):
        job.file.storage.delete(job.file.name)
        note = {"level": "info", "feature": None, "message": "The file expired and was deleted."}
        deleted += ExportJob.objects.filter(pk=job.pk, file=job.file.name).update(
            file="", messages=[*job.messages, note]
        )
    return deleted


def export_job_for(*, job_id: int, user: User, key: str = "") -> ExportJob:
    """Return the export job if this requester may follow it, else raise NotFound.

    Its creator, GIS staff, or (for an anonymous requester's job) whoever holds its key; and only
    while its layer is visible to the requester. Any other case is answered as no such job.
    """
    job = ExportJob.objects.select_related("layer").filter(pk=job_id).first()
    if job is None or not _may_follow(job, user, key):
        raise NotFound(f"No export job {job_id}.")
    if not Layer.objects.visible_to(user).filter(pk=job.layer_id).exists():
        raise NotFound(f"No export job {job_id}.")
    return job


def _may_follow(job: ExportJob, user: User, key: str) -> bool:
    if can_edit_layers(user):
        return True
    if job.created_by_id is not None:
        return bool(user is not None and user.is_authenticated and user.pk == job.created_by_id)
    return bool(key) and constant_time_compare(key, export_key(job))


def export_wait(*, job: ExportJob, timeout_s: float, poll_s: float = 0.25) -> ExportJob:
    """Return the job once it has ended, or as it stands after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while job.status in ACTIVE and time.monotonic() < deadline:
        time.sleep(poll_s)
        job.refresh_from_db()
    return job


def export_file(*, job: ExportJob) -> File:
    """Return the finished export's file, open; raise Conflict before it is done, Gone after."""
    if job.status == JobStatus.FAILED:
        reasons = [m["message"] for m in job.messages if m.get("level") == "error"]
        raise Conflict(
            f"The export failed: {reasons[-1] if reasons else 'the worker gave no reason'}. "
            f"Ask for a new one (POST /api/v1/layers/{job.layer.slug}/exports/), narrowed or in "
            "another format if the reason says so.",
            reason=reasons[-1] if reasons else "",
        )
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(
            f"The export is {job.status} ({job.progress_percent}%); the file is there once it "
            "has succeeded."
        )
    if not job.file or (job.expires_at is not None and job.expires_at <= timezone.now()):
        raise Gone(
            f"The export expired at {job.expires_at:%Y-%m-%d %H:%M %Z} and its file is deleted; "
            f"ask for a new one (POST /api/v1/layers/{job.layer.slug}/exports/)."
        )
    try:
        return job.file.storage.open(job.file.name, "rb")
    except FileNotFoundError:
        raise Gone("The export's file is no longer kept; ask for a new one.") from None
