"""Databases of a test's own on the shared PostgreSQL server, and `manage.py` run against them.

pytest-django owns the test database; a test that restores a backup or builds an old release's
database makes another one (a unique name, dropped afterwards), runs commands on it in another
process as an operator would, and may point the default connection at it to read it back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.db import connection, connections
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def unique_name(prefix: str) -> str:
    """Return a database name that no other run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def admin_connection() -> psycopg.Connection:
    """Connect to the server's `postgres` database as the test role, in autocommit."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    )


def database_create(name: str) -> None:
    with admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(name: str) -> None:
    with admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_url(name: str, *, scheme: str = "postgis") -> str:
    """Return the URL of a database on the test server, as the test role."""
    db = connection.settings_dict
    return (
        f"{scheme}://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{name}"
    )


@contextmanager
def reading(name: str):
    """Point the default connection at another database for a while."""
    default = connections["default"]
    original = default.settings_dict["NAME"]
    default.close()
    default.settings_dict["NAME"] = name
    try:
        yield
    finally:
        default.close()
        default.settings_dict["NAME"] = original


def manage(
    *arguments: str, env: dict[str, str], root: Path = ROOT, timeout_s: float = 600
) -> subprocess.CompletedProcess:
    """Run `manage.py` of the code at `root` with this venv's Python and these variables."""
    # PYTHONPATH could put this tree's code before an old release's.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=root,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
