"""Attachments of features: photos (JPEG, PNG) and documents (PDF), checked by their bytes.

A file's kind is what its bytes are, not what its name or the browser says: Pillow must open and
fully decode an image (a truncated or forged one fails), a PDF must start with `%PDF-` and pypdf
must read its pages. The name's extension must agree with the bytes, so a `.jpg` holding HTML or a
PDF is refused rather than stored under a name that lies. An image gets a thumbnail (JPEG, longest
side ATTACHMENT_THUMBNAIL_PX), written once here.

Adding and removing are recorded changes of the feature (`ChangeEvent`, action attach/detach) but
make no new version of it, and leave the layer's version alone (no tile changes). A removed
attachment is kept, hidden: the feature's history shows it and its editors can still open it, and a
deleted feature keeps its attachments, so restoring the feature brings them back. The files go
when the layer is deleted.
"""

from __future__ import annotations

import io
import logging
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete
from django.dispatch import receiver
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from .errors import InvalidData, NotFound, TooLarge
from .models import ChangeAction, Feature, FeatureAttachment, Layer
from .services import WriteContext, change_event_open

logger = logging.getLogger(__name__)

# What Pillow's decoders raise on hostile or broken bytes besides OSError (its usual one).
IMAGE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    Image.DecompressionBombError,
)
# pypdf's own errors, and what a malformed object table makes it raise on the way.
PDF_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError)
THUMBNAIL_QUALITY = 82
# pypdf warns in the log of each damaged file it reads; the uploader is told why it was refused.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Kind:
    """A kind of file that may be attached: its content type, extensions and how to check it."""

    content_type: str
    label: str
    extensions: tuple[str, ...]
    signature: bytes
    check: Callable[[bytes], bytes | None]  # raises InvalidData, returns the thumbnail if any


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed the checks: its kind, cleaned name, bytes and thumbnail."""

    kind: Kind
    name: str
    data: bytes
    thumbnail: bytes | None


def _refused(message: str) -> InvalidData:
    return InvalidData(message, parameter="file")


def image_thumbnail(data: bytes, *, image_format: str) -> bytes:
    """Check that the bytes are one whole image of this format and return its JPEG thumbnail."""
    label = "JPEG" if image_format == "JPEG" else image_format
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != image_format:
                raise _refused(f"The file is not a {label} image (it reads as {image.format}).")
            width, height = image.size
            if width * height > settings.ATTACHMENT_MAX_PIXELS:
                raise _refused(
                    f"The image is {width} x {height} pixels; at most "
                    f"{settings.ATTACHMENT_MAX_PIXELS / 1e6:,.0f} megapixels are accepted. "
                    "Save it smaller and upload it again."
                )
            image.verify()  # checksums and structure, without decoding
        # verify() leaves the image unusable: open it again and decode every pixel, which is
        # what finds a JPEG cut short.
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            # A phone's photo is stored sideways with an EXIF note saying how to turn it.
            image = ImageOps.exif_transpose(image)
            side = settings.ATTACHMENT_THUMBNAIL_PX
            image.thumbnail((side, side))
            if image.mode != "RGB":
                # JPEG has no transparency: a PNG's transparent parts become white, not black.
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                image = flat
            out = io.BytesIO()
            # Nothing of the original's metadata is copied (a photo's EXIF may hold where it was
            # taken): the thumbnail is pixels only.
            image.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
            return out.getvalue()
    except InvalidData:
        raise
    except IMAGE_ERRORS as error:
        raise _refused(
            f"The file is not a whole {label} image ({error}). It may be damaged or cut short: "
            "open it on your computer, save it again and upload that."
        ) from error


def _check_jpeg(data: bytes) -> bytes:
    return image_thumbnail(data, image_format="JPEG")


def _check_png(data: bytes) -> bytes:
    return image_thumbnail(data, image_format="PNG")


def _check_pdf(data: bytes) -> None:
    unreadable = (
        "The file starts like a PDF but cannot be read as one ({error}). It may be damaged or cut "
        "short: open it, save or print it to PDF again and upload that."
    )
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except PDF_ERRORS as error:
        raise _refused(unreadable.format(error=error)) from error
    if encrypted:
        try:
            # Many PDFs are encrypted with an empty password (only printing or copying limited).
            opened = reader.decrypt("")
        except PDF_ERRORS:
            opened = False
        if not opened:
            raise _refused(
                "The PDF is protected by a password. Save a copy without the password and "
                "upload that."
            )
    try:
        pages = len(reader.pages)
    except PDF_ERRORS as error:
        raise _refused(unreadable.format(error=error)) from error
    if pages < 1:
        raise _refused("The PDF has no pages.")


KINDS = {
    kind.content_type: kind
    for kind in (
        Kind("image/jpeg", "JPEG", (".jpg", ".jpeg", ".jpe"), b"\xff\xd8\xff", _check_jpeg),
        Kind("image/png", "PNG", (".png",), b"\x89PNG\r\n\x1a\n", _check_png),
        Kind("application/pdf", "PDF", (".pdf",), b"%PDF-", _check_pdf),
    )
}


def accepted_kinds() -> list[Kind]:
    """Return the kinds of file that may be attached (ATTACHMENT_TYPES)."""
    unknown = sorted(set(settings.ATTACHMENT_TYPES) - set(KINDS))
    if unknown:
        raise ImproperlyConfigured(
            f"ATTACHMENT_TYPES names {', '.join(unknown)}: only {', '.join(KINDS)} can be checked."
        )
    return [KINDS[content_type] for content_type in settings.ATTACHMENT_TYPES]


def _accepted_names() -> str:
    return ", ".join(f"{kind.label} ({'/'.join(kind.extensions)})" for kind in accepted_kinds())


def clean_name(name: str) -> str:
    """Return an uploaded file's name without folders, control characters or odd spacing."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(" .")
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[: 199 - len(extension)]}.{extension}" if dot else name[:200]
    return name


def _mib(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:,.1f}".removesuffix(".0") + " MiB"


def too_large_message(size_bytes: int | None = None) -> str:
    """Return what to tell someone whose attachment is over ATTACHMENT_MAX_BYTES."""
    size = f"The file is {_mib(size_bytes)}; " if size_bytes else "The file is too large: "
    return (
        f"{size}an attachment may be at most {_mib(settings.ATTACHMENT_MAX_BYTES)}. Send a "
        "smaller photo (most phones can share one at a lower size) or a PDF with fewer or "
        "smaller pages."
    )


def attachment_check(*, name: str, data: bytes) -> CheckedFile:
    """Check an upload (size, kind by its bytes, name, whole content); return it with its
    thumbnail, or raise TooLarge / InvalidData saying what is wrong and what to do."""
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise TooLarge(too_large_message(len(data)), parameter="file")
    name = clean_name(name)
    if not data:
        raise _refused("The file is empty.")
    kind = next((k for k in KINDS.values() if data.startswith(k.signature)), None)
    if kind is None or kind not in accepted_kinds():
        what = f"a {kind.label} file" if kind else "none of the kinds accepted"
        raise _refused(
            f"“{name}” is {what}. Attach {_accepted_names()} files: photos and scanned documents."
        )
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in kind.extensions:
        said = f"is named {extension}" if extension else "has no extension"
        raise _refused(
            f"“{name}” {said} but holds a {kind.label} file. Check that it is the file you "
            f"meant; if it is, name it with {' or '.join(kind.extensions)}."
        )
    thumbnail = kind.check(data)
    return CheckedFile(kind=kind, name=name, data=data, thumbnail=thumbnail)


def read_upload(upload: UploadedFile) -> bytes:
    """Return an uploaded file's bytes, refusing one over ATTACHMENT_MAX_BYTES before reading."""
    if upload.size is not None and upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise TooLarge(too_large_message(upload.size), parameter="file")
    upload.seek(0)
    return upload.read(settings.ATTACHMENT_MAX_BYTES + 1)


def feature_exists(*, layer: Layer, feature_id: int) -> bool:
    """Return whether the layer has this feature now (not deleted)."""
    return Feature.objects.filter(layer=layer, pk=feature_id).exists()


def attachments_of(*, layer: Layer, feature_id: int, removed: bool = False) -> QuerySet:
    """Return a feature's attachments, oldest first (with the removed ones if `removed`)."""
    attachments = FeatureAttachment.objects.filter(layer=layer, feature_id=feature_id)
    if not removed:
        attachments = attachments.filter(removed_at__isnull=True)
    return attachments.select_related("layer", "uploaded_by", "removed_by").order_by(
        "uploaded_at", "id"
    )


def attachment_get(
    *, layer: Layer, feature_id: int, attachment_id: int, removed: bool = False
) -> FeatureAttachment:
    """Return one attachment of a feature, or raise NotFound."""
    attachment = (
        attachments_of(layer=layer, feature_id=feature_id, removed=removed)
        .filter(pk=attachment_id)
        .first()
    )
    if attachment is None:
        raise NotFound(
            f"Feature {feature_id} of layer '{layer.slug}' has no attachment {attachment_id}."
        )
    return attachment


def attachment_add(
    *, layer: Layer, feature_id: int, checked: CheckedFile, by: WriteContext
) -> FeatureAttachment:
    """Attach a checked file to a feature of the layer (a recorded change) and return it."""
    if not feature_exists(layer=layer, feature_id=feature_id):
        raise NotFound(f"No feature {feature_id} in layer '{layer.slug}'.")
    attachment = FeatureAttachment(
        layer=layer,
        feature_id=feature_id,
        name=checked.name,
        content_type=checked.kind.content_type,
        size_bytes=len(checked.data),
        uploaded_by_id=by.user_id,
    )
    # The files first (storage is no part of the transaction), removed again if the row is not
    # written: nothing is left behind either way.
    attachment.file.save(checked.name, ContentFile(checked.data), save=False)
    if checked.thumbnail is not None:
        attachment.thumbnail.save("thumbnail.jpg", ContentFile(checked.thumbnail), save=False)
    try:
        with transaction.atomic():
            event = change_event_open(
                layer=layer,
                action=ChangeAction.ATTACH,
                by=by,
                feature_id=feature_id,
                note=checked.name,
            )
            attachment.added_event = event
            attachment.uploaded_at = event.at
            attachment.save(force_insert=True)
    except BaseException:
        _files_delete([attachment.file.name, attachment.thumbnail.name])
        raise
    return attachment


@transaction.atomic
def attachment_remove(*, attachment: FeatureAttachment, by: WriteContext) -> FeatureAttachment:
    """Hide an attachment from its feature (a recorded change); it stays in the history."""
    locked = FeatureAttachment.objects.select_for_update().get(pk=attachment.pk)
    if locked.removed_at is not None:
        return locked
    event = change_event_open(
        layer=locked.layer,
        action=ChangeAction.DETACH,
        by=by,
        feature_id=locked.feature_id,
        note=locked.name,
    )
    locked.removed_at = event.at
    locked.removed_by_id = by.user_id
    locked.removed_event = event
    locked.save(update_fields=["removed_at", "removed_by", "removed_event"])
    return locked


def _files_delete(names: list[str | None]) -> None:
    storage = FeatureAttachment._meta.get_field("file").storage
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except OSError:
            # A file already gone, or a storage that is down: the row is what matters.
            logger.warning("attachment file %s could not be deleted", name, exc_info=True)


@receiver(post_delete, sender=FeatureAttachment, dispatch_uid="attachment_files_delete")
def _attachment_files_delete(sender, instance: FeatureAttachment, **kwargs) -> None:
    """Delete an attachment's files once the deletion of its row (or its layer) is committed."""
    names = [instance.file.name, instance.thumbnail.name if instance.thumbnail else None]
    transaction.on_commit(lambda: _files_delete(names), robust=True)
