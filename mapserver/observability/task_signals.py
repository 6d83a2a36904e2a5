"""Celery's side of the request ids and log lines (connected by `mapserver/celery.py`).

A task carries the id of the request that queued it in its message headers
(`layers/queueing.py`); while it runs the id is the current one, so every line the task logs,
and any task it queues in turn, carries it. With LOG_FORMAT=json each task ends with one line
(`mapserver.tasks`: task, task_id, state, duration_ms), and Celery's own handlers get the JSON
formatter; in text, Celery keeps its own format. Both get the filter that removes secrets.
"""

from __future__ import annotations

import logging
import time

from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun
from django.conf import settings

from .logs import JsonFormatter, RedactSecretsFilter, RequestIdFilter
from .request_ids import (
    TASK_HEADER,
    bind_request_id,
    current_request_id,
    unbind_request_id,
    valid_request_id,
)

task_log = logging.getLogger("mapserver.tasks")

# By task id, while it runs: the token that restores the previous id, and when it started.
_running: dict[str, tuple[object, float]] = {}


def _request_id_of(task) -> str | None:
    request = task.request
    # A worker gives custom headers as attributes of the request; eager runs keep them apart.
    given = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        TASK_HEADER
    )
    return valid_request_id(given)


@task_prerun.connect
def _task_started(sender=None, task_id=None, task=None, **kwargs) -> None:
    # An eager task without the header runs inside the request that queued it: keep its id.
    request_id = _request_id_of(task) or current_request_id()
    _running[task_id] = (bind_request_id(request_id), time.perf_counter())


@task_postrun.connect
def _task_finished(sender=None, task_id=None, task=None, state=None, **kwargs) -> None:
    token, started = _running.pop(task_id, (None, None))
    if started is not None and task_log.isEnabledFor(logging.INFO):
        duration_s = time.perf_counter() - started
        task_log.info(
            "task %s %s in %.1f ms",
            task.name,
            state,
            duration_s * 1000,
            extra={
                "task": task.name,
                "task_id": task_id,
                "state": state,
                "duration_ms": round(duration_s * 1000, 2),
            },
        )
    if token is not None:
        unbind_request_id(token)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _celery_handlers(logger=None, **kwargs) -> None:
    """Give the handlers Celery set up our filters and, with LOG_FORMAT=json, our format."""
    for handler in logger.handlers if logger is not None else ():
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactSecretsFilter())
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonFormatter())
