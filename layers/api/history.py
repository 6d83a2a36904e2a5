"""A feature's history, its restore, and a layer's change log: for the layer's editors and staff.

Who changed what is the editors' business: the history names users, so it is shown to those who
may edit the layer (`can_edit_features`), not to every visitor of a public layer; the layer as it
was (`?as_of=` on features, tiles and exports) is shown to anyone who may see the layer.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from layers import services
from layers.errors import InvalidParameter, NotFound
from layers.features.query import parse_instant
from layers.models import ChangeEvent, Feature, FeatureAttachment, FeatureVersion, Layer

from .attachments import attachment_json
from .base import ApiView, query_params
from .errors import ErrorSerializer
from .features import _written, expected_version, require_editor, write_context
from .layers import layer_or_404
from .pagination import page_request, url_with

HISTORY_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description="Versions, newest first.")


def event_json(event: ChangeEvent | None, users: dict[int, str]) -> dict | None:
    """Return what the history shows of a change: what, how, by whom, when."""
    if event is None:
        return None
    return {
        "id": event.pk,
        "action": event.action,
        "action_label": str(event.get_action_display()),
        "channel": event.channel,
        "channel_label": str(event.get_channel_display()),
        "user": users.get(event.user_id) if event.user_id else None,
        "at": event.at.isoformat(),
        "feature_id": event.feature_id,
        "counts": event.counts,
        "note": event.note,
    }


def _users(events) -> dict[int, str]:
    ids = {event.user_id for event in events if event.user_id}
    users = get_user_model().objects.filter(pk__in=ids)
    return {user.pk: user.get_username() for user in users}


def feature_history(*, layer: Layer, feature_id: int, request=None) -> dict:
    """Return every version of a feature, newest first, each with the change that made it, the
    one that ended it, and what it changed from the version before; and its attachments, the
    removed ones too, each with the changes that added and removed it."""
    past = list(
        FeatureVersion.objects.filter(layer_id=layer.pk, feature_id=feature_id).order_by(
            "version", "valid_to"
        )
    )
    current = Feature.objects.filter(layer=layer, pk=feature_id).first()
    if not past and current is None:
        raise NotFound(f"Feature {feature_id} of layer '{layer.slug}' has no history.")
    rows = [(version, version.valid_from, version.valid_to) for version in past]
    if current is not None:
        rows.append((current, current.updated_at, None))
    event_ids = {getattr(row, "event_id", None) for row, *_ in rows}
    event_ids |= {getattr(row, "ended_by", None) for row, *_ in rows}
    attachments = list(
        FeatureAttachment.objects.filter(layer=layer, feature_id=feature_id).select_related(
            "layer", "uploaded_by", "removed_by"
        )
    )
    event_ids |= {a.added_event_id for a in attachments} | {a.removed_event_id for a in attachments}
    events = {e.pk: e for e in ChangeEvent.objects.filter(pk__in=event_ids - {None})}
    users = _users(events.values())
    versions = []
    before = None
    for row, valid_from, valid_to in rows:
        changes = {}
        if before is not None:
            for name in sorted(set(before.attributes) | set(row.attributes)):
                old, new = before.attributes.get(name), row.attributes.get(name)
                if old != new:
                    changes[name] = {"before": old, "after": new}
        versions.append(
            {
                "version": row.version,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
                "current": row is current,
                "event": event_json(events.get(row.event_id), users),
                "ended_by": event_json(events.get(getattr(row, "ended_by", None)), users),
                "properties": row.attributes,
                "geometry": json.loads(row.geom.json),
                "changes": changes,
                "geometry_changed": before is not None
                and not (
                    before.geom.geom_type == row.geom.geom_type
                    and before.geom.equals_exact(row.geom, 0)
                ),
            }
        )
        before = row
    versions.reverse()
    return {
        "feature_id": feature_id,
        "layer": layer.slug,
        "deleted": current is None,
        "versions": versions,
        "attachments": [
            attachment_json(a, request=request, show_users=True)
            | {
                "added": event_json(events.get(a.added_event_id), users),
                "removed": event_json(events.get(a.removed_event_id), users),
            }
            for a in attachments
        ],
    }


class FeatureHistoryApi(ApiView):
    """Every version of one feature (also of a deleted one)."""

    @extend_schema(
        operation_id="features_history",
        responses={200: HISTORY_RESPONSE, 403: ErrorSerializer, 404: ErrorSerializer},
        description="Editors and staff: every version of a feature, who made it, when, how, "
        "and what changed from the one before.",
        tags=["editing"],
    )
    def get(self, request, slug: str, feature_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        return Response(feature_history(layer=layer, feature_id=feature_id, request=request))


class FeatureRestoreApi(ApiView):
    """Bring back a past version of a feature, as a new recorded change."""

    # Named apart from the other views' InputSerializer: drf-spectacular names a component after
    # its class, and two "InputRequest"s would clash in the schema.
    class RestoreInputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)

    @extend_schema(
        operation_id="features_restore",
        request=RestoreInputSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="GeoJSON"),
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="GeoJSON (deleted, back)"),
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        description="Editors and staff: restore a past version of a feature (a deleted feature "
        "comes back with its id). `If-Match` names the version the restore replaces (the "
        "current one, or the one that was deleted): if the feature moved on since, 409.",
        tags=["editing"],
    )
    def post(self, request, slug: str, feature_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        expected = expected_version(request, feature_id)
        serializer = self.RestoreInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feature, came_back = services.feature_restore(
            layer=layer,
            feature_id=feature_id,
            version=serializer.validated_data["version"],
            expected_version=expected,
            by=write_context(request),
        )
        response = _written(request, layer, feature, created=came_back)
        return response


class LayerChangesApi(ApiView):
    """A layer's change log, newest first, filtered by user, time, action and feature."""

    @extend_schema(
        operation_id="layers_changes",
        parameters=[
            OpenApiParameter("user", str, description="Username of who made the change."),
            OpenApiParameter("since", str, description="From this instant (ISO 8601)."),
            OpenApiParameter("until", str, description="Before this instant (ISO 8601)."),
            OpenApiParameter("action", str, description="create, update, delete, restore…"),
            OpenApiParameter("feature", int, description="Changes of this feature."),
            OpenApiParameter("limit", int, description="At most 500; 50 if absent."),
            OpenApiParameter("offset", int),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT),
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["editing"],
    )
    def get(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        params = query_params(request)
        page = page_request(params, default_limit=50, max_limit=500)
        events = ChangeEvent.objects.filter(layer=layer)
        if username := params.pop("user", "").strip():
            events = events.filter(user__username=username)
        if since := params.pop("since", ""):
            events = events.filter(at__gte=parse_instant(since, parameter="since"))
        if until := params.pop("until", ""):
            events = events.filter(at__lt=parse_instant(until, parameter="until"))
        if action := params.pop("action", ""):
            if action not in ChangeEvent.Action.values:
                raise InvalidParameter(
                    f"action must be one of {', '.join(ChangeEvent.Action.values)}.",
                    parameter="action",
                )
            events = events.filter(action=action)
        if feature := params.pop("feature", ""):
            if not feature.isdigit():
                raise InvalidParameter("feature must be a feature id.", parameter="feature")
            events = events.filter(feature_id=int(feature))
        count = events.count()
        chosen = list(events.order_by("-at", "-id")[page.offset : page.offset + page.limit])
        users = _users(chosen)
        after = page.offset + len(chosen)
        return Response(
            {
                "count": count,
                "next": url_with(request, offset=after, limit=page.limit)
                if after < count
                else None,
                "previous": url_with(
                    request, offset=max(0, page.offset - page.limit), limit=page.limit
                )
                if page.offset
                else None,
                "results": [event_json(event, users) for event in chosen],
            },
            status=status.HTTP_200_OK,
        )
