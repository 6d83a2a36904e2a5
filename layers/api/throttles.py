"""Throttles of the REST and OGC APIs: anonymous callers of the heavy endpoints, per address.

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` by scope (features, search, identify,
exports), and the counts live in Django's cache (Redis), so all gunicorn processes share them.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedThrottle(ScopedRateThrottle):
    """The view's `throttle_scope` rate, read from the settings when asked (not once at import)."""

    @property
    def THROTTLE_RATES(self) -> dict:
        return api_settings.DEFAULT_THROTTLE_RATES


class AnonymousScopedThrottle(ScopedThrottle):
    """The view's `throttle_scope` rate, for anonymous requesters only (signed-in users pass)."""

    def allow_request(self, request, view) -> bool:
        """Return whether this request may go on."""
        if request.user and request.user.is_authenticated:
            return True
        return super().allow_request(request, view)
