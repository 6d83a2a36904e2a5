"""Every feature behind PgBouncer in transaction pooling mode, with 2 server connections.

The whole site talks to PostgreSQL through one PgBouncer (`pool_mode = transaction`,
`max_db_connections = 2`): migrations, gunicorn (2 processes x 2 threads), an import worker and a
tile worker. Each transaction may run on either server connection, so anything that leaned on
session state (a prepared statement, a TEMP table or a SET kept across transactions, a
server-side cursor, a session advisory lock) breaks here.
"""

from __future__ import annotations

import mapbox_vector_tile
import psycopg
import pytest
import requests

from tests.faults.conftest import PrivatePostgres
from tests.scale.conftest import (
    PgBouncer,
    Site,
    admin_session,
    api,
    feature_names,
    import_places,
    new_folder,
    seed_tiles,
    staff_token,
    wait_for_job,
)

POOL_SIZE = 2
# The z14 tile holding Đại Nội (107.5779, 16.4698).
TILE = "/tiles/di-tich/14/13088/7431.pbf"


@pytest.fixture(scope="module")
def site():
    """A private cluster behind PgBouncer; migrate, web and two worker machines through it."""
    from django.conf import settings

    folder = new_folder("scale-pgbouncer-")
    cluster = PrivatePostgres(folder / "pg")
    (folder / "pg").mkdir()
    bouncer = PgBouncer(folder / "pgbouncer", server_port=cluster.port, pool_size=POOL_SIZE)
    site = Site(folder, broker_url=settings.CELERY_BROKER_URL)
    try:
        cluster.init()
        cluster.start()
        cluster.psql("postgres", "CREATE DATABASE scale")
        # PgBouncer refuses startup options: what they set goes on the role (docs/operations.md).
        cluster.psql(
            "postgres",
            "ALTER ROLE postgres SET jit = off; "
            "ALTER ROLE postgres SET client_connection_check_interval = 2000",
        )
        bouncer.start()
        url = bouncer.url("scale")
        pooled = {"DB_TRANSACTION_POOLING": "true"}
        site.manage(site.machine_env("migrate", database_url=url, **pooled), "migrate", "--noinput")
        site.seed(site.machine_env("seed", database_url=url, **pooled))
        site.base = site.start_web(site.machine_env("web", database_url=url, **pooled))
        site.import_worker = site.start_worker(
            site.machine_env("worker-imports", database_url=url, **pooled), ["imports", "exports"]
        )
        site.tile_worker = site.start_worker(
            site.machine_env("worker-tiles", database_url=url, **pooled), ["tiles", "default"]
        )
        site.cluster, site.bouncer = cluster, bouncer
        site.token = staff_token(site.base)
        yield site
    finally:
        site.close()
        bouncer.stop()
        cluster.remove()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_clients_share_two_server_connections_transaction_by_transaction(site):
    """Five clients at once run on at most two server sessions, and one client's successive
    transactions run on different ones: the conditions every other test here runs under."""
    config = {row["key"]: row["value"] for row in site.bouncer.show("CONFIG")}
    assert config["pool_mode"] == "transaction"
    clients = [psycopg.connect(site.bouncer.dsn("scale"), autocommit=True) for _ in range(5)]
    try:
        # One client inside a transaction keeps its server; another then needs the second one.
        clients[0].execute("BEGIN")
        held = clients[0].execute("SELECT pg_backend_pid()").fetchone()[0]
        other = clients[1].execute("SELECT pg_backend_pid()").fetchone()[0]
        assert other != held
        clients[0].execute("COMMIT")
        seen = {
            index: {client.execute("SELECT pg_backend_pid()").fetchone()[0] for _ in range(4)}
            for index, client in enumerate(clients)
        }
        assert set().union(*seen.values()) == {held, other}
        assert all(len(pids) == 2 for pids in seen.values()), seen
    finally:
        for client in clients:
            client.close()
    backends = site.cluster.psql(
        "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'scale'"
    )
    assert int(backends) <= POOL_SIZE


def test_reads_tiles_features_search_identify(site):
    base = site.base
    assert feature_names(requests.get(base + "/api/v1/layers/di-tich/features/", timeout=30)) == {
        "Đại Nội", "Chùa Thiên Mụ", "Lăng Tự Đức"}  # fmt: skip
    assert feature_names(
        requests.get(base + "/ogc/collections/di-tich/items?f=json", timeout=30)
    ) == {"Đại Nội", "Chùa Thiên Mụ", "Lăng Tự Đức"}
    search = requests.get(base + "/api/v1/search/", params={"q": "thien mu"}, timeout=30)
    assert search.status_code == 200, search.text
    assert "Chùa Thiên Mụ" in search.text
    identify = requests.get(
        base + "/api/v1/identify/",
        params={"lon": 107.5779, "lat": 16.4698, "zoom": 16, "layers": "di-tich"},
        timeout=30,
    )
    assert feature_names(identify) == {"Đại Nội"}
    tile = requests.get(base + TILE, timeout=30)
    assert tile.status_code == 200
    decoded = mapbox_vector_tile.decode(tile.content)
    assert [f["properties"]["ten"] for f in decoded["di-tich"]["features"]] == ["Đại Nội"]


def test_edit_and_admin_sign_in(site):
    features = api(site, "GET", "/api/v1/layers/di-tich/features/").json()["features"]
    feature_id = next(f["id"] for f in features if f["properties"]["ten"] == "Lăng Tự Đức")
    changed = api(
        site, "PATCH", f"/api/v1/layers/di-tich/features/{feature_id}/",
        json={"properties": {"ten": "Lăng vua Tự Đức"}},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    search = requests.get(site.base + "/api/v1/search/", params={"q": "lang vua"}, timeout=30)
    assert "Lăng vua Tự Đức" in search.text

    session = admin_session(site.base)
    page = session.get(site.base + f"/admin/layers/feature/{feature_id}/change/", timeout=30)
    assert page.status_code == 200
    assert "Lăng vua Tự Đức" in page.text


def test_import_by_a_worker_machine(site):
    job = import_places(site, slug="cho", count=50)
    assert job["status"] == "succeeded", job["messages"]
    assert job["counts"]["imported"] == 50
    features = api(site, "GET", "/api/v1/layers/cho/features/?limit=100").json()["features"]
    assert len(features) == 50


def test_seed_by_the_tile_machine(site):
    job = seed_tiles(site, slug="di-tich", max_zoom=12)
    assert job["status"] == "succeeded", job
    assert list((site.tiles / "public" / "di-tich").glob("12/*/*"))


def test_export_by_a_worker_machine(site):
    started = api(site, "POST", "/api/v1/layers/di-tich/exports/", json={"format": "gpkg"})
    assert started.status_code == 202, started.text
    job = wait_for_job(site, started.headers["Location"])
    assert job["status"] == "succeeded", job
    download = api(site, "GET", job["download_url"])
    assert download.status_code == 200
    assert download.content[:16] == b"SQLite format 3\x00"
