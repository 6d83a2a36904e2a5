"""Health checks of what the server depends on: the database, the Celery broker, the tile cache."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from kombu import Connection

BROKER_TIMEOUT_S = 2


def check_database() -> None:
    """Run a trivial query; raise if PostgreSQL does not answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        cursor.fetchone()


def check_broker() -> None:
    """Open a connection to the Celery broker; raise if it does not answer."""
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_S) as broker:
        broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_S)


def check_tile_cache() -> None:
    """Write and remove a file in the tile cache folder; raise if it is not writable."""
    os.makedirs(settings.TILE_CACHE_DIR, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=settings.TILE_CACHE_DIR, prefix=".health-"):
        pass


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "tile_cache": check_tile_cache,
}


def health_report() -> dict:
    """Return the overall status, each check's result (with its error) and the failing names."""
    checks: dict[str, dict] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # any failure of a dependency is reported, never raised
            checks[name] = {"ok": False, "error": f"{type(error).__name__}: {error}".strip()}
            if name == "database":
                connection.close()  # a broken connection must not be reused by the next request
        else:
            checks[name] = {"ok": True}
    failing = [name for name, result in checks.items() if not result["ok"]]
    return {"status": "unavailable" if failing else "ok", "checks": checks, "failing": failing}
