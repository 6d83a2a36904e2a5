"""Celery tasks of layer sources: each loads its row and calls a service."""

from celery import shared_task

from . import services
from .models import LayerSource, SourceRun


@shared_task
def source_sync(source_id: int, trigger: str = SourceRun.Trigger.SCHEDULE) -> int | None:
    """Pull a source into its layer (beat's schedules and "sync now"); return the run's id."""
    source = LayerSource.objects.filter(pk=source_id).select_related("layer").first()
    if source is None:
        return None
    run = services.source_sync(source=source, trigger=trigger)
    return run.pk if run else None
