"""Alerts and anomalies of a sensor layer, and their review (docs/sensor-alerts.md).

GET  /api/v1/sensors/layers/{slug}/alerts[?open=1&station=&limit=]
POST /api/v1/sensors/layers/{slug}/alerts/{id}/acknowledge                      (staff)
GET  /api/v1/sensors/layers/{slug}/anomalies[?status=new&kind=&station=&limit=]
POST /api/v1/sensors/layers/{slug}/anomalies/{id}/review {"decision": "confirm"|"dismiss"} (staff)

Reads follow the layer's visibility (404 when it may not be seen); reviews need a staff account
with the change permission on anomalies (alerts for acknowledging).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from layers.api.base import ApiView, query_params
from layers.errors import Forbidden, InvalidParameter, NotAuthenticated, NotFound

from .. import reviews, selectors
from ..explanations import explain
from ..models_alerts import Alert, Anomaly

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
NO_STORE = {"Cache-Control": "private, no-store"}


def _limit(params: dict) -> int:
    raw = params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidParameter(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}.", parameter="limit"
        )
    return int(raw)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def alert_json(alert: Alert) -> dict:
    prop = alert.datastream.property if alert.datastream_id else None
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "station": alert.station.code,
        "station_name": alert.station.name,
        "feature_id": alert.station.feature_id,
        "property": prop.code if prop else None,
        "unit": prop.unit if prop else None,
        "level": alert.level,
        "severity": alert.severity,
        "threshold": alert.threshold_value,
        "sample": bool(alert.threshold and alert.threshold.sample),
        "open": alert.closed_at is None,
        "opened_at": _iso(alert.opened_at),
        "opened_value": alert.opened_value,
        "peak_value": alert.peak_value,
        "peak_at": _iso(alert.peak_at),
        "closed_at": _iso(alert.closed_at),
        "closed_value": alert.closed_value,
        "acknowledged_at": _iso(alert.acknowledged_at),
    }


def anomaly_json(anomaly: Anomaly, *, staff: bool) -> dict:
    body = {
        "id": anomaly.pk,
        "station": anomaly.datastream.station.code,
        "property": anomaly.datastream.property.code,
        "unit": anomaly.datastream.property.unit,
        "kind": anomaly.kind,
        "start": _iso(anomaly.time_start),
        "end": _iso(anomaly.time_end),
        "score": round(anomaly.score, 3),
        # In the requester's language (Accept-Language, the site's cookie): made from the numbers.
        "explanation": explain(anomaly.kind, anomaly.details, fallback=anomaly.explanation),
        "status": anomaly.status,
        "reviewed_at": _iso(anomaly.reviewed_at),
    }
    if staff:
        body["reviewed_by"] = anomaly.reviewed_by.get_username() if anomaly.reviewed_by else None
    return body


def _staff_with(request, permission: str) -> None:
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated("Sign in (or send a token) as staff to review.")
    if not (user.is_staff and user.has_perm(permission)):
        raise Forbidden(f"Reviewing needs a staff account with the {permission} permission.")


class AlertListApi(ApiView):
    """A sensor layer's alerts, newest first."""

    @extend_schema(
        parameters=[
            OpenApiParameter("open", bool, description="1: open alerts only; 0: closed only"),
            OpenApiParameter("station", str),
            OpenApiParameter("limit", int),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Alerts of a sensor layer (thresholds crossed, stations stale)",
    )
    def get(self, request, slug: str):
        params = query_params(request)
        layer = selectors.sensor_layer_visible_to(user=request.user, slug=slug)
        alerts = Alert.objects.filter(station__layer=layer).select_related(
            "station", "datastream__property", "threshold"
        )
        if "open" in params:
            if params["open"] not in ("0", "1", "true", "false"):
                raise InvalidParameter("open must be 1 or 0.", parameter="open")
            alerts = alerts.filter(closed_at__isnull=params["open"] in ("1", "true"))
        if params.get("station"):
            alerts = alerts.filter(station__code=params["station"])
        rows = alerts.order_by("-opened_at", "-pk")[: _limit(params)]
        return Response(
            {"layer": layer.slug, "alerts": [alert_json(a) for a in rows]}, headers=NO_STORE
        )


class AlertAcknowledgeApi(ApiView):
    """Record that a staff member has seen an alert."""

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Acknowledge")
    def post(self, request, slug: str, alert_id: int):
        layer = selectors.sensor_layer_visible_to(user=request.user, slug=slug)
        _staff_with(request, "sensors.change_alert")
        alert = (
            Alert.objects.filter(station__layer=layer, pk=alert_id)
            .select_related("station", "datastream__property", "threshold")
            .first()
        )
        if alert is None:
            raise NotFound(f"No alert {alert_id} in layer {slug!r}.")
        alert = reviews.alert_acknowledge(alert=alert, user=request.user)
        return Response(alert_json(alert), headers=NO_STORE)


class AnomalyListApi(ApiView):
    """A sensor layer's anomalies, newest first."""

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(Anomaly.Status.values)),
            OpenApiParameter("kind", str, enum=list(Anomaly.Kind.values)),
            OpenApiParameter("station", str),
            OpenApiParameter("limit", int),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Anomalies found in a sensor layer's series",
    )
    def get(self, request, slug: str):
        params = query_params(request)
        layer = selectors.sensor_layer_visible_to(user=request.user, slug=slug)
        rows = Anomaly.objects.filter(datastream__station__layer=layer).select_related(
            "datastream__station", "datastream__property", "reviewed_by"
        )
        for name, choices in (("status", Anomaly.Status.values), ("kind", Anomaly.Kind.values)):
            if name in params:
                if params[name] not in choices:
                    raise InvalidParameter(
                        f"{name} must be one of {', '.join(choices)}.", parameter=name
                    )
                rows = rows.filter(**{name: params[name]})
        if params.get("station"):
            rows = rows.filter(datastream__station__code=params["station"])
        rows = rows.order_by("-time_start", "-pk")[: _limit(params)]
        staff = request.user.is_staff
        return Response(
            {"layer": layer.slug, "anomalies": [anomaly_json(a, staff=staff) for a in rows]},
            headers=NO_STORE,
        )


class AnomalyReviewApi(ApiView):
    """Confirm or dismiss an anomaly (staff)."""

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        summary='Review an anomaly: {"decision": "confirm" | "dismiss"}',
    )
    def post(self, request, slug: str, anomaly_id: int):
        layer = selectors.sensor_layer_visible_to(user=request.user, slug=slug)
        _staff_with(request, "sensors.change_anomaly")
        anomaly = (
            Anomaly.objects.filter(datastream__station__layer=layer, pk=anomaly_id)
            .select_related("datastream__station", "datastream__property")
            .first()
        )
        if anomaly is None:
            raise NotFound(f"No anomaly {anomaly_id} in layer {slug!r}.")
        decision = request.data.get("decision") if isinstance(request.data, dict) else None
        if not isinstance(decision, str):
            raise InvalidParameter(
                'Send {"decision": "confirm"} or {"decision": "dismiss"}.', parameter="decision"
            )
        anomaly = reviews.anomaly_review(anomaly=anomaly, decision=decision, user=request.user)
        return Response(anomaly_json(anomaly, staff=True), headers=NO_STORE)
