"""The answer to a POST that saved a job for the workers: 202, or 503 while the queue is down.

The job and its task commit together (the outbox of `layers.queueing`), so a job is never lost
when the broker does not answer: the client gets 503 with the saved job's id and URL (so a retry
polls that job instead of making a second one), and the job starts when the queue is back.
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from layers.queueing import Dispatch

QUEUE_RETRY_AFTER_S = 30
QUEUE_DOWN_DETAIL = (
    "The job is saved; it starts when the work queue is back. Do not send it again: follow its URL."
)


def job_accepted_response(body: dict, *, dispatch: Dispatch | None) -> Response:
    """Return 202 with the job, or 503 with it when its task waits in the outbox."""
    headers = {"Location": body["url"]}
    if dispatch is not None and dispatch.sent is False:
        headers["Retry-After"] = str(QUEUE_RETRY_AFTER_S)
        error = {"code": "queue-unavailable", "detail": QUEUE_DOWN_DETAIL, "job": body}
        error.update(id=body["id"], url=body["url"])
        return Response(error, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)
