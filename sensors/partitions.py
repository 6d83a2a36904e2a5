"""The monthly partitions of `sensors_observation`: made ahead, made on demand, dropped by age.

Partitions are calendar months in UTC, named `sensors_observation_yYYYYmMM`. The SQL function
`sensors_observation_month(t)` (migration 0001) makes one, moving any of its rows out of the
DEFAULT partition first; the DEFAULT partition only catches rows of a month nobody made yet, so
an observation is never refused for want of a partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection, transaction
from psycopg import sql

PARTITION_NAME = re.compile(r"^sensors_observation_y(\d{4})m(\d{2})$")


def month_start(at: datetime) -> datetime:
    """Return the first instant (UTC) of the month holding `at`."""
    at = at.astimezone(UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(at: datetime, months: int) -> datetime:
    """Return the first instant of the month `months` after the month of `at` (UTC)."""
    start = month_start(at)
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def existing_months() -> set[datetime]:
    """Return the first instants of the months that have a partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'sensors_observation'::regclass"
        )
        names = [row[0] for row in cursor.fetchall()]
    months = set()
    for name in names:
        match = PARTITION_NAME.match(name)
        if match:
            months.add(datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC))
    return months


def ensure_months(instants: Iterable[datetime]) -> list[str]:
    """Make the partitions of the months holding these instants; return the ones made."""
    wanted = {month_start(at) for at in instants}
    missing = sorted(wanted - existing_months())
    made = []
    for start in missing:
        # Each in its own transaction: the advisory lock and the ATTACH's lock end with it.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT sensors_observation_month(%s)", [start])
            made.append(cursor.fetchone()[0])
    return made


def ensure_ahead(*, months_ahead: int = 3, now: datetime | None = None) -> list[str]:
    """Make the partitions of this month and the next `months_ahead` months."""
    now = now or datetime.now(UTC)
    return ensure_months(add_months(now, k) for k in range(months_ahead + 1))


def drop_before(cutoff: datetime) -> list[str]:
    """Drop the partitions wholly older than `cutoff` (their month ends at or before it)."""
    dropped = []
    for start in sorted(existing_months()):
        if add_months(start, 1) > cutoff:
            continue
        name = f"sensors_observation_y{start.year:04d}m{start.month:02d}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP TABLE IF EXISTS {}")
                .format(sql.Identifier(name))
                .as_string(connection.connection)
            )
        dropped.append(name)
    return dropped
