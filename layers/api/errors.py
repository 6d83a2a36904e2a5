"""The one error vocabulary: any exception of a request turned into its status and its body.

Every domain error (`layers.errors.LayerError`) carries its HTTP status, its REST `code` and its
OGC exception code (`ogc_code`); DRF's own errors (validation, authentication, permission,
parsing) and Django's (Http404, a model's ValidationError) are read into the same terms by
`error_answer`. Each surface then only shapes the body:

- the REST API and the tiles (`exception_handler`, `error_response`):
  `{"code": "invalid-parameter", "detail": "bbox must be four numbers…", "parameter": "bbox"}`
- the OGC API (`ogc_exception_handler`): OGC API - Features' `{"code", "description"}` plus
  the problem details members of OGC API - Common (RFC 7807: `title`, `status`, `detail`)
  and the offending `parameter`.

Anything else is a 500 the logs explain. docs/api.md "Errors" tells clients the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as ModelValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from layers.errors import LayerError

# OGC exception codes of errors that are not ours (ours name theirs: `LayerError.ogc_code`).
OGC_CODES = {
    400: "InvalidParameterValue",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "TooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
}


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer of the REST API (for the OpenAPI schema)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    parameter = serializers.CharField(required=False)


@dataclass(frozen=True)
class ErrorAnswer:
    """What an error says, before a surface shapes it."""

    status: int
    code: str
    ogc_code: str
    detail: str
    parameter: str | None = None
    extra: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


def error_body(*, code: str, detail: str, parameter: str | None = None, **extra) -> dict:
    """Return the JSON body of a REST error answer."""
    body = {"code": code, "detail": detail}
    if parameter:
        body["parameter"] = parameter
    body.update(extra)
    return body


def _first_error(detail, path: str = "") -> tuple[str, str]:
    """Return (parameter, message) of the first error in a DRF validation detail."""
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        name = "" if key in {"non_field_errors", "__all__"} else key
        return _first_error(value, f"{path}.{name}" if path and name else (name or path))
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], path)
    return path, str(detail)


def _ogc_code(status: int) -> str:
    return OGC_CODES.get(status, "ServerError" if status >= 500 else "Error")


def error_answer(exc: Exception) -> ErrorAnswer | None:
    """Return what an exception says to the requester (None: not ours to say, a 500)."""
    if isinstance(exc, LayerError):
        return ErrorAnswer(
            status=exc.http_status,
            code=exc.code,
            ogc_code=exc.ogc_code,
            detail=exc.message,
            parameter=exc.parameter,
            extra=dict(exc.extra),
            headers=dict(exc.headers),
        )
    if isinstance(exc, ModelValidationError):
        # A model's own checks (clean, constraints) seen by a service.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        parameter, message = _first_error(exc.detail)
        return ErrorAnswer(
            status=400,
            code="invalid",
            ogc_code=_ogc_code(400),
            detail=message,
            parameter=parameter or None,
            extra={"errors": exc.detail},
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        codes = exc.get_codes()
        return ErrorAnswer(
            status=exc.status_code,
            code=(codes if isinstance(codes, str) else "error").replace("_", "-"),
            ogc_code=_ogc_code(exc.status_code),
            detail=str(exc.detail),
            headers=headers,
        )
    return None


def rest_body(answer: ErrorAnswer) -> dict:
    """Return the REST API's (and the tiles') body of an error."""
    return error_body(
        code=answer.code, detail=answer.detail, parameter=answer.parameter, **answer.extra
    )


def ogc_body(answer: ErrorAnswer) -> dict:
    """Return the OGC API's body of an error: OGC's code and description, RFC 7807's members."""
    body = {
        "code": answer.ogc_code,
        "description": answer.detail,
        "title": HTTPStatus(answer.status).phrase,
        "status": answer.status,
        "detail": answer.detail,
    }
    if answer.parameter:
        body["parameter"] = answer.parameter
    body.update({key: value for key, value in answer.extra.items() if key != "errors"})
    return body


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Return the REST API's JSON answer for an exception raised in one of its views."""
    answer = error_answer(exc)
    if answer is None:
        return None
    set_rollback()
    return Response(rest_body(answer), status=answer.status, headers=answer.headers or None)


def ogc_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Return the OGC API's JSON answer for an exception raised in one of its views."""
    answer = error_answer(exc)
    if answer is None:
        return None
    set_rollback()
    return Response(ogc_body(answer), status=answer.status, headers=answer.headers or None)


def error_response(exc: LayerError, *, ogc: bool = False) -> JsonResponse:
    """Return the answer of a plain Django view or middleware (tiles, styles, an outage) for a
    domain error: the REST body (the OGC body when `ogc`), never cached."""
    answer = error_answer(exc)
    body = ogc_body(answer) if ogc else rest_body(answer)
    response = JsonResponse(body, status=answer.status, headers=answer.headers or None)
    response["Cache-Control"] = "no-store"
    return response
