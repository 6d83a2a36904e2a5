"""Celery tasks: each loads its rows and calls a service."""

from celery import shared_task

from . import services
from .models import Layer


@shared_task
def layer_refresh_stats(layer_id: int) -> int:
    """Recompute a layer's feature count and extent; return the count."""
    layer = Layer.objects.get(pk=layer_id)
    return services.layer_refresh_stats(layer=layer).feature_count
