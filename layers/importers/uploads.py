"""The upload size limit, for the admin's form and the API alike: checked before and while reading.

A request's `Content-Length` is checked before its body is read, so a declared 10 GB upload is
refused at once. The declared length can lie, and Django reads at most what it declares, so the
bytes of the file are also counted as they arrive (`UploadLimitHandler`): past the limit, reading
stops and the request is refused with the same message.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

# Room for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 1 << 20


def too_large_message(size_bytes: int | None = None) -> str:
    """Return what to tell an uploader whose file is over the limit."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    size = f"The upload is {size_bytes / 2**20:,.1f} MiB; " if size_bytes else "The upload is "
    more = "" if size_bytes else "larger than the limit: "
    return (
        f"{size}{more}at most {limit / 2**20:,.0f} MiB are accepted. Zip the file (Shapefiles, "
        "GeoJSON and CSV shrink a lot), or split the data into several imports."
    )


def declared_too_large(meta: dict) -> str | None:
    """Return the refusal for a request whose declared Content-Length is over the limit."""
    length = str(meta.get("CONTENT_LENGTH") or "0").strip()
    if not length.isdigit():
        return None  # Django reads nothing of a body without a usable length
    declared = int(length)
    if declared > settings.IMPORT_MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
        return too_large_message(declared)
    return None


class UploadLimitHandler(FileUploadHandler):
    """Count the bytes of uploaded files; stop reading past IMPORT_MAX_UPLOAD_BYTES."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.received_bytes = 0
        self.refusal: str | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.refusal = declared_too_large(META)
        if self.refusal:
            return QueryDict(), MultiValueDict()  # parsed as empty: the body is never read
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received_bytes += len(raw_data)
        if self.received_bytes > settings.IMPORT_MAX_UPLOAD_BYTES:
            self.refusal = too_large_message()
            raise StopUpload(connection_reset=True)
        return raw_data  # the next handlers store it

    def file_complete(self, file_size: int) -> None:
        return None


def limit_uploads(request) -> UploadLimitHandler:
    """Put the counting handler in front of a request's upload handlers; return it."""
    handler = UploadLimitHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler
