"""The id of the request (or of the task a request queued) being worked on, for log lines.

An id comes from the client or a proxy in `X-Request-ID` (nginx's `$request_id`, say) if it looks
like one, else it is made here; it goes back in the response's `X-Request-ID`, onto every log
line written while the request runs, and in the headers of the Celery tasks it queues
(`layers/queueing.py`), whose log lines then carry it too (`task_signals.py`).
"""

from __future__ import annotations

import contextvars
import re
import secrets

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# The name of the Celery message header that carries it.
TASK_HEADER = "request_id"
# Bounded and plain: an id from outside ends up in log lines and response headers, so no spaces,
# quotes or control characters (no forged log lines, no header injection). UUIDs, nginx's 32 hex
# digits and most tracing ids fit.
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    """Return a new random id: 32 hexadecimal digits, like nginx's `$request_id`."""
    return secrets.token_hex(16)


def valid_request_id(value: object) -> str | None:
    """Return the id if it is a well-formed one, else None."""
    if isinstance(value, str) and VALID.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    """Return the id of the request or task being worked on, if any."""
    return _current.get()


def bind_request_id(request_id: str | None) -> contextvars.Token:
    """Make `request_id` the current one; pass the token to `unbind_request_id` when done."""
    return _current.set(request_id)


def unbind_request_id(token: contextvars.Token) -> None:
    """Restore the id that was current before `bind_request_id`."""
    _current.reset(token)
