"""The short link of a saved map (/m/{code}) and its QR code (/m/{code}/qr.svg).

/m/{code} is the web map page itself, opening on the saved composition: the page's configuration
carries it (`saved`), filtered for the visitor by the layer visibility rule, with the number of
layers left out. A map the visitor may not open is the same 404 as a code that was never given.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from frontend.catalogue import config_script, map_config
from layers.errors import NotFound

from . import composition, selectors
from .models import SavedMap
from .qr import qr_svg


def _visible_or_404(request: HttpRequest, code: str) -> SavedMap:
    try:
        return selectors.saved_map_get_visible(code=code, user=request.user)
    except NotFound as missing:
        raise Http404(missing.message) from missing


def _private(response: HttpResponse, saved_map: SavedMap) -> HttpResponse:
    # Who may open the map decides who may keep a copy: only a public one in shared caches.
    if saved_map.sharing == SavedMap.Sharing.PUBLIC:
        patch_cache_control(response, public=True, max_age=300)
    else:
        patch_cache_control(response, private=True, no_cache=True)
    return response


@require_GET
def saved_map(request: HttpRequest, code: str) -> HttpResponse:
    """Render the web map opening on the saved map, as the visitor may see it."""
    found = _visible_or_404(request, code)
    seen = composition.for_viewer(found.state, user=request.user)
    config = map_config(user=request.user)
    config["saved"] = {
        "code": found.code,
        "name": found.name,
        "state": seen.state,
        "omitted": seen.omitted,
        "url": request.build_absolute_uri(reverse("saved-map", kwargs={"code": found.code})),
    }
    response = render(
        request, "frontend/index.html", {"config": config_script(config), "saved_map": found}
    )
    # The page holds the visitor's own layer list: never shared between visitors.
    patch_cache_control(response, private=True, no_cache=True)
    return response


@require_GET
def saved_map_qr(request: HttpRequest, code: str) -> HttpResponse:
    """Answer the QR code of the map's short link as SVG."""
    found = _visible_or_404(request, code)
    url = request.build_absolute_uri(reverse("saved-map", kwargs={"code": found.code}))
    response = HttpResponse(qr_svg(url, title=found.name), content_type="image/svg+xml")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="map-{found.code}.svg"'
    return _private(response, found)
