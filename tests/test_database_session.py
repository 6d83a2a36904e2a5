"""The session settings every connection of ours starts with (mapserver/settings.py)."""

from django.db import connection


def test_sessions_start_without_jit_and_with_a_client_check(db, settings):
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW client_connection_check_interval")
        interval = cursor.fetchone()[0]
    assert interval == f"{settings.DB_CLIENT_CHECK_INTERVAL_MS}ms".replace("000ms", "s")
