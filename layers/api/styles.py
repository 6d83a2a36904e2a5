"""Style URLs: `/styles/map.json` (the default map) and `/styles/layers/{slug}.json` (one layer).

MapLibre style JSON (version 8) built by layers/styles.py from the layers the requester may see:
a private layer never appears in an anonymous style, and a style naming one is `private` and
`Vary: Cookie, Authorization`. Both carry an ETag and answer 304 to a matching If-None-Match.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from django.views.decorators.http import require_safe

from layers import styles
from layers.errors import NotFound
from layers.models import Layer
from layers.selectors import layers_visible_to

from .errors import error_response

STYLE_TYPE = "application/vnd.mapbox.style+json"
# A public style changes when a layer's data or style does (its version is in the tile URLs);
# shared caches keep it a minute, browsers revalidate with the ETag.
PUBLIC_MAX_AGE_S = 60


def _origin(request: HttpRequest) -> str:
    """Return scheme and host of the request: the style's URLs are absolute."""
    return request.build_absolute_uri("/").rstrip("/")


def _answer(request: HttpRequest, style: dict, layers: list[Layer]) -> HttpResponse:
    etag = styles.etag_of(style)
    public = all(layer.visibility == Layer.Visibility.PUBLIC for layer in layers)
    wanted = parse_etags(request.headers.get("If-None-Match", ""))
    if "*" in wanted or any(tag.removeprefix("W/") == etag for tag in wanted):
        response = HttpResponse(status=304)
    else:
        body = json.dumps(style, ensure_ascii=False, separators=(",", ":"))
        response = HttpResponse(body, content_type=f"{STYLE_TYPE}; charset=utf-8")
    response["ETag"] = etag
    if public and not request.user.is_authenticated:
        response["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE_S}"
    else:
        # Who asks decides which layers the style names: never shared between visitors.
        response["Cache-Control"] = "private, max-age=0, must-revalidate"
    # The same URL answers each visitor with the layers they may see.
    patch_vary_headers(response, ["Cookie", "Authorization"])
    if public:
        response["Access-Control-Allow-Origin"] = "*"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _slugs(request: HttpRequest, name: str) -> list[str] | None:
    """Return the comma-separated slugs of a query parameter, None when it is absent.

    A slug the requester may not see is left out as if unknown (never a hint that it exists).
    """
    value = request.GET.get(name)
    if value is None:
        return None
    return [slug for slug in value.split(",") if slug]


@require_safe
def map_style(request: HttpRequest) -> HttpResponse:
    """The default map's style over the layers this requester may see (drafts left out).

    `layers=a,b` names the themes shown (a shared view's); by default those the map opens with.
    """
    layers = list(layers_visible_to(user=request.user).exclude(status=Layer.Status.DRAFT))
    style = styles.map_style(layers, origin=_origin(request), on=_slugs(request, "layers"))
    return _answer(request, style, layers)


@require_safe
def layer_style(request: HttpRequest, slug: str) -> HttpResponse:
    """One layer's style; 404 when the requester may not see it (never 403)."""
    try:
        layer = layers_visible_to(user=request.user).get(slug=slug)
    except Layer.DoesNotExist:
        response = error_response(NotFound(f"No layer named {slug!r}.", parameter="slug"))
        patch_vary_headers(response, ["Cookie", "Authorization"])
        return response
    return _answer(request, styles.layer_style(layer, origin=_origin(request)), [layer])


urlpatterns = [
    path("map.json", map_style, name="style-map"),
    path("layers/<slug:slug>.json", layer_style, name="style-layer"),
]
