"""The query options of a SensorThings request: read, checked, and applied to a queryset.

`$filter` (filters.py), `$orderby`, `$top`, `$skip`, `$count`, `$select` and `$expand` (one level,
with its own options in parentheses: `Datastreams($top=2;$select=name)`). An option this server
does not offer (`$resultFormat`, `$search`), or one written wrongly, is a 400 that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from layers.errors import InvalidParameter

from .entities import Entity
from .filters import filter_q

DEFAULT_TOP = 100
# More is cut to this many, with an @iot.nextLink to the rest (as the standard allows).
MAX_TOP = 1000
OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$count", "$select", "$expand")


@dataclass
class QueryOptions:
    """The options of one request (or of one `$expand`ed navigation property)."""

    filter: str | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    select: list[str] | None = None
    expand: dict[str, QueryOptions] = field(default_factory=dict)


def options_from_params(params, entity: Entity) -> QueryOptions:
    """Return the query options of a request's parameters (those starting with `$`)."""
    raw = {}
    for key in params:
        if not key.startswith("$"):
            continue  # not ours (a cache-buster, `f=`): SensorThings options all start with $
        if key not in OPTIONS:
            raise InvalidParameter(
                f"{key} is not supported by this server; it offers {', '.join(OPTIONS)}.",
                parameter=key,
            )
        raw[key] = params.get(key)
    return _options(raw, entity)


def _options(raw: dict[str, str], entity: Entity) -> QueryOptions:
    options = QueryOptions()
    if (text := raw.get("$filter")) is not None:
        filter_q(text, entity)  # checked now: a bad filter is a 400 before any query runs
        options.filter = text
    if (text := raw.get("$orderby")) is not None:
        options.orderby = [_order_item(item, entity) for item in _split(text, ",", "$orderby")]
    if (text := raw.get("$top")) is not None:
        options.top = min(_count_number(text, "$top"), MAX_TOP)
    if (text := raw.get("$skip")) is not None:
        options.skip = _count_number(text, "$skip")
    if (text := raw.get("$count")) is not None:
        if text not in ("true", "false"):
            raise InvalidParameter("$count is true or false.", parameter="$count")
        options.count = text == "true"
    if (text := raw.get("$select")) is not None:
        options.select = _select(text, entity)
    if (text := raw.get("$expand")) is not None:
        options.expand = _expand(text, entity)
    return options


def _count_number(text: str, name: str) -> int:
    if not text.isdigit():
        raise InvalidParameter(
            f"{name} is a whole number of 0 or more, not {text!r}.", parameter=name
        )
    return int(text)


def _order_item(item: str, entity: Entity) -> tuple[str, bool]:
    words = item.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
        raise InvalidParameter(
            f"$orderby: {item!r} is not `property`, `property asc` or `property desc`.",
            parameter="$orderby",
        )
    entity.order_fields(words[0])  # raises when the property cannot be ordered by
    return words[0], len(words) == 2 and words[1] == "desc"


def _select(text: str, entity: Entity) -> list[str]:
    names = [name.strip() for name in _split(text, ",", "$select")]
    offered = entity.selectable()
    if unknown := [name for name in names if name not in offered]:
        raise InvalidParameter(
            f"$select: {entity.name} has no {', '.join(unknown)}; it has "
            f"{', '.join(sorted(offered))}.",
            parameter="$select",
        )
    return names


def _expand(text: str, entity: Entity) -> dict[str, QueryOptions]:
    expanded = {}
    for item in _split(text, ",", "$expand"):
        name, _, inner = item.partition("(")
        name = name.strip()
        if "/" in name:
            raise InvalidParameter(
                f"$expand: {name}: only one level is expanded (write {name.split('/')[0]}).",
                parameter="$expand",
            )
        nav = entity.navigation.get(name)
        if nav is None:
            raise InvalidParameter(
                f"$expand: {entity.name} has no {name!r} to expand; it has "
                f"{', '.join(entity.navigation)}.",
                parameter="$expand",
            )
        target = entity.registry[nav.target]
        raw = {}
        if inner:
            if not inner.endswith(")"):
                raise InvalidParameter(f"$expand: {item!r} lacks its ')'.", parameter="$expand")
            for option in _split(inner[:-1], ";", "$expand"):
                key, equals, value = option.partition("=")
                if not equals or key.strip() not in OPTIONS or key.strip() == "$expand":
                    raise InvalidParameter(
                        f"$expand: {option!r} is not an option an expanded {name} may take "
                        "($filter, $orderby, $top, $skip, $count, $select).",
                        parameter="$expand",
                    )
                raw[key.strip()] = value
        expanded[name] = _options(raw, target)
    return expanded


def _split(text: str, separator: str, name: str) -> list[str]:
    """Split on a separator outside parentheses and quotes; refuse empty items."""
    items, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    if depth != 0 or quoted or not all(items):
        raise InvalidParameter(f"{name}: cannot read {text!r}.", parameter=name)
    return items


def apply_filter_and_order(queryset: QuerySet, options: QueryOptions, entity: Entity) -> QuerySet:
    """Return the queryset filtered and ordered as the options say (always a total order)."""
    if options.filter is not None:
        queryset = queryset.filter(filter_q(options.filter, entity))
    ordering = []
    for name, descending in options.orderby:
        ordering += [f"-{f}" if descending else f for f in entity.order_fields(name)]
    # The entity's own order last, so pages never repeat or skip a row among equals.
    ordering += [f for f in entity.default_order if f not in ordering]
    return queryset.order_by(*ordering)
