"""Databases of a test's own on the shared PostgreSQL server, and `manage.py` run against them.

pytest-django owns the test database; a test that restores a backup or builds an old release's
database makes another one (a unique name, dropped afterwards), runs commands on it in another
process as an operator would, and may point the default connection at it to read it back.
"""

from __future__ import annotations

import os
import re
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


def schema_fingerprint(*, leave_out: str | None = None) -> dict[str, list]:
    """Return the schema of the default database as the catalogue has it, part by part (not
    pg_dump's text, which words CHECKs differently once read back); each row names its table (or
    function) first. `leave_out`: a regular expression of tables to leave out."""
    not_extension = (
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
    )
    queries = {
        "relations": f"""
            SELECT c.relname, c.relkind::text, coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
                   coalesce((SELECT string_agg(p.relname, ',' ORDER BY p.relname)
                             FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                             WHERE i.inhrelid = c.oid), '')
            FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace
              AND {not_extension.format(oid="c.oid")}""",
        "columns": f"""
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   a.attgenerated::text, a.attidentity::text,
                   coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attinhcount
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped
              AND {not_extension.format(oid="c.oid")}""",
        # PostgreSQL writes `= ANY (ARRAY[...])` checks back with other casts and parentheses.
        "constraints": """
            SELECT conrelid::regclass::text, conname, contype::text, convalidated,
                   regexp_replace(pg_get_constraintdef(oid),
                                  '::(text|character varying)(\\[\\])?|[()\\s]', '', 'g')
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
        "indexes": """
            SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'""",
        "triggers": """
            SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), tgenabled::text
            FROM pg_trigger WHERE NOT tgisinternal""",
        "functions": f"""
            SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc)
            FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
              AND {not_extension.format(oid="p.oid")}""",
    }
    schema = {}
    with connection.cursor() as cursor:
        for name, query in queries.items():
            cursor.execute(query)
            rows = cursor.fetchall()
            if leave_out:
                rows = [row for row in rows if not re.match(leave_out, row[0])]
            schema[name] = sorted(rows, key=repr)
    return schema
