"""Paging by `limit` and `offset`, with `next`/`prev` links that keep the other parameters."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.http import urlencode

from layers.features.query import parse_int


@dataclass(frozen=True)
class PageRequest:
    """Which slice of the results a request asks for."""

    limit: int
    offset: int


def page_request(
    params: dict[str, str], *, default_limit: int, max_limit: int, max_offset: int = 10**9
) -> PageRequest:
    """Return the `limit` and `offset` of the request (removing them from `params`)."""
    limit = parse_int(
        params.pop("limit", None),
        parameter="limit",
        default=default_limit,
        minimum=1,
        maximum=max_limit,
    )
    offset = parse_int(
        params.pop("offset", None), parameter="offset", default=0, minimum=0, maximum=max_offset
    )
    return PageRequest(limit=limit, offset=offset)


def url_with(request: HttpRequest, **changes: object) -> str:
    """Return the request's absolute URL with some query parameters replaced."""
    query = {name: values[-1] for name, values in request.GET.lists()}
    query.update({name: str(value) for name, value in changes.items()})
    return request.build_absolute_uri(request.path) + "?" + urlencode(query)


def page_links(
    request: HttpRequest,
    *,
    page: PageRequest,
    returned: int,
    matched: int,
    media_type: str,
    title: str = "",
    cut_short: bool = False,
) -> list[dict]:
    """Return the `self`, `next` and `prev` links of a page of results.

    `cut_short`: the page stopped before `limit` for a reason of the server's (the vertex
    budget), not because the results ran out.
    """
    links = [
        {
            "rel": "self",
            "type": media_type,
            "title": title or "This page",
            "href": url_with(request, limit=page.limit, offset=page.offset),
        }
    ]
    # A short page is the last one, whatever the count says: a client never loops on an empty page
    # (a page cut short holds at least one feature, so following it always moves on).
    if (
        returned == page.limit or (cut_short and returned > 0)
    ) and page.offset + returned < matched:
        links.append(
            {
                "rel": "next",
                "type": media_type,
                "title": "Next page",
                "href": url_with(request, limit=page.limit, offset=page.offset + returned),
            }
        )
    if page.offset > 0:
        links.append(
            {
                "rel": "prev",
                "type": media_type,
                "title": "Previous page",
                "href": url_with(
                    request, limit=page.limit, offset=max(0, page.offset - page.limit)
                ),
            }
        )
    return links
