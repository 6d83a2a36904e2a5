"""The SensorThings API 1.1 (read) under /sta/v1.1/: the service root and every resource path.

One view reads the resource path (`Things(1)/Datastreams`, `Datastreams(4)/Observations`,
`Observations(…)/Datastream/Thing`, `Things(1)/name/$value`) one segment at a time, each step a
queryset of the target entity set narrowed to the rows the user may see, then answers a
collection (`value`, `@iot.count`, `@iot.nextLink`), an entity, or one property.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.db.models import Model, QuerySet
from django.http import HttpResponse
from django.urls import reverse
from rest_framework.response import Response

from layers.api.base import ApiView
from layers.api.throttles import AnonymousScopedThrottle
from layers.errors import InvalidParameter, NotFound

from .entities import ENTITY_SETS, Context, Entity
from .query import QueryOptions, apply_filter_and_order, options_from_params

SEGMENT = re.compile(r"^(?P<name>[A-Za-z$][A-Za-z]*)(?:\((?P<id>[^()]+)\))?$")
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]


class SensorThingsView(ApiView):
    """GET any resource path of the SensorThings API; only stations of visible layers."""

    schema = None  # a standard API, described by its standard, not by our OpenAPI document
    throttle_classes = [AnonymousScopedThrottle]
    throttle_scope = "features"

    def get(self, request, resource_path: str = ""):
        context = Context(base_url=_base_url(request), user=request.user)
        if not resource_path.strip("/"):
            return Response(service_root(context))
        segments = resource_path.strip("/").split("/")
        return _answer(request, context, segments)


def _base_url(request) -> str:
    return request.build_absolute_uri(reverse("sensorthings:root")).rstrip("/")


def service_root(context: Context) -> dict:
    """Return the service root: the entity sets and the conformance classes offered."""
    return {
        "value": [{"name": name, "url": f"{context.base_url}/{name}"} for name in ENTITY_SETS],
        "serverSettings": {"conformance": CONFORMANCE},
    }


def _answer(request, context: Context, segments: list[str]):
    entity, queryset, obj = None, None, None
    for position, segment in enumerate(segments):
        match = SEGMENT.match(segment)
        if match is None:
            raise InvalidParameter(f"The path segment {segment!r} cannot be read.")
        name, raw_id = match["name"], match["id"]
        if entity is None:
            entity = ENTITY_SETS.get(name)
            if entity is None:
                raise NotFound(
                    f"There is no entity set {name!r}; the sets: {', '.join(ENTITY_SETS)}."
                )
            queryset = entity.queryset(context.user)
        elif obj is None:
            raise InvalidParameter(
                f"{segment!r} follows a collection: name one entity first, e.g. "
                f"{entity.name}(1)/{segment}."
            )
        elif name in entity.navigation:
            nav = entity.navigation[name]
            target = ENTITY_SETS[nav.target]
            queryset = target.queryset(context.user).filter(
                **{nav.target_lookup: getattr(obj, nav.source_attr)}
            )
            entity, obj = target, None
            if not nav.many:
                if raw_id is not None:
                    raise InvalidParameter(f"{name} is one entity: drop the ({raw_id}).")
                obj = _first(queryset, entity, segment)
                continue
        else:
            return _property_answer(entity, obj, context, segments[position:])
        if raw_id is not None:
            obj = entity.by_id(queryset, raw_id)
            if obj is None:
                raise NotFound(
                    f"There is no {entity.singular} {segment} (or it is not yours to see)."
                )
    options = options_from_params(request.query_params, entity)
    if obj is not None:
        if options.filter or options.orderby or options.count:
            raise InvalidParameter(
                "$filter, $orderby and $count apply to collections; an entity takes $select and "
                "$expand."
            )
        return Response(_entity_json(entity, obj, options, context))
    return Response(_collection_json(request, entity, queryset, options, context))


def _first(queryset: QuerySet, entity: Entity, segment: str) -> Model:
    obj = queryset.order_by(*entity.default_order).first()
    if obj is None:
        raise NotFound(f"There is no {segment} here.")
    return obj


def _property_answer(entity: Entity, obj: Model, context: Context, rest: list[str]):
    """Answer `Things(1)/name` ({"name": …}) or `Things(1)/name/$value` (the bare value)."""
    body = entity.to_json(obj, context)
    name = rest[0]
    if (
        name not in body
        or name.startswith("@")
        or len(rest) > 2
        or (len(rest) == 2 and rest[1] != "$value")
    ):
        raise NotFound(f"{entity.singular} has no property {'/'.join(rest)!r}.")
    if len(rest) == 2:
        value = body[name]
        return HttpResponse("" if value is None else str(value), content_type="text/plain")
    return Response({name: body[name]})


def _entity_json(entity: Entity, obj: Model, options: QueryOptions, context: Context) -> dict:
    body = entity.to_json(obj, context, options.select)
    for name, inner in options.expand.items():
        nav = entity.navigation[name]
        target = ENTITY_SETS[nav.target]
        related = target.queryset(context.user).filter(
            **{nav.target_lookup: getattr(obj, nav.source_attr)}
        )
        if not nav.many:
            found = related.order_by(*target.default_order).first()
            body[name] = _entity_json(target, found, inner, context) if found else None
            continue
        related = apply_filter_and_order(related, inner, target)
        if inner.count:
            body[f"{name}@iot.count"] = related.count()
        rows = list(related[inner.skip : inner.skip + inner.top + 1]) if inner.top else []
        if len(rows) > inner.top:
            rows = rows[: inner.top]
            link = f"{entity.self_link(obj, context)}/{name}"
            body[f"{name}@iot.nextLink"] = f"{link}?{_expanded_next_query(inner)}"
        body[name] = [_entity_json(target, row, inner, context) for row in rows]
    return body


def _expanded_next_query(options: QueryOptions) -> str:
    """Return the query of the next page of an expanded collection, at its navigation link."""
    params = [("$top", str(options.top)), ("$skip", str(options.skip + options.top))]
    if options.filter is not None:
        params.append(("$filter", options.filter))
    if options.orderby:
        order = ",".join(f"{n} desc" if desc else n for n, desc in options.orderby)
        params.append(("$orderby", order))
    if options.select is not None:
        params.append(("$select", ",".join(options.select)))
    return urlencode(params, safe="$(),'")


def _collection_json(
    request, entity: Entity, queryset: QuerySet, options: QueryOptions, context: Context
) -> dict:
    queryset = apply_filter_and_order(queryset, options, entity)
    body = {}
    if options.count:
        body["@iot.count"] = queryset.count()
    # One row more than the page tells whether there is a next page without counting.
    # ($top=0 asks for the count alone: no page, so no next one to loop on.)
    rows = list(queryset[options.skip : options.skip + options.top + 1]) if options.top else []
    if len(rows) > options.top:
        rows = rows[: options.top]
        body["@iot.nextLink"] = _next_link(request, options)
    body["value"] = [_entity_json(entity, row, options, context) for row in rows]
    return body


def _next_link(request, options: QueryOptions) -> str:
    params = request.query_params.copy()
    params["$top"] = str(options.top)
    params["$skip"] = str(options.skip + options.top)
    query = urlencode(sorted(params.lists()), doseq=True, safe="$(),'")
    return request.build_absolute_uri(f"{request.path}?{query}")
