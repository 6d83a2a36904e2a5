"""The outbox of `layers.queueing`: a task asked for commits with its rows, then is sent once."""

import time
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from layers import queueing
from layers.models import Layer, QueuedTask
from mapserver.celery import queue_name, route_task
from tests.factories import FeatureFactory, LayerFactory


@pytest.fixture
def layer_with_features(db):
    layer = LayerFactory(slug="outbox-layer")
    FeatureFactory(layer=layer, geom=Point(107.58, 16.46, srid=4326))
    FeatureFactory(layer=layer, geom=Point(107.60, 16.48, srid=4326))
    return layer


def test_a_task_is_kept_until_its_transaction_commits_then_sent_once(
    layer_with_features, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch = queueing.enqueue("layers.tasks.layer_refresh_stats", layer_with_features.pk)
    # Before the commit: the intent is a row of the same transaction, and nothing ran.
    assert dispatch.sent is None
    assert list(QueuedTask.objects.values_list("task", "args")) == [
        ("layers.tasks.layer_refresh_stats", [layer_with_features.pk])
    ]
    assert Layer.objects.get(pk=layer_with_features.pk).feature_count == 0

    for callback in callbacks:
        callback()

    assert dispatch.sent is True
    assert not QueuedTask.objects.exists()
    assert Layer.objects.get(pk=layer_with_features.pk).feature_count == 2
    # A second send of the same row finds nothing: one message per enqueue.
    dispatch.send_now()
    assert dispatch.sent is None


def test_a_rolled_back_transaction_leaves_no_task(layer_with_features):
    with pytest.raises(RuntimeError), transaction.atomic():
        queueing.enqueue("layers.tasks.layer_refresh_stats", layer_with_features.pk)
        raise RuntimeError("the caller failed")
    assert not QueuedTask.objects.exists()


def test_a_task_the_broker_refuses_waits_in_the_outbox_and_the_flush_sends_it(
    layer_with_features, django_capture_on_commit_callbacks, settings
):
    # The task is not registered yet, as on a web process whose broker refuses the message:
    # the send fails, the row stays with its reason, the caller is told.
    with django_capture_on_commit_callbacks(execute=True):
        dispatch = queueing.enqueue("layers.tasks.not_a_task", layer_with_features.pk)
    assert dispatch.sent is False
    kept = QueuedTask.objects.get()
    assert kept.attempts == 1
    assert "not_a_task" in kept.last_error

    # A young row may still be on its way out through its own commit: the flush waits for it.
    assert queueing.outbox_flush() == 0
    # Once the task is known again the next flush sends the rows that waited, oldest first.
    QueuedTask.objects.update(
        task="layers.tasks.layer_refresh_stats", created_at=timezone.now() - timedelta(minutes=1)
    )
    assert queueing.outbox_flush() == 1
    assert not QueuedTask.objects.exists()
    assert Layer.objects.get(pk=layer_with_features.pk).feature_count == 2


def test_a_flush_stops_at_the_first_refusal_and_keeps_the_order(db):
    old = timezone.now() - timedelta(minutes=5)
    for n in range(3):
        QueuedTask.objects.create(task="layers.tasks.not_a_task", args=[n])
    QueuedTask.objects.update(created_at=old)
    assert queueing.outbox_flush() == 0
    assert QueuedTask.objects.count() == 3
    # Only the first was tried: the broker is assumed down for the rest of the batch.
    assert sorted(QueuedTask.objects.values_list("attempts", flat=True)) == [0, 0, 1]


def test_tasks_go_to_the_queue_of_their_kind(settings):
    settings.CELERY_QUEUE_PREFIX = "city-"
    assert route_task("layers.tasks.import_run", [], {}, {}) == {"queue": "city-imports"}
    assert route_task("layers.tasks.tile_chunk_run", [], {}, {}) == {"queue": "city-tiles"}
    assert route_task("layers.tasks.export_run", [], {}, {}) == {"queue": "city-exports"}
    assert route_task("layers.tasks.outbox_flush", [], {}, {}) == {"queue": "city-default"}
    assert queue_name("tiles") == "city-tiles"


@pytest.mark.django_db(transaction=True)
def test_a_queued_task_reaches_a_real_worker_on_its_queue(celery_worker_process):
    layer = LayerFactory(slug="outbox-worker")
    FeatureFactory(layer=layer, geom=Point(107.58, 16.46, srid=4326))
    with transaction.atomic():
        dispatch = queueing.enqueue("layers.tasks.layer_refresh_stats", layer.pk)
    assert dispatch.sent is True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Layer.objects.get(pk=layer.pk).feature_count:
        time.sleep(0.2)
    assert Layer.objects.get(pk=layer.pk).feature_count == 1
    assert not QueuedTask.objects.exists()
