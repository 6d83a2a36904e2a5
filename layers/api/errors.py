"""Error answers of the REST API: JSON with a code, a clear message and the offending parameter.

    {"code": "invalid-parameter", "detail": "bbox must be four numbers…", "parameter": "bbox"}

Typed errors from `layers.errors` keep their status; DRF's own (validation, authentication,
permission, parsing) are reshaped to the same form; anything else is a 500 the logs explain.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as ModelValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from layers.errors import LayerError


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer (for the OpenAPI schema)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    parameter = serializers.CharField(required=False)


def error_body(*, code: str, detail: str, parameter: str | None = None, **extra) -> dict:
    """Return the JSON body of an error answer."""
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


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Return the JSON answer for an exception raised in one of our views."""
    if isinstance(exc, LayerError):
        set_rollback()
        return Response(
            error_body(code=exc.code, detail=exc.message, parameter=exc.parameter, **exc.extra),
            status=exc.http_status,
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
        set_rollback()
        return Response(
            error_body(code="invalid", detail=message, parameter=parameter, errors=exc.detail),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        set_rollback()
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        return Response(
            error_body(code=code.replace("_", "-"), detail=str(exc.detail)),
            status=exc.status_code,
            headers=headers,
        )
    return None
