"""Views of the OGC API - Features: landing page, conformance, API definition, collections, items.

Each collection is a layer the requester may see (the one visibility rule); the items are the
same database-built GeoJSON pages as the REST API's. Errors are `{"code", "description"}`.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.urls import reverse
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from layers import selectors
from layers.api.base import FirstRenderer, UTF8JSONRenderer, query_params
from layers.api.errors import ogc_exception_handler
from layers.api.geojson import (
    GEOJSON,
    collection_response,
    feature_response,
    matched_count,
)
from layers.api.layers import extent_bbox, layer_or_404
from layers.api.pagination import PageRequest, page_links
from layers.api.throttles import AnonymousScopedThrottle
from layers.catalogue_dcat import catalogue_link, iso_metadata_link
from layers.errors import InvalidParameter, NotFound
from layers.features import geojson as feature_sql
from layers.features.crs import CRS84_CRS, OFFERED_URIS, OfferedCrs, answer_in, box_in, crs_from_uri
from layers.features.query import FeatureQuery, feature_query_from_params, parse_int
from layers.features.temporal import temporal_extent
from layers.models import Layer
from layers.rich_text import clean_attribution

from .conformance import CONFORMANCE_CLASSES, CRS84
from .openapi import DEFAULT_LIMIT, MAX_LIMIT, openapi_document

JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
FORMATS = {"json", "geojson", "application/json", "application/geo+json"}
# Parameters an items request may carry besides property filters (which name a property).
ITEMS_IGNORED = ("bbox-crs", "crs", "f")
# The temporal reference system of OGC API's temporal extents (ISO 8601 in the Gregorian calendar).
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
# One error vocabulary (layers/api/errors.py): the OGC API's body shape of any error.
exception_handler = ogc_exception_handler


class OpenApiRenderer(JSONRenderer):
    media_type = OPENAPI
    charset = None


class OgcView(APIView):
    """A view of the OGC API: JSON whatever Accept says, OGC error bodies, `f=json` accepted."""

    renderer_classes = [UTF8JSONRenderer]
    content_negotiation_class = FirstRenderer
    schema = None  # described by /ogc/api, not by the REST API's schema

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        wanted = request.query_params.get("f")
        if wanted is not None and wanted.lower() not in FORMATS:
            raise InvalidParameter(f"Format '{wanted}' is not offered: use f=json.", parameter="f")


def _url(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(f"ogc:{name}", kwargs=kwargs or None))


def _link(href: str, rel: str, media_type: str, title: str) -> dict:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def collection_json(request, layer: Layer, *, nested: bool = False) -> dict:
    """Return the description of a layer as an OGC API collection (`nested` in /collections,
    whose global `crs` list it then refers to)."""
    self_url = _url(request, "collection", collection_id=layer.slug)
    collection = {
        "id": layer.slug,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        # Part 2: every layer is offered in the same CRSs; stored in 4326, longitude first.
        "crs": ["#/crs"] if nested else list(OFFERED_URIS),
        "storageCrs": CRS84,
        "links": [
            _link(self_url, "self", JSON, "This collection"),
            _link(
                _url(request, "items", collection_id=layer.slug), "items", GEOJSON, "Its features"
            ),
            _link(
                _url(request, "queryables", collection_id=layer.slug),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                "What its filter may name (CQL2, Part 3)",
            ),
            iso_metadata_link(request, layer),
            _link(
                _url(request, "collection-tilesets", collection_id=layer.slug),
                "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                JSON,
                "Its vector tilesets (OGC API - Tiles)",
            ),
            # Its MapLibre style (layers/styles.py): QGIS, Maputnik and the web map read it.
            _link(
                request.build_absolute_uri(reverse("style-layer", kwargs={"slug": layer.slug})),
                "stylesheet",
                "application/vnd.mapbox.style+json",
                "Its MapLibre style",
            ),
        ],
    }
    if bbox := extent_bbox(layer):
        collection["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if temporal := temporal_extent(layer):
        # A time-enabled layer (`datetime=` selects its features): from its data, open ends null.
        collection.setdefault("extent", {})["temporal"] = {
            "interval": temporal["interval"],
            "trs": GREGORIAN,
        }
    if keywords := (layer.metadata or {}).get("keywords"):
        collection["keywords"] = keywords
    if attribution := clean_attribution(layer.attribution):
        collection["attribution"] = attribution  # HTML to OGC clients: cleaned as it goes out
    if layer.licence:
        collection["license"] = layer.licence
    return collection


class LandingPageView(OgcView):
    """The landing page: what this service is and where its parts are."""

    def get(self, request):
        return Response(
            {
                "title": f"{settings.CITY_NAME}: map layers",
                "description": "The city's map layers as OGC API - Features.",
                "links": [
                    _link(_url(request, "landing"), "self", JSON, "This document"),
                    _link(_url(request, "api"), "service-desc", OPENAPI, "The API definition"),
                    _link(_url(request, "api-docs"), "service-doc", "text/html", "API docs"),
                    _link(
                        _url(request, "conformance"),
                        "conformance",
                        JSON,
                        "The conformance classes implemented",
                    ),
                    _link(_url(request, "collections"), "data", JSON, "The collections"),
                    catalogue_link(request),
                    _link(
                        _url(request, "map-tilesets"),
                        "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                        JSON,
                        "The map's vector tilesets (OGC API - Tiles)",
                    ),
                    _link(
                        _url(request, "tile-matrix-sets"),
                        "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                        JSON,
                        "The tile matrix sets",
                    ),
                ],
            }
        )


class ConformanceView(OgcView):
    """The conformance classes this API implements."""

    def get(self, request):
        return Response({"conformsTo": CONFORMANCE_CLASSES})


class ApiDefinitionView(OgcView):
    """The OpenAPI 3.0 definition of this API."""

    renderer_classes = [OpenApiRenderer]

    def get(self, request):
        base_url = request.build_absolute_uri(reverse("ogc:landing")).rstrip("/")
        return Response(
            openapi_document(
                base_url=base_url,
                title=f"{settings.CITY_NAME}: map layers (OGC API - Features)",
                description="The city's map layers as OGC API - Features, Part 1.",
            )
        )


class CollectionsView(OgcView):
    """The collections: every layer the requester may see."""

    def get(self, request):
        layers = selectors.layers_visible_to(user=request.user)
        return Response(
            {
                "links": [_link(_url(request, "collections"), "self", JSON, "The collections")],
                "crs": list(OFFERED_URIS),  # the global list the collections' "#/crs" names
                "collections": [collection_json(request, layer, nested=True) for layer in layers],
            }
        )


class CollectionView(OgcView):
    """One collection (layer)."""

    def get(self, request, collection_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        return Response(collection_json(request, layer))


def _items_page(params: dict[str, str]) -> PageRequest:
    limit = parse_int(
        params.pop("limit", None),
        parameter="limit",
        default=DEFAULT_LIMIT,
        minimum=1,
        maximum=10**9,
    )
    offset = parse_int(
        params.pop("offset", None), parameter="offset", default=0, minimum=0, maximum=10**9
    )
    # Asking for more than the maximum is not an error: the answer holds the maximum.
    return PageRequest(limit=min(limit, MAX_LIMIT), offset=offset)


class ItemsView(OgcView):
    """A collection's features, paged, as a GeoJSON FeatureCollection."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "features"

    def get(self, request, collection_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        params = query_params(request)
        crs = _crs_parameter(params, "crs")
        bbox_crs = _crs_parameter(params, "bbox-crs")
        # A box in another CRS is read here, in that CRS's axis order (Part 2, bbox-crs).
        box = params.pop("bbox") if "bbox" in params and not bbox_crs.is_crs84 else None
        page = _items_page(params)
        query = feature_query_from_params(
            layer=layer, params=params, ignore=ITEMS_IGNORED, operators=("eq",)
        )
        if box is not None:
            query = dataclasses.replace(query, **box_in(box, bbox_crs))
        query = answer_in(query, crs, authority_axes=True)
        collection_url = _url(request, "collection", collection_id=layer.slug)

        def tail(returned: int, matched: int, cut_short: bool) -> dict:
            links = page_links(
                request,
                page=page,
                returned=returned,
                matched=matched,
                media_type=GEOJSON,
                cut_short=cut_short,
            )
            links.append(_link(collection_url, "collection", JSON, layer.title))
            return {"links": links}

        response = collection_response(
            query=query, page=page, tail=tail, matched=matched_count(layer, query)
        )
        response["Content-Crs"] = f"<{crs.uri}>"
        return response


def _crs_parameter(params: dict[str, str], name: str) -> OfferedCrs:
    """Return the CRS a request's `crs` or `bbox-crs` names (Part 2), CRS84 if it names none."""
    return crs_from_uri(params[name], parameter=name) if name in params else CRS84_CRS


class ItemView(OgcView):
    """One feature of a collection."""

    def get(self, request, collection_id: str, feature_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        crs = _crs_parameter(query_params(request), "crs")
        text = None
        if feature_id.isdigit():
            text = feature_sql.feature_get(
                answer_in(FeatureQuery(layer_id=layer.pk), crs, authority_axes=True),
                feature_id=int(feature_id),
                budget=feature_sql.VertexBudget(settings.API_MAX_VERTICES),
            )
        if text is None:
            raise NotFound(f"No feature {feature_id} in collection '{collection_id}'.")
        self_url = _url(request, "item", collection_id=layer.slug, feature_id=feature_id)
        links = [
            _link(self_url, "self", GEOJSON, "This feature"),
            _link(
                _url(request, "collection", collection_id=layer.slug),
                "collection",
                JSON,
                layer.title,
            ),
        ]
        response = feature_response(text, extra={"links": links})
        response["Content-Crs"] = f"<{crs.uri}>"
        return response
