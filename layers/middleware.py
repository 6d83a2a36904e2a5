"""Answers for a database outage: 503 with Retry-After instead of a 500 page.

A restarted or unreachable PostgreSQL is a passing state, not a bug of ours: API, OGC and tile
routes answer 503 JSON (the same body as every error of the REST API) and HTML pages a plain 503
page that needs no database. Clients and proxies retry after `Retry-After`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from layers.api.errors import error_response
from layers.errors import Unavailable

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
JSON_PREFIXES = ("/api/", "/ogc/", "/tiles/", "/healthz")
UNAVAILABLE_DETAIL = "The database does not answer at the moment; try again shortly."


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """Return the 503 answer for a request that the database could not serve."""
    retry_after_s = settings.DB_UNAVAILABLE_RETRY_AFTER_S
    if request.path.startswith(JSON_PREFIXES):
        # The one error vocabulary (layers/api/errors.py): the OGC API's body under /ogc/.
        response = error_response(
            Unavailable(UNAVAILABLE_DETAIL), ogc=request.path.startswith("/ogc/")
        )
    else:
        # Rendered without the request: context processors would ask the database for the user.
        response = HttpResponse(render_to_string("layers/503.html"), status=503)
    response["Retry-After"] = str(retry_after_s)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turn a database error raised by a view into a 503 answer with Retry-After."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Answer 503 for a database outage; leave every other error to Django."""
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        # One line, not a traceback per request: an outage would otherwise flood the log.
        logger.warning(
            "Database unavailable for %s %s: %s",
            request.method,
            request.path,
            str(exception).strip().splitlines()[0] if str(exception).strip() else "",
        )
        return database_unavailable_response(request)
