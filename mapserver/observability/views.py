"""`GET /metrics`: the Prometheus exposition, for the monitoring server and staff only.

Who may read it: an address in `METRICS_ALLOWED_IPS` (addresses or networks; loopback by
default), a caller with `Authorization: Bearer <METRICS_TOKEN>`, or GIS staff (signed in, or with
their API token). Anyone else gets 403 in the API's error vocabulary. The address is the one the
rate limits see (`layers.api.auth.client_ip`, NUM_PROXIES); a request that came through a proxy
the settings do not count (X-Forwarded-For with NUM_PROXIES=0) has no known address, since every
such request would otherwise come from the proxy's loopback address.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework import exceptions

from layers.api.auth import client_ip
from layers.api.errors import error_response
from layers.errors import Forbidden

from . import metrics, multiprocess  # noqa: F401  (metrics: the instruments exist before a scrape)
from .collectors import ScrapeTimeCollector

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def allowed_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Return METRICS_ALLOWED_IPS as networks, or raise ImproperlyConfigured naming a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"METRICS_ALLOWED_IPS: {entry!r} is not an address or a network; give addresses "
                "or networks separated by commas, like 127.0.0.1,::1,10.0.0.0/24."
            ) from None
    return tuple(networks)


def _from_allowed_address(request: HttpRequest) -> bool:
    if not settings.NUM_PROXIES and "HTTP_X_FORWARDED_FOR" in request.META:
        return False  # through a proxy we do not count: the address is the proxy's
    try:
        address = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(
        address in network for network in allowed_networks(tuple(settings.METRICS_ALLOWED_IPS))
    )


def _credentials(request: HttpRequest, scheme: str) -> str | None:
    value = request.META.get("HTTP_AUTHORIZATION", "")
    prefix, _space, credentials = value.partition(" ")
    return credentials.strip() if prefix.lower() == scheme.lower() and credentials else None


def _metrics_token_matches(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    given = _credentials(request, "Bearer")
    # In constant time: how much of a guess was right must not show in the answer's timing.
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def _staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.is_staff
    key = _credentials(request, settings.REST_KNOX["AUTH_HEADER_PREFIX"])
    if key is None:
        return False
    from layers.api.authentication import TokenAuthentication

    try:
        user, _token = TokenAuthentication().authenticate_credentials(key.encode())
    except exceptions.AuthenticationFailed:
        return False
    return user.is_staff


def metrics_allowed(request: HttpRequest) -> bool:
    """Return whether this requester may read the metrics."""
    return _from_allowed_address(request) or _metrics_token_matches(request) or _staff(request)


_scrape_time = CollectorRegistry(auto_describe=False)
_scrape_time.register(ScrapeTimeCollector())


def exposition() -> bytes:
    """Return every metric in Prometheus's text format: this server's processes', then the
    figures read from the broker and the database now."""
    if multiprocess.directory():
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess.directory())
    else:
        registry = PROCESS_REGISTRY
    return generate_latest(registry) + generate_latest(_scrape_time)


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer the metrics to an allowed requester, 403 to anyone else."""
    if not metrics_allowed(request):
        return error_response(
            Forbidden(
                _(
                    "The metrics are for the monitoring server: ask from an address in "
                    "METRICS_ALLOWED_IPS, with the bearer token METRICS_TOKEN, or as GIS staff."
                )
            )
        )
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
