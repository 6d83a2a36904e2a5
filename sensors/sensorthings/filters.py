"""`$filter` of the SensorThings API: parsed by odata-query's OData grammar, mapped to a Django Q.

The parsing is the library's (a real LALR grammar of OData 4 expressions: string quoting, ISO
date-time literals with offsets, precedence of `not`/`and`/`or`). The mapping is ours and small on
purpose: a property name is looked up in the entity's table of filterable properties (and through
its to-one navigation properties, e.g. `Datastream/Thing/name` from Observations), each literal is
checked against the property's kind, and the result is a Q of ORM lookups, so every value reaches
SQL as a bound parameter. Anything else (arithmetic, lambdas, comparing two properties, functions
other than the few below) is refused with a 400 that says what is supported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db.models import Q
from odata_query import ast
from odata_query import exceptions as odata_errors
from odata_query.grammar import ODataLexer, ODataParser

from layers.errors import InvalidParameter

if TYPE_CHECKING:
    from .entities import Entity, Property

# OData comparison → Django lookup.
LOOKUPS = {ast.Eq: "exact", ast.Gt: "gt", ast.GtE: "gte", ast.Lt: "lt", ast.LtE: "lte"}
# `5 lt result` is `result gt 5`.
FLIPPED = {
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
    ast.Gt: ast.Lt,
    ast.GtE: ast.LtE,
    ast.Lt: ast.Gt,
    ast.LtE: ast.GtE,
}
# Text functions offered: OData 4 names and SensorThings' older `substringof(needle, haystack)`.
TEXT_FUNCTIONS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}
FLAGS = {"good": 0, "suspect": 1, "bad": 2}
SUPPORTED = (
    "comparisons (eq ne gt ge lt le, in), and/or/not, parentheses, "
    "contains/startswith/endswith/substringof on text"
)


def filter_q(expression: str, entity: Entity) -> Q:
    """Return the Q object of a `$filter` expression on an entity set (400 when not supported)."""
    try:
        tree = ODataParser().parse(_sta_tokens(ODataLexer().tokenize(expression)))
    except odata_errors.UnknownFunctionException as error:
        name = error.function_name
        raise _invalid(f"the function {name}() is not supported; supported: {SUPPORTED}") from None
    except odata_errors.ODataException as error:
        raise _invalid(_syntax_message(expression, error)) from None
    if tree is None:
        raise _invalid("the expression is empty")
    return _FilterBuilder(entity).build(tree)


def _sta_tokens(tokens: Iterator) -> Iterator:
    """Pass the tokens on, SensorThings' `substringof` put in a namespace of its own.

    odata-query knows OData 4's functions only and refuses other names while parsing; a
    namespaced name passes, and `_call` reads `sta.substringof(needle, haystack)` as
    `contains(haystack, needle)`.
    """
    for token in tokens:
        value = token.value
        if (
            isinstance(value, ast.Identifier)
            and not value.namespace
            and value.name == "substringof"
        ):
            token.value = ast.Identifier(value.name, ("sta",))
        yield token


def _invalid(message: str) -> InvalidParameter:
    return InvalidParameter(f"$filter: {message}.", parameter="$filter")


def _syntax_message(expression: str, error: odata_errors.ODataException) -> str:
    token = getattr(error, "token", None)
    if getattr(error, "eof", False) or token is None:
        return "the expression ends too early (a comparison or a closing parenthesis is missing)"
    position = getattr(token, "index", None)
    near = expression[position : position + 20] if position is not None else str(token.value)
    return (
        f"cannot read it at character {position} (near {near!r}); a condition is "
        "`property operator value`, e.g. result gt 2.5 and phenomenonTime ge 2026-10-30T00:00:00Z"
    )


class _FilterBuilder:
    """Turn an OData expression tree into a Q, one node kind at a time."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity

    def build(self, node: ast._Node) -> Q:
        if isinstance(node, ast.BoolOp):
            left, right = self.build(node.left), self.build(node.right)
            return left & right if isinstance(node.op, ast.And) else left | right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.build(node.operand)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Identifier | ast.Attribute):
            raise _invalid(
                f"{_name(node)} alone is not a condition: compare it, e.g. {_name(node)} eq …"
            )
        raise _invalid(f"this kind of expression is not supported; supported: {SUPPORTED}")

    def _compare(self, node: ast.Compare) -> Q:
        comparator, left, right = type(node.comparator), node.left, node.right
        if _is_literal(left) and not _is_literal(right):
            if comparator is ast.In:
                raise _invalid("write `property in (…)`, the property first")
            comparator, left, right = FLIPPED[comparator], right, left
        if not isinstance(left, ast.Identifier | ast.Attribute):
            raise _invalid(
                "a comparison must have a property on one side and a value on the other "
                "(arithmetic and comparing two properties are not supported)"
            )
        prop, path = self._property(left)
        if comparator is ast.In:
            if not isinstance(right, ast.List):
                raise _invalid(f"{_name(left)} in … needs a list of values: in (1, 2)")
            values = [_value(item, prop, _name(left)) for item in right.val]
            return Q(**{f"{path}__in": values})
        if not _is_literal(right):
            raise _invalid(
                f"{_name(left)} must be compared with a value (comparing two properties or "
                "arithmetic is not supported)"
            )
        value = _value(right, prop, _name(left))
        if value is None:
            if comparator not in (ast.Eq, ast.NotEq):
                raise _invalid(f"{_name(left)} can only be compared with null by eq or ne")
            q = Q(**{f"{path}__isnull": True})
            return q if comparator is ast.Eq else ~q
        if comparator is ast.NotEq:
            return ~Q(**{path: value})
        return Q(**{f"{path}__{LOOKUPS[comparator]}": value})

    def _call(self, node: ast.Call) -> Q:
        name = node.func.full_name()
        args = list(node.args)
        if name == "sta.substringof":
            name, args = "contains", list(reversed(args))
        if name not in TEXT_FUNCTIONS:
            raise _invalid(f"the function {name}() is not supported here; supported: {SUPPORTED}")
        if len(args) != 2 or not isinstance(args[0], ast.Identifier | ast.Attribute):
            raise _invalid(f"{name}() takes a text property and a text value")
        prop, path = self._property(args[0])
        if prop.kind != "text" or not isinstance(args[1], ast.String):
            raise _invalid(f"{name}() takes a text property and a quoted text value")
        return Q(**{f"{path}__{TEXT_FUNCTIONS[name]}": args[1].py_val})

    def _property(self, node: ast._Node) -> tuple[Property, str]:
        """Return the property a path names and its ORM lookup path from this entity."""
        names = _path(node)
        entity, prefix = self.entity, ""
        # Navigation properties first (`Datastream/Thing/name`), then the entity's own property,
        # which may itself be a path into a JSON member (`properties/code`).
        while len(names) > 1 and names[0] in entity.navigation:
            nav = entity.navigation[names[0]]
            if nav.many or nav.filter_path is None:
                raise _invalid(
                    f"{_name(node)}: {entity.name} has more than one {names[0]}; filtering "
                    "through a list (any/all) is not supported"
                )
            entity, prefix = entity.registry[nav.target], f"{prefix}{nav.filter_path}__"
            names = names[1:]
        prop = entity.filterable.get("/".join(names))
        if prop is None:
            offered = ", ".join(sorted(entity.filterable))
            raise _invalid(
                f"{entity.name} cannot be filtered on {'/'.join(names)}; its filterable "
                f"properties: {offered}"
            )
        return prop, prefix + prop.path


def _path(node: ast._Node) -> list[str]:
    if isinstance(node, ast.Identifier):
        return [*node.namespace, node.name]
    if isinstance(node, ast.Attribute):
        return [*_path(node.owner), node.attr]
    raise _invalid("expected a property name")


def _name(node: ast._Node) -> str:
    return "/".join(_path(node))


def _is_literal(node: ast._Node) -> bool:
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.USub) and _is_literal(node.operand)
    return isinstance(node, ast._Literal) and not isinstance(node, ast.List)


def _value(node: ast._Node, prop: Property, name: str):
    """Return the Python value of a literal, checked against the property's kind."""
    if isinstance(node, ast.UnaryOp):  # -5 read as minus 5
        inner = _value(node.operand, prop, name)
        if isinstance(inner, int | float):
            return -inner
        raise _invalid(f"{name}: a minus sign before a value that is not a number")
    if isinstance(node, ast.Null):
        return None
    kind = prop.kind
    if kind in ("number", "id") and isinstance(node, ast.Integer | ast.Float):
        value = node.py_val
        if kind == "id" and not isinstance(value, int):
            raise _invalid(f"{name} is compared with a whole number")
        return value
    if kind == "text" and isinstance(node, ast.String):
        return node.py_val
    if kind == "flag" and isinstance(node, ast.String) and node.py_val in FLAGS:
        return FLAGS[node.py_val]
    if kind == "datetime" and isinstance(node, ast.DateTime | ast.Date):
        value = node.py_val
        if isinstance(node, ast.Date):
            value = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
        if value.tzinfo is None:
            raise _invalid(f"{name}: give the time with its offset, e.g. 2026-10-30T07:00:00Z")
        return value
    expected = {
        "number": "a number, e.g. 2.5",
        "id": "a whole number",
        "text": "a quoted text, e.g. 'Kim Long'",
        "flag": "'good', 'suspect' or 'bad'",
        "datetime": "an ISO 8601 time with its offset, e.g. 2026-10-30T07:00:00+07:00",
    }[kind]
    raise _invalid(f"{name} is compared with {expected}")
