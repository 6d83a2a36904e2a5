"""Plain Django views of the layers app (the REST API lives in `layers.api`)."""

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import health_report


def _may_see_details(request: HttpRequest) -> bool:
    """Return whether the caller is staff, or a monitor holding HEALTH_DETAIL_TOKEN."""
    token = settings.HEALTH_DETAIL_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if sent and constant_time_compare(sent, token):
            return True
    try:
        return bool(request.user.is_staff)
    except DatabaseError:  # the session lives in the database: no one is known while it is down
        return False


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Say whether the database, the broker and the tile cache answer: 200 if all do, else 503.

    Anyone gets the status and the names of failing checks; staff also get errors and details.
    """
    report = health_report(detailed=_may_see_details(request))
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
