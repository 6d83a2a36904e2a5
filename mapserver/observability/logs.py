"""Log lines: their configuration, the request id on each, and no secret in any.

`LOG_FORMAT=text` (the default) writes the message alone, as the server always has; with
`LOG_FORMAT=json` every line is one JSON object (`JsonFormatter`), and Django writes one line per
request (`mapserver.requests`, from `middleware.py`) and the workers one per task
(`mapserver.tasks`). A small formatter of our own rather than python-json-logger or structlog:
the fields are few and fixed, the standard library's `json` writes them, and the scrubbing of
secrets has to be ours anyway.

Secrets never reach a line: `RedactSecretsFilter` sits on the handler, so it sees every record
of every logger (Django's, Celery's, ours) and rewrites tokens, passwords, cookies, API keys and
credentials in URLs before any formatter runs. Our own request lines never hold a query string
or a header in the first place.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured

from .request_ids import current_request_id

FORMATS = ("text", "json")
REDACTED = "[redacted]"

# Names whose value is a secret wherever it appears as `name=value` (a query string, a form body,
# a cookie header) or `"name": "value"` (a dict or JSON).
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*?(?:token|key|password|passwd|pwd|secret|sessionid|signature|credentials?)"
)
_PATTERNS = (
    # Authorization: Bearer x / Token x / Basic x, as a header or a dict entry (HTTP_AUTHORIZATION).
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|token|basic)\s+)?[^\s'\",;}]+"),
     r"\1" + REDACTED),
    # Cookie: a=b; c=d (the whole value: every cookie may be a session).
    (re.compile(r"(?i)((?:set-)?cookie['\"]?\s*[:=]\s*['\"]?)[^'\"\n]+"), r"\1" + REDACTED),
    # A bearer token anywhere else, and knox's `Token <hex>`.
    (re.compile(r"\b(Bearer\s+)[^\s'\",;]+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"\b(Token\s+)[0-9a-fA-F]{16,}\b"), r"\1" + REDACTED),
    # ?token=x&api_key=y, password=z in a form body or keyword arguments.
    (re.compile(r"(?i)((?<![A-Za-z0-9_.-])" + _SECRET_NAME + r"=)[^&\s'\",;)]+"), r"\1" + REDACTED),
    # {"password": "x"} and {'token': 'x'}.
    (re.compile(r"(?i)(['\"]" + _SECRET_NAME + r"['\"]\s*:\s*)(['\"])(?:\\.|(?!\2).)*\2"),
     r"\1\2" + REDACTED + r"\2"),
    # scheme://user:password@host (a DATABASE_URL or REDIS_URL in an error message).
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@"), r"\1" + REDACTED + "@"),
)  # fmt: skip


# Every pattern above needs one of these words: most lines hold none, and these substring tests
# (~1 µs) pass them where the patterns would take tens of microseconds.
_CLUES = (
    "auth", "bearer", "token", "key", "pass", "pwd", "secret", "session", "signature", "credential",
    "cookie", "://",
)  # fmt: skip


def redact(text: str) -> str:
    """Return the text with every secret it holds replaced by `[redacted]`."""
    lowered = text.lower()
    if not any(clue in lowered for clue in _CLUES):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite a record's message and exception text without the secrets they hold."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A malformed call (`log("%s %s", one)`): the handler reports it as usual, without
            # its arguments' text, rather than the caller getting an exception from a log line.
            record.msg, record.args = redact(str(record.msg)), ()
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse `exc_text` once it is set: the traceback is scrubbed once, here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RequestIdFilter(logging.Filter):
    """Put the id of the request or task being worked on onto the record (`request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


# What every record has; anything else was passed as `extra=` and becomes a field.
_STANDARD = frozenset(
    {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime", "request_id"}
)
_PLAIN = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request id, the record's
    `extra=` fields that are plain values, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            # Django adds the request object itself (`request`): its repr holds the query string.
            if key not in _STANDARD and isinstance(value, _PLAIN):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(*, log_format: str = "text", level: str = "INFO") -> dict:
    """Return the `LOGGING` setting for a format (`text` or `json`) and a level."""
    if log_format not in FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}: "
            "leave it unset for plain text lines, or set LOG_FORMAT=json."
        )
    handler: dict = {"class": "logging.StreamHandler", "filters": ["request_id", "redact_secrets"]}
    if log_format == "json":
        handler["formatter"] = "json"
    # One line per request and per task in JSON only: in text, gunicorn's access log and
    # Celery's own lines already say as much.
    access_level = "INFO" if log_format == "json" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "redact_secrets": {"()": RedactSecretsFilter},
        },
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "mapserver.requests": {"level": access_level},
            "mapserver.tasks": {"level": access_level},
        },
    }
