"""The web map page and the investor page."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from layers.errors import InvalidParameter

from .catalogue import config_script, map_config
from .parcels import (
    ParcelFilters,
    investment_layers,
    parcel_choices,
    parcel_rows,
    role_labels,
)

PARCELS_PER_PAGE = 25


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Render the map with the layers the visitor may see."""
    config = config_script(map_config(user=request.user))
    return render(request, "frontend/index.html", {"config": config})


@require_GET
def investors(request: HttpRequest) -> HttpResponse:
    """Render the investment parcels the visitor may see, filtered, each linked to the map."""
    error, status = "", 200
    try:
        filters = ParcelFilters.from_query(request.GET)
    except InvalidParameter as invalid:
        # A person reads this page: the page again, unfiltered, says what was wrong (400).
        error, status = invalid.message, 400
        filters = ParcelFilters.from_query(QueryDict())
    layers = investment_layers(user=request.user)
    paginator = Paginator(parcel_rows(layers=layers, filters=filters), PARCELS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "layers": layers,
        "filters": filters,
        "choices": parcel_choices(layers=layers),
        "labels": role_labels(layers),
        "page": page,
        "query": query.urlencode(),
        "error": error,
    }
    return render(request, "frontend/investors.html", context, status=status)
