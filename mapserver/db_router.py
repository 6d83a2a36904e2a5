"""Which database a query goes to: the read replica for the read endpoints, else the primary.

With `DATABASE_REPLICA_URL` set (docs/operations.md, "Read replica"), the middleware below marks a
request as a replica read when all of these hold, and only then:
- it is a GET, HEAD or OPTIONS on a read route (`READ_ROUTES`: tiles and TileJSON, feature pages
  and features, search, identify, OGC items);
- the requester is not staff, sends no `Authorization` header (a script with a token rarely keeps
  cookies, so the pin below could not follow it) and wrote nothing in the last
  `DATABASE_REPLICA_PIN_S` seconds (the signed cookie every POST, PUT, PATCH or DELETE answer
  sets): a client always reads its own writes.
Everything else (writes, the admin, job polling, sign-in, celery workers, commands) uses the
primary. ORM reads follow `ReplicaRouter`; raw SQL of the read paths uses `read_connection`,
which is `django.db.connection` except during a replica read.

Replica lag never puts old data in the tile cache: a tile's SQL returns the layer version it
was rendered from in the same statement (one snapshot), and `layers.tiles.store` compares it
with the primary's version, under the primary's lock, before storing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

from django.conf import settings
from django.core.signing import BadSignature
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
READ_ROUTES = re.compile(
    r"^/(?:tiles/"
    r"|api/v1/(?:search|identify)/"
    r"|api/v1/layers/[^/]+/features/"
    r"|ogc/collections/[^/]+/items)"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PIN_COOKIE = "mapserver_primary"
PIN_SALT = "mapserver.db_router.pin"

_replica_reads: ContextVar[bool] = ContextVar("mapserver_replica_reads", default=False)


def read_alias() -> str:
    """Return the alias reads go to now: `replica` during a replica read, else `default`."""
    return REPLICA if _replica_reads.get() else DEFAULT_DB_ALIAS


class _ReadConnection:
    """`django.db.connection`, except that during a replica read it is the replica's."""

    def __getattr__(self, name: str):
        return getattr(connections[read_alias()], name)


read_connection = _ReadConnection()


class ReplicaRouter:
    """Send ORM reads to `read_alias()`, writes and migrations to the primary."""

    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the replica is a copy of the primary: same rows, same ids

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


def _pinned_to_primary(request: HttpRequest) -> bool:
    """Return whether the requester wrote something in the last DATABASE_REPLICA_PIN_S."""
    try:
        request.get_signed_cookie(
            PIN_COOKIE, salt=PIN_SALT, max_age=settings.DATABASE_REPLICA_PIN_S
        )
    except (KeyError, BadSignature):  # no cookie, a forged one or one past its time
        return False
    return True


def may_read_replica(request: HttpRequest) -> bool:
    """Return whether this request may read from the replica (see the module's docstring)."""
    if request.method not in SAFE_METHODS or not READ_ROUTES.match(request.path_info):
        return False
    if "Authorization" in request.headers or _pinned_to_primary(request):
        return False
    user = getattr(request, "user", None)  # resolved from the primary: nothing is routed yet
    return not (user is not None and user.is_authenticated and user.is_staff)


def _chunks_from_replica(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield a streaming answer's chunks, each made while replica reads are on.

    The server pulls them after the middleware has returned, outside its context.
    """
    iterator = iter(chunks)
    while True:
        token = _replica_reads.set(True)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _replica_reads.reset(token)
        yield chunk


class ReplicaReadsMiddleware:
    """Answer read endpoints from the replica when allowed; pin writers to the primary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        on_replica = may_read_replica(request)
        token = _replica_reads.set(on_replica)
        try:
            response = self.get_response(request)
        finally:
            _replica_reads.reset(token)
        if on_replica and response.streaming:
            response.streaming_content = _chunks_from_replica(response.streaming_content)
        if request.method not in SAFE_METHODS:
            response.set_signed_cookie(
                PIN_COOKIE,
                "1",
                salt=PIN_SALT,
                max_age=settings.DATABASE_REPLICA_PIN_S,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
