"""The token check of the REST and OGC APIs (its own module: DRF imports it while loading views)."""

from __future__ import annotations

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox's token check, where a header that is not UTF-8 is an invalid token (not a 500)."""

    def authenticate_credentials(self, token: bytes):
        """Return (user, token) for a valid, unexpired token, or raise AuthenticationFailed."""
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)
