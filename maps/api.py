"""REST views of saved maps, mounted at /api/v1/maps/ (docs/api.md, Saved maps).

GET    /api/v1/maps/                 the requester's maps and their groups' maps  {"results": [...]}
POST   /api/v1/maps/                 {"name", "sharing", "group", "state"} → 201
GET    /api/v1/maps/groups/          the groups the requester may share a map with
GET    /api/v1/maps/{code}/          one map, its state as the requester may see it
PATCH  /api/v1/maps/{code}/          the owner: rename, share differently, save the state again
DELETE /api/v1/maps/{code}/          the owner → 204

A map the requester may not open is 404 (as a layer is); one they may open but not change is 403.
The state answered is filtered through the layer visibility rule for the requester
(`composition.for_viewer`) and says how many layers were left out (`omitted`), never which.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from layers.api.base import ApiView, query_params
from layers.api.errors import ErrorSerializer
from layers.api.throttles import AnonymousScopedThrottle
from layers.errors import InvalidData, InvalidParameter, NotAuthenticated

from . import composition, selectors, services
from .models import SavedMap

MAP_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description="A saved map.")
SCOPES = ("all", "mine", "shared")


def _require_signed_in(request) -> None:
    if not request.user.is_authenticated:
        raise NotAuthenticated("Sign in (or send an API token) to keep saved maps.")


def saved_map_json(saved_map: SavedMap, *, request, with_state: bool = False) -> dict:
    """Return what the API says of a saved map to the requester."""
    link = reverse("saved-map", kwargs={"code": saved_map.code})
    body = {
        "code": saved_map.code,
        "name": saved_map.name,
        "owner": saved_map.owner.get_username(),
        "mine": saved_map.owner_id == request.user.pk,
        "sharing": saved_map.sharing,
        "group": (
            {"id": saved_map.group.pk, "name": saved_map.group.name} if saved_map.group else None
        ),
        "url": request.build_absolute_uri(link),
        "qr_url": request.build_absolute_uri(
            reverse("saved-map-qr", kwargs={"code": saved_map.code})
        ),
        "api_url": request.build_absolute_uri(
            reverse("maps-api:detail", kwargs={"code": saved_map.code})
        ),
        "created_at": saved_map.created_at.isoformat(),
        "updated_at": saved_map.updated_at.isoformat(),
    }
    if with_state:
        seen = composition.for_viewer(saved_map.state, user=request.user)
        body["state"] = seen.state
        body["omitted"] = seen.omitted
    return body


class _SharingFields(serializers.Serializer):
    sharing = serializers.ChoiceField(
        choices=SavedMap.Sharing.values,
        required=False,
        help_text="private (the owner only), group (the members of `group`) or public "
        "(anyone with the link, signed in or not).",
    )
    group = serializers.IntegerField(
        required=False, allow_null=True, help_text="The group's id, when sharing is `group`."
    )


def _sharing(data: dict, *, default: str | None) -> services.Sharing | None:
    """Return the sharing the request asks for (None when it asks for no change)."""
    kind = data.get("sharing", default)
    if kind is None:
        if data.get("group") is not None:
            raise InvalidData('Send sharing: "group" with the group.', parameter="sharing")
        return None
    group = None
    if kind == SavedMap.Sharing.GROUP and data.get("group") is not None:
        group = Group.objects.filter(pk=data["group"]).first()
        if group is None:
            raise InvalidData(f"No group {data['group']}.", parameter="group")
    return services.Sharing(kind, group)


class SavedMapListApi(ApiView):
    """The requester's saved maps; save a new one."""

    class CreateSerializer(_SharingFields):
        name = serializers.CharField(max_length=200, help_text="What the map is called.")
        state = serializers.JSONField(
            help_text="The web map's composition (version 1, see docs/api.md)."
        )

    @extend_schema(
        operation_id="maps_list",
        parameters=[
            OpenApiParameter(
                "scope",
                str,
                enum=SCOPES,
                description="mine: the requester's own maps; shared: maps their groups share "
                "with them; all (default): both.",
            )
        ],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), 400: ErrorSerializer,
                   401: ErrorSerializer},
        description="The requester's saved maps and those shared with their groups, latest "
        "changed first.",
        tags=["maps"],
    )  # fmt: skip
    def get(self, request):
        _require_signed_in(request)
        scope = query_params(request).get("scope", "all")
        if scope not in SCOPES:
            raise InvalidParameter(f"scope must be one of {', '.join(SCOPES)}.", parameter="scope")
        maps = selectors.saved_maps_listed_for(user=request.user, scope=scope)
        return Response({"results": [saved_map_json(m, request=request) for m in maps]})

    @extend_schema(
        operation_id="maps_create",
        request=CreateSerializer,
        responses={201: MAP_RESPONSE, 400: ErrorSerializer, 401: ErrorSerializer,
                   409: ErrorSerializer},
        description="Save the web map's composition under a name. It gets a short link "
        "(/m/{code}) and a QR code (/m/{code}/qr.svg).",
        tags=["maps"],
    )  # fmt: skip
    def post(self, request):
        _require_signed_in(request)
        body = self.CreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        saved_map = services.saved_map_create(
            owner=request.user,
            name=data["name"],
            state=data["state"],
            sharing=_sharing(data, default=SavedMap.Sharing.PRIVATE),
        )
        answer = saved_map_json(saved_map, request=request, with_state=True)
        return Response(
            answer, status=status.HTTP_201_CREATED, headers={"Location": answer["api_url"]}
        )


class SavedMapGroupsApi(ApiView):
    """The groups the requester may share a map with."""

    @extend_schema(
        operation_id="maps_groups",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), 401: ErrorSerializer},
        tags=["maps"],
    )
    def get(self, request):
        _require_signed_in(request)
        groups = selectors.share_groups_of(user=request.user)
        return Response({"results": [{"id": g.pk, "name": g.name} for g in groups]})


class SavedMapDetailApi(ApiView):
    """One saved map: anyone it is shared with reads it; its owner changes or deletes it."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "maps"

    class UpdateSerializer(_SharingFields):
        name = serializers.CharField(max_length=200, required=False)
        state = serializers.JSONField(required=False)

    @extend_schema(
        operation_id="maps_retrieve",
        responses={200: MAP_RESPONSE, 404: ErrorSerializer},
        description="The map and its composition, with only the layers the requester may see; "
        "`omitted` counts the layers left out.",
        tags=["maps"],
    )
    def get(self, request, code: str):
        saved_map = selectors.saved_map_get_visible(code=code, user=request.user)
        return Response(saved_map_json(saved_map, request=request, with_state=True))

    @extend_schema(
        operation_id="maps_partial_update",
        request=UpdateSerializer,
        responses={200: MAP_RESPONSE, 400: ErrorSerializer, 401: ErrorSerializer,
                   403: ErrorSerializer, 404: ErrorSerializer},
        description="The owner: rename the map, share it differently, or save its state again.",
        tags=["maps"],
    )  # fmt: skip
    def patch(self, request, code: str):
        _require_signed_in(request)
        saved_map = selectors.saved_map_get_visible(code=code, user=request.user)
        body = self.UpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        saved_map = services.saved_map_update(
            saved_map=saved_map,
            by=request.user,
            name=data.get("name"),
            sharing=_sharing(data, default=None),
            state=data.get("state"),
        )
        return Response(saved_map_json(saved_map, request=request, with_state=True))

    @extend_schema(
        operation_id="maps_destroy",
        responses={204: None, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        description="The owner: delete the map. Its short link then answers 404.",
        tags=["maps"],
    )
    def delete(self, request, code: str):
        _require_signed_in(request)
        saved_map = selectors.saved_map_get_visible(code=code, user=request.user)
        services.saved_map_delete(saved_map=saved_map, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
