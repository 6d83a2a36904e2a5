"""REST views of sensor layers, mounted at /api/v1/sensors/ (docs/sensors.md).

POST /api/v1/sensors/observations                      a batch, `X-Sensor-Key: <key>`
GET  /api/v1/sensors/layers/{slug}/latest[?at=]         each station's latest values (not cached)
GET  /api/v1/sensors/layers/{slug}/stations/{code}/series?property=&start=&end=&agg=
"""

from __future__ import annotations

import json
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from layers.api.base import ApiView, query_params
from layers.errors import Forbidden, InvalidData, InvalidParameter, NotAuthenticated

from .. import ingest, selectors, services
from ..senml import PayloadError, parse_records, parse_senml

SENML_TYPES = ("application/senml+json",)


class KeyRequired(NotAuthenticated):
    """A station's batch came without a valid source key: 401 with the sensor key's challenge."""

    # Declared here, not inherited: every domain error names its own codes (test_error_vocabulary).
    code = "not-authenticated"
    ogc_code = "NotAuthenticated"
    http_status = 401
    headers = {"WWW-Authenticate": "X-Sensor-Key"}


def _json(body: bytes):
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidData(f"The body is not JSON: {error}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


class ObservationsApi(ApiView):
    """Take a batch of observations from a sensor source."""

    # The source's key is the only credential here; no session, so no CSRF either.
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("X-Sensor-Key", str, OpenApiParameter.HEADER, required=True)],
        summary="Write a batch of observations (JSON records or a SenML pack)",
    )
    def post(self, request):
        source = services.source_by_key(request.headers.get("X-Sensor-Key", ""))
        if source is None:
            raise KeyRequired(
                "Send the source's key in the X-Sensor-Key header (an unknown or revoked key "
                "is refused)."
            )
        now = timezone.now()
        body = _json(request.body)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        try:
            if content_type in SENML_TYPES or isinstance(body, list):
                readings, refusals = parse_senml(body, now=now)
            else:
                readings, refusals = parse_records(body, now=now)
        except PayloadError as error:
            raise InvalidData(str(error)) from None
        count = len(readings) + len(refusals)
        if count > settings.SENSORS_MAX_BATCH:
            raise InvalidData(
                f"{count} records in one batch; send at most {settings.SENSORS_MAX_BATCH} "
                "per request."
            )
        result = ingest.ingest(readings, source=source, refusals=refusals, now=now)
        if count and result.not_owned == count:
            raise Forbidden(
                f"None of these stations belongs to source {source.name!r}: a key writes only "
                "its own source's stations.",
                **result.as_dict(),
            )
        return Response(result.as_dict(), headers={"Cache-Control": "no-store"})


def _instant(params: dict, name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(
            f"{name} must be an ISO 8601 time (e.g. 2026-10-30T07:00:00+07:00).", parameter=name
        ) from None
    if at.tzinfo is None:
        at = timezone.make_aware(at)  # a time without offset is the city's local time
    return at


def _cache_headers(layer) -> dict:
    scope = "public" if layer.visibility == "public" else "private"
    return {"Cache-Control": f"{scope}, max-age={settings.SENSORS_LATEST_MAX_AGE_S}"}


class LatestApi(ApiView):
    """Each station's latest values per property, or as they were at `at` (replay)."""

    @extend_schema(
        parameters=[OpenApiParameter("at", str, description="ISO 8601 instant (replay)")],
        responses={200: OpenApiTypes.OBJECT},
        summary="Latest values of a sensor layer's stations",
    )
    def get(self, request, slug: str):
        params = query_params(request)
        layer = selectors.sensor_layer_visible_to(user=request.user, slug=slug)
        body = selectors.latest(layer=layer, at=_instant(params, "at"))
        return Response(body, headers=_cache_headers(layer))


class SeriesApi(ApiView):
    """One station's observations of one property over a time range, raw or aggregated."""

    @extend_schema(
        parameters=[
            OpenApiParameter("property", str),
            OpenApiParameter("start", str),
            OpenApiParameter("end", str),
            OpenApiParameter("agg", str, enum=list(selectors.AGGREGATIONS)),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="History of a station's property (raw, hourly or daily min/max/mean/count)",
    )
    def get(self, request, slug: str, code: str):
        params = query_params(request)
        station = selectors.station_visible_to(user=request.user, slug=slug, code=code)
        body = selectors.series(
            station=station,
            property_code=params.get("property"),
            start=_instant(params, "start"),
            end=_instant(params, "end"),
            agg=params.get("agg", "raw"),
        )
        return Response(body, headers=_cache_headers(station.layer))
