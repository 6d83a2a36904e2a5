"""Cache headers for answers that depend on who asks: one place decides for every route.

An answer to a signed-in requester (a session, or a token in `Authorization`) may hold layers that
only they may see; a shared cache (a proxy, a CDN) that kept it would hand it to the next person.
So, unless the view itself chose (tiles and TileJSON do, by the layer's cache scope: a public
layer's tile is the same for everyone and stays `public`), such an answer is `private, no-store`.
Every answer not marked public also varies on `Authorization` and `Cookie`, so no cache gives an
anonymous answer to a signed-in user or the other way round. Static files never get here
(WhiteNoise answers them first).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

VARY_ON = ("Authorization", "Cookie")


def _cache_directives(response: HttpResponse) -> set[str]:
    """Return the names of the response's Cache-Control directives, lower-case."""
    parts = response.get("Cache-Control", "").split(",")
    return {part.split("=")[0].strip().lower() for part in parts if part.strip()}


def _asked_as_someone(request: HttpRequest) -> bool:
    """Return whether the answer may depend on the requester's identity."""
    user = getattr(request, "user", None)
    # DRF authenticates tokens in the view and then sets the user on the Django request too;
    # a request that carries credentials DRF refused is still treated as personal.
    return bool(user is not None and user.is_authenticated) or "Authorization" in request.headers


class PrivateAnswersMiddleware:
    """Mark answers to signed-in requesters `private, no-store`, and vary every answer on
    who asks, unless the view marked it public on purpose."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        directives = _cache_directives(response)
        if "public" in directives:
            return response  # the view proved it the same for everyone (a public layer's tile)
        patch_vary_headers(response, VARY_ON)
        if "private" not in directives and _asked_as_someone(request):
            patch_cache_control(response, private=True, no_store=True)
        return response
