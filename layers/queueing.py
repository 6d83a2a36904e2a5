"""Run work on a worker once the current transaction commits: the one place that queues tasks.

Services name a task (`"layers.tasks.import_run"`) instead of importing `layers.tasks`, so no
service imports tasks. Each `enqueue` writes a row to the outbox (`QueuedTask`) inside the
caller's transaction, so the intent commits together with the rows it is about. Once the
transaction commits, the message is sent and the row removed. While the broker is down the row
stays, the caller learns it (`Dispatch.sent is False`: an API answers 503 with the saved job's
id), and `outbox_flush` sends it when the broker is back: at worker start, on a schedule, and
after any later successful send.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module

from django.db import transaction
from django.utils import timezone

from mapserver.observability.request_ids import TASK_HEADER, current_request_id

from .models import QueuedTask

logger = logging.getLogger(__name__)

# A row younger than this may still be on its way out through its own transaction's on_commit:
# the flush leaves it alone so one message is not sent twice.
FLUSH_MIN_AGE = timedelta(seconds=10)
FLUSH_BATCH = 200


@dataclass
class Dispatch:
    """A task asked for in a transaction: `sent` is None until it commits, then True or False."""

    task: str
    outbox_id: int
    sent: bool | None = None
    error: str = field(default="", repr=False)
    # The request that asked for it, told to the worker (its log lines carry the same id).
    request_id: str | None = None

    def send_now(self) -> None:
        """Send the outboxed message (the on-commit step); keep it in the outbox on failure."""
        self.sent, self.error = _send_row(self.outbox_id, request_id=self.request_id)
        if self.sent:
            # The broker answers again: what waited in the outbox can go too.
            outbox_flush(min_age=FLUSH_MIN_AGE)


def enqueue(task: str, *args, **kwargs) -> Dispatch:
    """Have a worker run `task(*args, **kwargs)` once the current transaction commits."""
    row = QueuedTask.objects.create(task=task, args=list(args), kwargs=kwargs)
    dispatch = Dispatch(task=task, outbox_id=row.pk, request_id=current_request_id())
    # A bound method: Django logs a failing on-commit callable by its __qualname__.
    transaction.on_commit(dispatch.send_now, robust=True)
    return dispatch


def _send_row(
    outbox_id: int, *, older_than=None, request_id: str | None = None
) -> tuple[bool | None, str]:
    """Send one outbox row and delete it; return (sent, error). None: another sender has it.

    `request_id` is the id of the request that queued it, known only to the on-commit send: a
    row sent later by a flush goes without one (the flush may run in another request).

    The row is claimed by moving its `created_at` to now (compare-and-set), not by holding a
    lock across the send: in eager mode the task runs inside the send, and must not run inside
    a transaction of ours. A sender that dies after its claim leaves the row for a later flush.
    """
    rows = QueuedTask.objects.filter(pk=outbox_id)
    if older_than is not None:
        rows = rows.filter(created_at__lte=older_than)
    row = rows.first()
    if row is None:
        return None, ""
    claimed = QueuedTask.objects.filter(pk=row.pk, created_at=row.created_at).update(
        created_at=timezone.now()
    )
    if not claimed:
        return None, ""
    try:
        _publish(row, request_id=request_id)
    except Exception as error:  # the broker (or its client) failed: keep the row for later
        QueuedTask.objects.filter(pk=row.pk).update(
            attempts=row.attempts + 1, last_error=f"{type(error).__name__}: {error}"[:2000]
        )
        logger.warning("Task %s kept in the outbox: the broker refused it (%s)", row.task, error)
        return False, str(error)
    QueuedTask.objects.filter(pk=row.pk).delete()
    return True, ""


def _publish(row: QueuedTask, *, request_id: str | None = None) -> None:
    from mapserver.celery import app

    # Tasks are named by their dotted path; the web process loads a task module only when it
    # first sends one of its tasks (this module must not import `layers.tasks` itself).
    module = row.task.rpartition(".")[0]
    if row.task not in app.tasks and module:
        import_module(module)
    # Through the registered task (not send_task), so eager mode in tests runs it in-process.
    headers = {TASK_HEADER: request_id} if request_id else None
    app.tasks[row.task].apply_async(args=row.args, kwargs=row.kwargs, headers=headers)


def outbox_flush(*, min_age: timedelta = FLUSH_MIN_AGE, limit: int = FLUSH_BATCH) -> int:
    """Send the tasks left in the outbox, oldest first; stop at the first broker failure.

    Returns how many were sent.
    """
    sent = 0
    older_than = timezone.now() - min_age
    ids = list(
        QueuedTask.objects.filter(created_at__lte=older_than).values_list("pk", flat=True)[:limit]
    )
    for outbox_id in ids:
        ok, _error = _send_row(outbox_id, older_than=older_than)
        if ok is False:
            break
        sent += bool(ok)
    return sent


def outbox_size() -> int:
    """Return how many tasks wait in the outbox (the health report shows it)."""
    return QueuedTask.objects.count()
