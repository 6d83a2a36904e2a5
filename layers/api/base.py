"""What every view of our REST API shares: JSON answers, our error shape, query parameter access."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.mediatypes import media_type_matches
from rest_framework.views import APIView

from layers.errors import InvalidParameter

from .errors import exception_handler
from .parsers import BoundedJSONParser


class FirstRenderer(BaseContentNegotiation):
    """Answer in the view's first format whatever `Accept` says (GIS clients send odd ones)."""

    def select_parser(self, request, parsers):
        """Return the parser of the body's media type, else the first (JSON: GeoJSON arrives
        as application/geo+json, or with no type at all)."""
        for parser in parsers:
            if media_type_matches(parser.media_type, request.content_type):
                return parser
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class UTF8JSONRenderer(JSONRenderer):
    """JSON with Vietnamese text as is, not as \\u escapes."""

    ensure_ascii = False
    charset = "utf-8"


class ApiView(APIView):
    """An APIView answering JSON, with errors as `{"code", "detail", "parameter"}`."""

    renderer_classes = [UTF8JSONRenderer]
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]
    content_negotiation_class = FirstRenderer

    def get_exception_handler(self):
        return exception_handler


def query_params(request: HttpRequest, *, ignore: tuple[str, ...] = ("format",)) -> dict[str, str]:
    """Return each query parameter's value; a parameter given twice is an error."""
    params = {}
    for name, values in request.GET.lists():
        if name in ignore:
            continue
        if len(values) > 1:
            raise InvalidParameter(f"{name} is given more than once.", parameter=name)
        if "\x00" in values[0] or "\x00" in name:
            # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
            raise InvalidParameter(f"{name} holds a NUL character.", parameter=name)
        params[name] = values[0]
    return params
