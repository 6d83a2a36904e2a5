"""The web map page."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from layers.selectors import layers_visible_to


def index(request: HttpRequest) -> HttpResponse:
    """Render the map page with the layers the visitor may see."""
    layers = layers_visible_to(user=request.user)
    return render(request, "frontend/index.html", {"layers": layers})
