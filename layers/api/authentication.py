"""The token check of the REST and OGC APIs (its own module: DRF imports it while loading views)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
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


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema names our token check: `Authorization: Token <key>`."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        """Return the security scheme: an API key in the Authorization header."""
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`, the key from POST /api/v1/auth/login/ (it expires).",
        }
