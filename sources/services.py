"""Writes of layer sources: save a source (its credentials and schedule), sync it into its
layer, pause and resume it.

A sync reads through GDAL into the import's staging tables (`layers.importers.staging`): the same
decoding, reprojection to EPSG:4326, repair and counting as an upload. Then, in one transaction:
**replace** swaps a fresh table in for the layer's features (like a replacing import); **upsert**
compares the prepared features with the layer's by the key field and a hash of their content, and
writes only the new and changed ones and deletes the vanished ones, so that only their tiles are
rebuilt. A failed run touches nothing in the layer: its features are only written in that last
transaction. Each run is recorded (`SourceRun`); a failed one is mailed to staff and shown on the
admin's pages, and after `SOURCES_MAX_FAILURES` failures in a row the source pauses itself.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from layers import services as layer_services
from layers.importers import ImportFailed, ImportOptions
from layers.importers.reader import read_batches
from layers.importers.schema import guess_name_field
from layers.importers.staging import Staging, drop_tables
from layers.imports import (
    _check_location,
    _dimension_plan,
    _feature_messages,
    _source_srid,
    import_options_clean,
)
from layers.models import ChangeAction, ChangeChannel, Layer
from layers.partitions import Archive, SwapTimeout
from layers.queueing import Dispatch, enqueue

from .guard import GuardProxy, SourceRefused
from .models import LayerSource, RunStatus, SourceMode, SourceRun
from .readers import gdal_config, open_source, scrub
from .sealing import seal

logger = logging.getLogger(__name__)

TASK = "sources.tasks.source_sync"
# A run whose worker died is taken back after this long (a sync of a big source runs for minutes).
STALE_AFTER = timedelta(hours=2)


EDITABLE = [
    "layer",
    "kind",
    "url",
    "source_layer",
    "auth",
    "username",
    "options",
    "mode",
    "key_field",
    "enabled",
    "interval",
    "crontab",
]


class SourceInvalid(ValueError):
    """A source that cannot be saved as given: (field, message)."""


def source_clean(source: LayerSource) -> None:
    """Check what a sync needs before saving: the options, the key of an upsert, one schedule."""
    try:
        source.options = import_options_clean(source.options or {})
    except ValueError as error:
        field, message = error.args
        raise SourceInvalid("options", f"{field}: {message}") from error
    if source.mode == SourceMode.UPSERT and not source.key_field.strip():
        raise SourceInvalid(
            "key_field", "An upsert needs the key field: the attribute that identifies a feature."
        )
    if source.interval_id and source.crontab_id:
        raise SourceInvalid("crontab", "Choose one schedule: an interval or a crontab, not both.")


@transaction.atomic
def source_save(
    *, source: LayerSource, secret: str | None = None, clear_secret: bool = False
) -> LayerSource:
    """Save a source; `secret` replaces the stored one (None keeps it); keep its beat entry."""
    source_clean(source)
    source.key_field = source.key_field.strip()
    if clear_secret:
        source.secret = ""
    elif secret:
        source.secret = seal(secret)
    if source.pk is None:
        source.save()
    else:
        # What staff edit only: the run state (failures, pause, running) belongs to the runs.
        source.save(update_fields=[*EDITABLE, "secret", "updated_at"])
    source_schedule_sync(source=source)
    return source


def source_schedule_sync(*, source: LayerSource) -> PeriodicTask | None:
    """Make beat's entry (django-celery-beat's PeriodicTask) follow the source's schedule."""
    task = source.periodic_task
    schedule = {"interval": source.interval, "crontab": source.crontab}
    if not source.interval_id and not source.crontab_id:
        if task is not None:
            source.periodic_task = None
            LayerSource.objects.filter(pk=source.pk).update(periodic_task=None)
            task.delete()
        return None
    values = {
        "name": f"Layer source {source.pk}: {source.layer.slug}"[:200],
        "task": TASK,
        "args": json.dumps([source.pk]),
        "enabled": source.enabled and source.paused_at is None,
        "description": f"Pulls {source.get_kind_display()} into the layer “{source.layer.slug}”.",
        **schedule,
    }
    if task is None:
        task = PeriodicTask.objects.create(**values)
        source.periodic_task = task
        LayerSource.objects.filter(pk=source.pk).update(periodic_task=task)
    else:
        for name, value in values.items():
            setattr(task, name, value)
        task.save()
    return task


def source_sync_start(*, source: LayerSource) -> Dispatch:
    """Queue a sync of a source now ("sync now"), whatever its schedule, paused or not."""
    with transaction.atomic():
        return enqueue(TASK, source.pk, SourceRun.Trigger.MANUAL)


@transaction.atomic
def source_resume(*, source: LayerSource) -> LayerSource:
    """Resume a paused source: its failure count starts again and its schedule runs again."""
    LayerSource.objects.filter(pk=source.pk).update(paused_at=None, consecutive_failures=0)
    source.refresh_from_db()
    source_schedule_sync(source=source)
    return source


def _claim(source: LayerSource) -> bool:
    """Take the source for this run; False if another run holds it (not stale)."""
    now = timezone.now()
    claimed = (
        LayerSource.objects.filter(pk=source.pk)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - STALE_AFTER))
        .update(running_since=now)
    )
    if claimed:
        # A run its worker never finished: say so, and drop the tables it left.
        for run_id in SourceRun.objects.filter(source=source, status=RunStatus.RUNNING).values_list(
            "pk", flat=True
        ):
            drop_tables(f"src{run_id}")
        SourceRun.objects.filter(source=source, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED,
            finished_at=now,
            error="The worker stopped during this run; the layer was not changed.",
        )
    return bool(claimed)


class _Notes:
    """What the import's checks need of a run: the read options and somewhere to say things."""

    def __init__(self, options: ImportOptions) -> None:
        self.options = options
        self.messages: list[dict] = []

    def say(self, level: str, message: str, feature: int | None = None) -> None:
        self.messages.append({"level": level, "feature": feature, "message": message})


def source_sync(*, source: LayerSource, trigger: str = SourceRun.Trigger.SCHEDULE):
    """Run one sync of a source into its layer; return the run (None: skipped).

    A scheduled run of a disabled or paused source is skipped; "sync now" runs anyway.
    """
    source.refresh_from_db()
    if trigger == SourceRun.Trigger.SCHEDULE and (not source.enabled or source.paused_at):
        return None
    if not _claim(source):
        logger.info("source %s: a run is already going, this one skipped", source.pk)
        return None
    run = SourceRun.objects.create(source=source, trigger=trigger)
    notes = _Notes(ImportOptions.from_dict(source.options or {}))
    workdir = Path(tempfile.mkdtemp(prefix=f"source-{source.pk}-", dir=settings.IMPORT_WORK_DIR))
    staging = None
    try:
        with GuardProxy() as proxy:
            try:
                # GDAL's warnings (a retried request…) name the URL, which may carry a token:
                # they go to the run's messages, scrubbed, never to Python's warnings and logs.
                with (
                    gdal_config(source, proxy.address),
                    warnings.catch_warnings(record=True) as said,
                ):
                    warnings.simplefilter("always")
                    try:
                        staging, columns, srid = _read(source, run, notes, workdir, proxy)
                    finally:
                        for warning in said[:20]:
                            notes.say("info", scrub(str(warning.message), source))
            except Exception as error:  # a connection the guard cut or refused says why
                if proxy.budget.exceeded:
                    raise ImportFailed(_too_big()) from error
                if proxy.budget.refusals:
                    status, why = proxy.budget.refusals[-1]
                    if status == 403:
                        raise SourceRefused(why) from error
                    raise ImportFailed(
                        f"The source's server cannot be reached: {why} Check that it runs and "
                        "that the URL is right; the next run tries again."
                    ) from error
                raise
            if proxy.budget.exceeded:
                raise ImportFailed(_too_big())
        counts = _load(source, run, notes, staging, columns, srid)
        _succeed(source, run, notes, counts)
    except (ImportFailed, SourceRefused) as error:
        message = error.message if isinstance(error, ImportFailed) else str(error)
        _fail(source, run, notes, scrub(message, source))
    except DatabaseError as error:
        logger.warning("source %s: the database refused the sync", source.pk)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        _fail(
            source,
            run,
            notes,
            scrub(
                f"The database refused the data, so nothing was changed. It said: {first}", source
            ),
        )
    except Exception as error:
        logger.warning("source %s: the sync stopped on %s", source.pk, type(error).__name__)
        _fail(
            source,
            run,
            notes,
            scrub(
                f"The sync stopped on an unexpected error ({type(error).__name__}: {error}); the "
                "layer was not changed. If it happens again, tell the map server's operators.",
                source,
            ),
        )
    finally:
        if staging is not None:
            staging.drop()
        shutil.rmtree(workdir, ignore_errors=True)
        LayerSource.objects.filter(pk=source.pk).update(running_since=None)
        source.running_since = None
    run.refresh_from_db()
    return run


def _too_big() -> str:
    return (
        f"The source sent more than {settings.SOURCES_MAX_BYTES:,} bytes (SOURCES_MAX_BYTES), "
        "so the sync stopped and the layer was not changed: filter the data at the source, or "
        "raise the setting."
    )


def _read(source, run, notes, workdir, proxy):
    """Read the source into fresh staging tables; return them, the columns and the source CRS."""
    opened = open_source(source, workdir=workdir, proxy_url=proxy.url, options=notes.options)
    srid = _source_srid(notes, opened)
    staging = Staging(key=f"src{run.pk}", columns=[])
    try:
        with read_batches(opened) as (layout, tables):
            staging.columns = layout.kept
            staging.create()
            done = 0
            for table in tables:
                staging.copy(table)
                done += table.num_rows
    except ImportFailed as error:
        staging.drop()
        raise ImportFailed(scrub(error.message, source)) from error
    except Exception:
        staging.drop()
        raise
    run.read = done
    SourceRun.objects.filter(pk=run.pk).update(read=done)
    return staging, layout.kept, srid


def _load(source, run, notes, staging, columns, srid) -> dict[str, int]:
    """Prepare the staged features and write them to the layer; return the counts."""
    layer = source.layer
    names = [column.name for column in columns]
    if source.mode == SourceMode.UPSERT and source.key_field not in names:
        raise ImportFailed(
            f"The source has no field “{source.key_field}” to match features by; its fields "
            f"are: {', '.join(names) or 'none'}. Choose one of them as the key field."
        )
    name_field = layer.name_field if layer.name_field in names else guess_name_field(names)
    stats = staging.prepare(srid=srid, name_column=name_field, rows=run.read)
    if not stats.importable:
        raise ImportFailed(
            f"None of the {stats.total:,} features has a usable geometry: the layer was not "
            "changed. Check the source's geometry column and CRS."
            if stats.total
            else "The source holds no features: the layer was not changed (an empty answer is "
            "taken as a fault, not as “delete everything”). Check the source."
        )
    _check_location(notes, stats, srid)
    _feature_messages(notes, staging, stats, srid)
    if source.mode == SourceMode.UPSERT:
        missing, duplicated = staging.key_problems(key=source.key_field)
        if missing or duplicated:
            listed = ", ".join(f"“{value}” ({count} times)" for value, count in duplicated)
            raise ImportFailed(
                f"The key field “{source.key_field}” must identify each feature once: "
                + (f"{missing:,} features have no value" if missing else "")
                + ("; " if missing and duplicated else "")
                + (f"some values repeat: {listed}" if duplicated else "")
                + ". Choose a unique key field, or fix the data at the source."
            )
    promote, geometry_type = _dimension_plan(layer, stats, False)
    event_id, event_at = layer_services.change_event_reserve()
    fresh = None
    if source.mode == SourceMode.REPLACE:
        fresh, _written = staging.fill_fresh(
            layer_id=layer.pk,
            multi_dimensions=promote,
            rows=stats.importable,
            event_id=event_id,
            at=event_at,
        )
    with transaction.atomic():
        layer = Layer.objects.select_for_update().get(pk=layer.pk)
        event = layer_services.change_event_open(
            layer=layer,
            action=ChangeAction.SYNC,
            by=layer_services.WriteContext(channel=ChangeChannel.SYNC),
            note=f"{source.get_kind_display()}: {scrub(source.url, source)}"[:500],
            event_id=event_id,
            at=event_at if fresh is not None else None,
        )
        if fresh is not None:
            before = layer.feature_count
            try:
                fresh.swap_in(
                    Archive(event_id=event.pk, at=event_at)
                    if settings.HISTORY_ARCHIVE_IMPORTS
                    else None
                )
            except SwapTimeout as error:
                raise ImportFailed(
                    f"{error} Nothing was changed; the next run will try again."
                ) from error
            counts = {"added": stats.importable, "changed": 0, "removed": before}
        else:
            counts = staging.publish_upsert(
                layer_id=layer.pk,
                key=source.key_field,
                multi_dimensions=promote,
                event_id=event.pk,
            )
        schema = [column.schema_entry for column in columns]
        written = counts["added"] + counts["changed"] + counts["removed"]
        counts["unchanged"] = max(stats.importable - counts["added"] - counts["changed"], 0)
        counts["skipped"] = stats.skipped
        if not written and layer.attribute_schema == schema and layer.name_field == name_field:
            # Nothing changed at the source: no event, no new version, no tile work.
            transaction.set_rollback(True)
            counts["event"] = None
            return counts
        layer.attribute_schema = schema
        layer.name_field = name_field
        layer.geometry_type = geometry_type
        if layer.status == Layer.Status.FAILED:
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
        layer_services.layer_data_changed(layer=layer)
        event.counts = {k: counts[k] for k in ("added", "changed", "removed")}
        event.save(update_fields=["counts"])
        counts["event"] = event.pk
    return counts


def _prune_runs(source: LayerSource) -> None:
    """Keep the last SOURCES_KEEP_RUNS runs of a source (a source synced every few minutes
    would otherwise pile up runs nobody reads)."""
    keep = list(
        SourceRun.objects.filter(source=source)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)[: settings.SOURCES_KEEP_RUNS]
    )
    SourceRun.objects.filter(source=source).exclude(pk__in=keep).delete()


def _succeed(source: LayerSource, run: SourceRun, notes: _Notes, counts: dict) -> None:
    now = timezone.now()
    _prune_runs(source)
    with transaction.atomic():
        SourceRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED,
            finished_at=now,
            added=counts["added"],
            changed=counts["changed"],
            removed=counts["removed"],
            unchanged=counts["unchanged"],
            messages=[{**m, "message": scrub(m["message"], source)} for m in notes.messages],
            change_event_id=counts.get("event"),
        )
        LayerSource.objects.filter(pk=source.pk).update(
            consecutive_failures=0,
            paused_at=None,
            last_run_at=now,
            last_success_at=now,
            last_status=RunStatus.SUCCEEDED,
        )
        was_paused = source.paused_at is not None
        source.refresh_from_db()
        if was_paused:
            source_schedule_sync(source=source)  # a successful "sync now" resumes it
    logger.info(
        "source %s: +%s ~%s -%s into layer %s",
        source.pk,
        counts["added"],
        counts["changed"],
        counts["removed"],
        source.layer_id,
    )


def _fail(source: LayerSource, run: SourceRun, notes: _Notes, message: str) -> None:
    """Record a failed run; pause the source after SOURCES_MAX_FAILURES in a row; tell staff."""
    now = timezone.now()
    _prune_runs(source)
    if "not changed" not in message:
        message = f"{message.rstrip()} The layer was not changed."
    with transaction.atomic():
        SourceRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            finished_at=now,
            error=message,
            messages=[{**m, "message": scrub(m["message"], source)} for m in notes.messages],
        )
        LayerSource.objects.filter(pk=source.pk).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_run_at=now,
            last_status=RunStatus.FAILED,
        )
        source.refresh_from_db()
        paused = False
        if source.consecutive_failures >= settings.SOURCES_MAX_FAILURES and not source.paused_at:
            LayerSource.objects.filter(pk=source.pk).update(paused_at=now)
            source.refresh_from_db()
            source_schedule_sync(source=source)
            paused = True
    logger.warning("source %s failed (%s in a row)", source.pk, source.consecutive_failures)
    _mail_staff(source, message, paused)


def notify_recipients() -> list[str]:
    """Return who is mailed a failed run: ADMINS, SOURCES_NOTIFY_EMAILS, and active staff who
    may change sources (superusers included) and have an address."""
    addresses = [
        entry[1] if isinstance(entry, (list, tuple)) else entry for entry in settings.ADMINS
    ]
    addresses += list(settings.SOURCES_NOTIFY_EMAILS)
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    for user in users:
        if user.has_perm("sources.change_layersource"):
            addresses.append(user.email)
    return sorted(set(filter(None, addresses)))


def _mail_staff(source: LayerSource, message: str, paused: bool) -> None:
    recipients = notify_recipients()
    if not recipients:
        return
    layer = source.layer
    subject = f"[map server] The source of layer “{layer.slug}” failed"
    if paused:
        subject += " and is paused"
    body = (
        f"The {source.get_kind_display()} source of the layer “{layer}” ({layer.slug}) failed "
        f"({source.consecutive_failures} time(s) in a row). The layer was not changed.\n\n"
        f"{message}\n\n"
        + (
            f"After {settings.SOURCES_MAX_FAILURES} failures in a row the source paused itself: "
            "fix the cause, then use “Sync now” or “Resume” on the source in the admin.\n"
            if paused
            else "The next scheduled run will try again.\n"
        )
    )
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except Exception as error:  # the mail server is down: the run and the banner still say it
        logger.warning("source %s: the failure could not be mailed (%s)", source.pk, error)
