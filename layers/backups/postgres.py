"""pg_dump and pg_restore of the right major version, and what a restore asks of the database.

pg_dump refuses a server newer than itself, and pg_restore cannot read an archive written by a
newer pg_dump. Debian keeps each major version's tools in /usr/lib/postgresql/<major>/bin
(package postgresql-client-<major>) beside the /usr/bin wrappers, so the tool of the server's own
version is taken from there first; `BACKUP_PG_BIN_DIR` names another folder (and only that).

The tools connect with the Django connection's settings passed as libpq environment variables:
the password is in PGPASSWORD, never on a command line that `ps` shows to every local user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from psycopg import sql

from . import BackupError

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
# Django's OPTIONS that libpq also reads from the environment.
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
VERSION_PATTERN = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
# How much of a failing tool's error output is shown (its last lines say what went wrong).
STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class PgTool:
    """One of PostgreSQL's programs, with the version it says it is."""

    path: Path
    major: int
    version: str


def _tool_version(path: Path) -> tuple[int, str] | None:
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = VERSION_PATTERN.search(done.stdout)
    if done.returncode != 0 or not match:
        return None
    return int(match.group(1)), ".".join(g for g in match.groups() if g)


def _candidates(name: str, prefer_major: int) -> list[Path]:
    if settings.BACKUP_PG_BIN_DIR:
        return [Path(settings.BACKUP_PG_BIN_DIR) / name]
    paths = [DEBIAN_PG_ROOT / str(prefer_major) / "bin" / name]
    installed = [p for p in DEBIAN_PG_ROOT.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()]
    paths += sorted(installed, key=lambda p: -int(p.parent.parent.name))
    on_path = shutil.which(name)
    if on_path:
        paths.append(Path(on_path))
    return list(dict.fromkeys(paths))


def find_tool(name: str, *, at_least: int, prefer: int, why: str) -> PgTool:
    """Return `name` of major version `prefer` if installed, else of the newest >= `at_least`."""
    places = _candidates(name, prefer)
    too_old: list[str] = []
    for path in places:
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        found = _tool_version(path)
        if found is None:
            continue
        major, version = found
        if major >= at_least:
            return PgTool(path=path, major=major, version=version)
        too_old.append(f"{path} is version {version}")
    install = (
        f"Install PostgreSQL {at_least}'s client tools (Debian: `apt-get install "
        f"postgresql-client-{at_least}`, from apt.postgresql.org if Debian has no such version), "
        f"or set BACKUP_PG_BIN_DIR to the folder that holds a {name} of version {at_least} or "
        "newer."
    )
    if too_old:
        raise BackupError(
            f"{name} must be version {at_least} or newer {why}, but {'; '.join(too_old)}. "
            + install
        )
    looked = ", ".join(str(p) for p in places) or "PATH"
    raise BackupError(f"{name} was not found (looked for {looked}). " + install)


def libpq_environment() -> dict[str, str]:
    """Return this process's environment with the default database's connection for libpq."""
    db = connection.settings_dict
    # The caller's own PG* variables could name another database: only ours count.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for variable, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGPASSWORD", db.get("PASSWORD")),
        ("PGDATABASE", db.get("NAME")),
    ):
        if value:
            environment[variable] = str(value)
    for option, variable in LIBPQ_OPTIONS.items():
        value = (db.get("OPTIONS") or {}).get(option)
        if value not in (None, ""):
            environment[variable] = str(value)
    environment["PGAPPNAME"] = "mapserver-backup"
    return environment


def run(tool: PgTool, *arguments: str, what: str) -> str:
    """Run the tool against the default database; return its standard output."""
    try:
        done = subprocess.run(
            [str(tool.path), *arguments],
            env=libpq_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise BackupError(f"{what} failed: {tool.path} could not be run ({error}).") from error
    if done.returncode != 0:
        said = done.stderr.strip()[-STDERR_TAIL_CHARS:] or f"exit status {done.returncode}"
        raise BackupError(f"{what} failed; {tool.path.name} said:\n{said}")
    return done.stdout


def server_version() -> tuple[int, str]:
    """Return the database server's major version and its full version."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int, version()")
        number, banner = cursor.fetchone()
    return number // 10000, banner


def database_name() -> str:
    """Return the name of the default database."""
    return str(connection.settings_dict["NAME"])


def current_role() -> str:
    """Return the role this connection is (the URL may name none: peer authentication)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return cursor.fetchone()[0]


def extensions() -> dict[str, str]:
    """Return the database's extensions and their versions."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname, extversion FROM pg_extension ORDER BY extname")
        return dict(cursor.fetchall())


def user_relations(limit: int = 5) -> tuple[int, list[str]]:
    """Return how many tables, views and sequences the database holds that are not an
    extension's own (PostGIS's spatial_ref_sys is), and the names of the first few."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname || '.' || c.relname, count(*) OVER ()
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%%'
              AND NOT EXISTS (
                  SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
              )
            ORDER BY 1
            LIMIT %s
            """,
            [limit],
        )
        rows = cursor.fetchall()
    return (rows[0][1] if rows else 0), [name for name, _ in rows]


def extensions_missing(needed: dict[str, str]) -> tuple[list[str], list[str]]:
    """Return which needed extensions are not installed: those this role may create, and those
    it may not (not trusted and not a superuser, or not available on the server at all)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        installed = {name for (name,) in cursor.fetchall()}
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
        superuser = bool(row and row[0])
        cursor.execute(
            "SELECT name, bool_or(trusted) FROM pg_available_extension_versions GROUP BY name"
        )
        available = dict(cursor.fetchall())
    creatable, blocked = [], []
    for name in sorted(set(needed) - installed - {"plpgsql"}):
        if name in available and (superuser or available[name]):
            creatable.append(name)
        else:
            blocked.append(name)
    return creatable, blocked


def added_spatial_refs() -> list[dict]:
    """Return the rows of spatial_ref_sys that PostGIS did not ship (the server added them).

    PostGIS itself names them: the condition it registered for pg_dump on its configuration
    table (pg_extension.extcondition), which is exactly what a dump of the table keeps.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.condition
            FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(relid, condition)
            WHERE e.extname = 'postgis' AND c.relid = 'spatial_ref_sys'::regclass
            """
        )
        row = cursor.fetchone()
        # The condition is PostGIS's own text from the catalogue ("WHERE NOT (srid BETWEEN …)").
        condition = sql.SQL(row[0] if row and row[0] else "")
        cursor.execute(
            sql.SQL(
                "SELECT srid, auth_name, auth_srid, srtext, proj4text FROM spatial_ref_sys {}"
                " ORDER BY srid"
            )
            .format(condition)
            .as_string(connection.connection)
        )
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


def spatial_refs_writable(srids: list[int]) -> bool:
    """Return whether this role can add those of these SRIDs that spatial_ref_sys lacks.

    The table belongs to whoever created PostGIS (a superuser); the server's role needs INSERT
    on it anyway, for the coordinate systems imports add.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('spatial_ref_sys') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return True  # PostGIS comes with the restore, made by this (super)user
        cursor.execute("SELECT has_table_privilege('spatial_ref_sys', 'INSERT')")
        if cursor.fetchone()[0]:
            return True
        cursor.execute("SELECT count(*) FROM spatial_ref_sys WHERE srid = ANY(%s)", [srids])
        return cursor.fetchone()[0] == len(set(srids))


def spatial_refs_add(rows: list[dict]) -> int:
    """Add the coordinate systems that are not there yet; return how many were added.

    A newer PostGIS may ship some of them already (the VN-2000 TM-3 zones, say): its own row
    stays, since it describes the same EPSG code.
    """
    added = 0
    with connection.cursor() as cursor:
        for row in rows:
            cursor.execute(
                "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)"
                " VALUES (%(srid)s, %(auth_name)s, %(auth_srid)s, %(srtext)s, %(proj4text)s)"
                " ON CONFLICT (srid) DO NOTHING",
                row,
            )
            added += cursor.rowcount
    return added
