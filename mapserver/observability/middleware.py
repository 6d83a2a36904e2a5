"""The first and last word on every request: its id, its metrics and its log line.

First in `MIDDLEWARE`, so the id is bound before anything else logs, and the time measured covers
every other middleware (a redirect to HTTPS, a static file, a lockout answer included). The id
stays bound until the response is closed (`request_finished`): Django logs a 4xx or 5xx answer
after the last middleware returned, and a tile is cached once its response has been sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from . import metrics
from .request_ids import HEADER, META_KEY, bind_request_id, new_request_id, valid_request_id

access_log = logging.getLogger("mapserver.requests")


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


class RequestObservationMiddleware:
    """Give each request an id (`X-Request-ID`), count and time it, and log one line for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = valid_request_id(request.META.get(META_KEY)) or new_request_id()
        request.request_id = request_id
        bind_request_id(request_id)
        response = self.get_response(request)
        duration_s = time.perf_counter() - started
        response[HEADER] = request_id
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else None
        family = metrics.route_family(route)
        metrics.request_observed(
            family=family, method=request.method, status=response.status_code, duration_s=duration_s
        )
        if access_log.isEnabledFor(logging.INFO):
            # No path and no query string: they may hold tokens (`?key=`); the route is the URL
            # pattern, and the id ties the line to the request's other lines.
            access_log.info(
                "%s %s %s %.1f ms",
                request.method,
                route or "-",
                response.status_code,
                duration_s * 1000,
                extra={
                    "method": request.method,
                    "route": route,
                    "family": family,
                    "status": response.status_code,
                    "duration_ms": round(duration_s * 1000, 2),
                    "user_id": _user_id(request),
                },
            )
        return response


@receiver(request_finished)
def _request_done(**kwargs) -> None:
    """Forget the request's id once its response is closed: what follows is no part of it."""
    bind_request_id(None)
