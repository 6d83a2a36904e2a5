"""Health checks of what the server depends on: the database, the Celery broker, the tile cache.

Each check raises when its dependency fails and returns details for staff otherwise (how many
tasks wait in the outbox, queue lengths, free space). Anyone may learn whether the server is
well and which checks fail; only staff see errors and details, which name hosts and paths.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from kombu import Connection

from . import queueing
from .tiles.cache import tile_cache
from .tiles.writeguard import writes_paused

BROKER_TIMEOUT_S = 2


class Unhealthy(Exception):
    """A dependency answers but is not fit for work (a full disk, say); carries its details."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


def check_database() -> dict:
    """Run a trivial query and count the outbox; raise if PostgreSQL does not answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        cursor.fetchone()
    return {"outbox": queueing.outbox_size()}


def check_broker() -> dict:
    """Connect to the Celery broker and read its queue lengths; raise if it does not answer."""
    from mapserver.celery import QUEUES, queue_name

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_S) as broker:
        broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_S)
        client = getattr(broker.default_channel, "client", None)
        if client is None or not hasattr(client, "llen"):  # not Redis: no lengths to show
            return {}
        return {"queues": {kind: client.llen(queue_name(kind)) for kind in QUEUES}}


def check_tile_cache() -> dict:
    """Check that the tile cache is writable and has room; raise if not."""
    os.makedirs(settings.TILE_CACHE_DIR, exist_ok=True)
    # An empty file can still be made on a full disk: the free space is what tells.
    with tempfile.NamedTemporaryFile(dir=settings.TILE_CACHE_DIR, prefix=".health-"):
        pass
    details: dict = {}
    space = tile_cache().space()
    if space is not None:
        details = {"free_bytes": space.free_bytes, "free_percent": round(space.free_percent, 2)}
        if (
            space.free_bytes < settings.TILE_CACHE_MIN_FREE_BYTES
            or space.free_percent < settings.TILE_CACHE_MIN_FREE_PERCENT
        ):
            raise Unhealthy(
                f"only {space.free_bytes:,} bytes ({space.free_percent:.1f} %) free; at least "
                f"{settings.TILE_CACHE_MIN_FREE_BYTES:,} bytes and "
                f"{settings.TILE_CACHE_MIN_FREE_PERCENT} % wanted",
                details,
            )
    if writes_paused():
        raise Unhealthy("writes are paused: a tile could not be written for lack of space", details)
    return details


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "broker": check_broker,
    "tile_cache": check_tile_cache,
}


def health_report(*, detailed: bool = False) -> dict:
    """Return the overall status and the failing checks; with `detailed`, each check's result."""
    checks: dict[str, dict] = {}
    for name, check in CHECKS.items():
        try:
            details = check()
        except Exception as error:  # any failure of a dependency is reported, never raised
            checks[name] = {
                "ok": False,
                "error": f"{type(error).__name__}: {error}".strip(),
                **getattr(error, "details", {}),
            }
            if name == "database":
                connection.close()  # a broken connection must not be reused by the next request
        else:
            checks[name] = {"ok": True, **details}
    failing = [name for name, result in checks.items() if not result["ok"]]
    report = {"status": "unavailable" if failing else "ok", "failing": failing}
    if detailed:
        report["checks"] = checks
    return report
