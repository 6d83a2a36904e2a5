"""The tile-job API for GIS staff: start a layer's seed, and watch a job's progress.

    POST /api/v1/layers/{slug}/tiles/seed/   {"min_zoom": 0, "max_zoom": 14}  → 202 with the job
    GET  /api/v1/tile-jobs/{id}/                                                → the job
    POST /api/v1/tile-jobs/{id}/cancel/                 → the cancelled job (409 if it had ended)

A job prebuilds no more than the tile budget: `max_zoom` is the depth it chose, `requested_max_zoom`
the depth asked for, and `report` says why (tiles per zoom, budget, reason).

Errors are JSON: {"code": …, "detail": …, "parameter": …}.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from layers.api.accepted import job_accepted_response
from layers.api.errors import exception_handler
from layers.models import Layer, TileJob
from layers.querysets import can_edit_layers
from layers.selectors import layer_get_visible

from .seed import tile_job_cancel, tile_job_start, tile_seed_create
from .serializers import TileJobOutput, TileSeedInput


class IsGisStaff(BasePermission):
    """GIS staff only: superusers, or staff with the layer permissions."""

    message = "Only GIS staff may manage tile jobs."

    def has_permission(self, request, view) -> bool:
        return can_edit_layers(request.user)


class TileApiView(APIView):
    permission_classes = [IsGisStaff]

    def get_exception_handler(self):
        return exception_handler


class TileSeedView(TileApiView):
    """Start prebuilding a layer's tiles in the background."""

    @extend_schema(
        request=TileSeedInput,
        responses={202: TileJobOutput, 503: TileJobOutput},
        description="Queue a seed of the layer's tiles. 503 with the saved job when the queue "
        "is down: it starts when the queue is back.",
    )
    def post(self, request: Request, slug: str) -> Response:
        try:
            layer = layer_get_visible(slug=slug, user=request.user)
        except Layer.DoesNotExist as error:
            raise exceptions.NotFound(f"No layer named {slug!r}.") from error
        data = TileSeedInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The job and its task commit together; 503 with the job when the queue is down.
        with transaction.atomic():
            job = tile_seed_create(layer=layer, user=request.user, **data.validated_data)
            dispatch = tile_job_start(job=job)
        body = TileJobOutput(job, context={"request": request}).data
        return job_accepted_response(body, dispatch=dispatch)


def _job_or_404(pk: int) -> TileJob:
    job = TileJob.objects.select_related("layer", "created_by").filter(pk=pk).first()
    if job is None:
        raise exceptions.NotFound(f"No tile job {pk}.")
    return job


class JobFinished(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "job-finished"


class TileJobView(TileApiView):
    """Show a tile job: status, progress (tiles done / total) and the depth its plan chose."""

    @extend_schema(responses={200: TileJobOutput})
    def get(self, request: Request, pk: int) -> Response:
        return Response(TileJobOutput(_job_or_404(pk), context={"request": request}).data)


class TileJobCancelView(TileApiView):
    """Cancel a queued or running tile job: its chunks stop; built tiles stay in the cache."""

    @extend_schema(request=None, responses={200: TileJobOutput})
    def post(self, request: Request, pk: int) -> Response:
        job = _job_or_404(pk)
        if not tile_job_cancel(job=job, user=request.user):
            raise JobFinished(f"Tile job {pk} has already ended ({job.status}).")
        return Response(TileJobOutput(job, context={"request": request}).data)
