"""REST views of a feature's attachments (photos and PDFs): list, upload, remove, download.

GET    /api/v1/layers/{slug}/features/{id}/attachments/                  {"results": [...]}
POST   /api/v1/layers/{slug}/features/{id}/attachments/                  multipart `file` → 201
GET    /api/v1/layers/{slug}/features/{id}/attachments/{aid}/            one attachment
DELETE /api/v1/layers/{slug}/features/{id}/attachments/{aid}/            → 204 (kept, hidden)
GET    /api/v1/layers/{slug}/features/{id}/attachments/{aid}/download/   the file
GET    /api/v1/layers/{slug}/features/{id}/attachments/{aid}/thumbnail/  an image's thumbnail

Seeing follows the layer (`layer_or_404`: the same 404 for a layer one may not see); adding and
removing follow the edit rule (`require_editor`). A removed attachment, or one of a deleted feature,
is only for the layer's editors (the feature's history shows it). Files are served as export
downloads are, through the storage by Django, with the original name in Content-Disposition.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from layers import attachments
from layers.errors import Gone, InvalidParameter, NotFound, TooLarge
from layers.models import FeatureAttachment, Layer
from layers.querysets import can_edit_features
from layers.tiles.cache import PUBLIC, layer_scope

from .base import ApiView
from .errors import ErrorSerializer
from .features import require_editor, write_context
from .layers import layer_or_404

# Room for the multipart boundaries and headers around the file in a request's length.
FORM_OVERHEAD_BYTES = 64 * 1024
ATTACHMENT_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description="An attachment.")
FILE_RESPONSE = {
    (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="File"),
    304: OpenApiResponse(description="Not modified (If-None-Match)."),
    404: ErrorSerializer,
}


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


def attachment_json(attachment: FeatureAttachment, *, request, show_users: bool) -> dict:
    """Return what the API says of an attachment (who uploaded it only to the layer's editors,
    as the history names users only to them)."""
    kwargs = {
        "slug": attachment.layer.slug,
        "feature_id": attachment.feature_id,
        "attachment_id": attachment.pk,
    }
    thumbnail_url = None
    if attachment.thumbnail:
        thumbnail_url = _absolute(request, reverse("api:attachment-thumbnail", kwargs=kwargs))
    body = {
        "id": attachment.pk,
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size_bytes,
        "url": _absolute(request, reverse("api:attachment-download", kwargs=kwargs)),
        "thumbnail_url": thumbnail_url,
        "uploaded_by": _username(attachment.uploaded_by) if show_users else None,
        "uploaded_at": attachment.uploaded_at.isoformat(),
    }
    if attachment.removed_at is not None:
        body["removed_at"] = attachment.removed_at.isoformat()
        body["removed_by"] = _username(attachment.removed_by) if show_users else None
    return body


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def _feature_or_404(layer: Layer, feature_id: int) -> None:
    if not attachments.feature_exists(layer=layer, feature_id=feature_id):
        raise NotFound(f"No feature {feature_id} in layer '{layer.slug}'.")


def _seen_attachment(request, slug: str, feature_id: int, attachment_id: int):
    """Return the layer, the attachment and whether the requester edits the layer; a removed
    attachment, or one of a deleted feature, is found for editors only."""
    layer = layer_or_404(slug=slug, user=request.user)
    editor = can_edit_features(request.user, layer)
    attachment = attachments.attachment_get(
        layer=layer, feature_id=feature_id, attachment_id=attachment_id, removed=editor
    )
    if not editor:
        _feature_or_404(layer, feature_id)
    return layer, attachment, editor


class AttachmentListApi(ApiView):
    """A feature's attachments; its editors add one."""

    parser_classes = [MultiPartParser, FormParser]

    class UploadSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="A JPEG or PNG photo, or a PDF document.")

    def initial(self, request, *args, **kwargs):
        # Before DRF authenticates: a session's CSRF check reads the body, and a request that
        # says it is far over the limit is refused before any of it is read. (Django reads no
        # more than the declared length, so a smaller lie cannot bring a larger file.)
        if request.method == "POST":
            length = str(request.META.get("CONTENT_LENGTH") or "0").strip()
            if length.isdigit() and int(length) > settings.ATTACHMENT_MAX_BYTES + (
                FORM_OVERHEAD_BYTES
            ):
                raise TooLarge(attachments.too_large_message(int(length)), parameter="file")
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="features_attachments_list",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), 404: ErrorSerializer},
        description="The feature's photos and documents, oldest first.",
        tags=["attachments"],
    )
    def get(self, request, slug: str, feature_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        _feature_or_404(layer, feature_id)
        show_users = can_edit_features(request.user, layer)
        results = [
            attachment_json(attachment, request=request, show_users=show_users)
            for attachment in attachments.attachments_of(layer=layer, feature_id=feature_id)
        ]
        return Response({"results": results})

    @extend_schema(
        operation_id="features_attachments_create",
        request={"multipart/form-data": UploadSerializer},
        responses={
            201: ATTACHMENT_RESPONSE,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
        },
        description="Editors and staff: attach a JPEG, PNG or PDF file (multipart field `file`, "
        "at most ATTACHMENT_MAX_BYTES). Its bytes must be what its name says.",
        tags=["attachments"],
    )
    def post(self, request, slug: str, feature_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        _feature_or_404(layer, feature_id)
        uploads = request.FILES.getlist("file")
        if len(uploads) != 1:
            raise InvalidParameter(
                "Send one file in the multipart field `file` (a JPEG or PNG photo, or a PDF)"
                + (f"; {len(uploads)} were sent." if uploads else "."),
                parameter="file",
            )
        upload = uploads[0]
        checked = attachments.attachment_check(
            name=upload.name or "", data=attachments.read_upload(upload)
        )
        attachment = attachments.attachment_add(
            layer=layer, feature_id=feature_id, checked=checked, by=write_context(request)
        )
        body = attachment_json(attachment, request=request, show_users=True)
        location = reverse(
            "api:attachment-detail",
            kwargs={"slug": slug, "feature_id": feature_id, "attachment_id": attachment.pk},
        )
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class AttachmentDetailApi(ApiView):
    """One attachment; its feature's editors remove it."""

    @extend_schema(
        operation_id="features_attachments_retrieve",
        responses={200: ATTACHMENT_RESPONSE, 404: ErrorSerializer},
        tags=["attachments"],
    )
    def get(self, request, slug: str, feature_id: int, attachment_id: int):
        _, attachment, editor = _seen_attachment(request, slug, feature_id, attachment_id)
        return Response(attachment_json(attachment, request=request, show_users=editor))

    @extend_schema(
        operation_id="features_attachments_destroy",
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer},
        description="Editors and staff: remove an attachment from the feature. It stays in the "
        "feature's history.",
        tags=["attachments"],
    )
    def delete(self, request, slug: str, feature_id: int, attachment_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        attachment = attachments.attachment_get(
            layer=layer, feature_id=feature_id, attachment_id=attachment_id
        )
        attachments.attachment_remove(attachment=attachment, by=write_context(request))
        return HttpResponse(status=status.HTTP_204_NO_CONTENT)


def file_response(request, *, layer: Layer, attachment: FeatureAttachment, thumbnail: bool):
    """Return an attachment's file (or thumbnail) with its name, type and cache headers.

    The stored file of an id never changes, so its ETag is the id: a popup opened again costs a
    304. Shared caches keep only attachments of public layers that anyone may see; the others are
    checked again on each request (`private`), and a removed one is not kept at all.
    """
    field = attachment.thumbnail if thumbnail else attachment.file
    if not field:
        raise NotFound(f"Attachment {attachment.pk} ({attachment.content_type}) has no thumbnail.")
    etag = f'"attachment-{attachment.pk}{"-thumbnail" if thumbnail else ""}"'
    if attachment.removed_at is not None:
        cache_control = "private, no-store"
    elif layer_scope(layer) == PUBLIC:
        cache_control = f"public, max-age={settings.ATTACHMENT_PUBLIC_MAX_AGE_S}"
    else:
        cache_control = "private, max-age=0, must-revalidate"
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        try:
            handle = field.storage.open(field.name, "rb")
        except FileNotFoundError:
            raise Gone(f"The file of attachment {attachment.pk} is no longer kept.") from None
        is_image = attachment.content_type.startswith("image/")
        name = attachment.name
        if thumbnail:
            stem = name.rsplit(".", 1)[0] if "." in name else name
            name = f"{stem}.thumbnail.jpg"
        response = FileResponse(
            handle,
            # Images open in the browser (the popup shows them); a PDF is saved, not run in
            # a viewer under our origin.
            as_attachment=not is_image,
            filename=name,
            content_type="image/jpeg" if thumbnail else attachment.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        # Nothing in a served file may run as a page of this site, whatever it holds.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response


class AttachmentDownloadApi(ApiView):
    """The file of an attachment, to whoever may see the layer."""

    @extend_schema(
        operation_id="features_attachments_download",
        responses=FILE_RESPONSE,
        tags=["attachments"],
    )
    def get(self, request, slug: str, feature_id: int, attachment_id: int):
        layer, attachment, _ = _seen_attachment(request, slug, feature_id, attachment_id)
        return file_response(request, layer=layer, attachment=attachment, thumbnail=False)


class AttachmentThumbnailApi(ApiView):
    """The thumbnail of an image attachment (a JPEG, longest side ATTACHMENT_THUMBNAIL_PX)."""

    @extend_schema(
        operation_id="features_attachments_thumbnail",
        responses=FILE_RESPONSE,
        tags=["attachments"],
    )
    def get(self, request, slug: str, feature_id: int, attachment_id: int):
        layer, attachment, _ = _seen_attachment(request, slug, feature_id, attachment_id)
        return file_response(request, layer=layer, attachment=attachment, thumbnail=True)
