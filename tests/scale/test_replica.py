"""A primary and a streaming replica: who reads where, and what replica lag may never do.

The test starts a private primary and a hot standby made from it with `pg_basebackup -R`, and a
web machine with `DATABASE_URL` on the primary and `DATABASE_REPLICA_URL` on the standby. It
pauses the standby's replay (`pg_wal_replay_pause()`), so the two differ on purpose: what an
answer shows says which server it came from.
"""

from __future__ import annotations

import gzip
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import mapbox_vector_tile
import pytest
import requests

from tests.faults.conftest import PG_BIN, PrivatePostgres, wait_until
from tests.scale.conftest import (
    Site,
    admin_session,
    api,
    feature_names,
    new_folder,
    staff_token,
)

PLACES = {"Đại Nội", "Chùa Thiên Mụ", "Lăng Tự Đức"}
# The z14 tile holding Đại Nội (107.5779, 16.4698).
TILE = (14, 13088, 7431)


class Standby(PrivatePostgres):
    """A hot standby of a private primary, cloned with pg_basebackup -R (streaming)."""

    def clone(self, primary: PrivatePostgres) -> None:
        import shutil

        shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
            "--no-sync",
        )  # fmt: skip


@pytest.fixture(scope="module")
def site():
    """Primary, standby, and a web machine reading from both."""
    from django.conf import settings

    folder = new_folder("scale-replica-")
    primary, standby = Standby(folder / "primary"), Standby(folder / "standby")
    for cluster in (primary, standby):
        cluster.folder.mkdir()
    site = Site(folder, broker_url=settings.CELERY_BROKER_URL)
    try:
        primary.init()
        primary.start()
        primary.psql("postgres", "CREATE DATABASE scale")
        url = primary.url("scale")
        site.manage(site.machine_env("migrate", database_url=url), "migrate", "--noinput")
        site.seed(site.machine_env("seed", database_url=url))
        standby.clone(primary)
        standby.start()
        site.primary, site.standby = primary, standby
        wait_until(lambda: replica_caught_up(site), timeout_s=30, what="the standby to catch up")
        web = site.machine_env(
            "web",
            database_url=url,
            DATABASE_REPLICA_URL=standby.url("scale"),
            DATABASE_REPLICA_PIN_S="60",
            # The follow-up work of an edit (tile invalidation) runs in the web process.
            CELERY_TASK_ALWAYS_EAGER="true",
        )
        site.base = site.start_web(web)
        site.token = staff_token(site.base)
        yield site
    finally:
        site.close()
        standby.remove()
        primary.remove()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def replica_caught_up(site: Site) -> bool:
    """Return whether the standby replayed everything the primary has written so far."""
    # The insert position, not pg_current_wal_lsn() (what is written out): the test clusters
    # run with synchronous_commit off, so a commit may still sit in the WAL buffers, behind the
    # written position; waiting for that position would let the check pass before the standby
    # has the commit (the test then read old data from it about one run in four).
    target = site.primary.psql("postgres", "SELECT pg_current_wal_insert_lsn()").strip()
    behind = site.standby.psql(
        "postgres", f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn()) > 0"
    ).strip()
    return behind == "f"


class ReplayPaused:
    """Pause the standby's replay for a block: it keeps what it has, the primary moves on."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def __enter__(self) -> None:
        self.site.standby.psql("postgres", "SELECT pg_wal_replay_pause()")
        wait_until(
            lambda: self.site.standby.psql(
                "postgres", "SELECT pg_get_wal_replay_pause_state()"
            ).strip() == "paused",
            timeout_s=10,
            what="replay to pause",
        )  # fmt: skip

    def __exit__(self, *exc) -> None:
        self.site.standby.psql("postgres", "SELECT pg_wal_replay_resume()")
        wait_until(lambda: replica_caught_up(self.site), timeout_s=30, what="the standby")


def rename(site: Site, old: str, new: str) -> requests.Response:
    """Rename a place as staff (a PATCH through the API); return the answer."""
    features = api(site, "GET", "/api/v1/layers/di-tich/features/").json()["features"]
    feature_id = next(f["id"] for f in features if f["properties"]["ten"] == old)
    answer = api(
        site, "PATCH", f"/api/v1/layers/di-tich/features/{feature_id}/",
        json={"properties": {"ten": new}},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer


def names_seen(site: Site, client: requests.Session | None = None) -> dict[str, set[str]]:
    """Return the place names each read endpoint answers to `client` (anonymous by default)."""
    client = client or requests.Session()
    base = site.base

    def get(path: str, **params) -> requests.Response:
        return client.get(base + path, params=params, timeout=30)

    search = get("/api/v1/search/", q="lang tu duc", layers="di-tich").json()
    return {
        "features": feature_names(get("/api/v1/layers/di-tich/features/")),
        "ogc items": feature_names(get("/ogc/collections/di-tich/items", f="json")),
        "search": {result["name"] for result in search["results"]},
        "identify": feature_names(
            get("/api/v1/identify/", lon=107.5653, lat=16.4336, zoom=16, layers="di-tich")
        ),
    }


def test_reads_come_from_the_replica_unless_the_client_just_wrote(site):
    with ReplayPaused(site):
        written = rename(site, "Lăng Tự Đức", "Lăng vua Tự Đức")
        new_places = PLACES - {"Lăng Tự Đức"} | {"Lăng vua Tự Đức"}

        # Anonymous readers get the replica, which has not replayed the edit.
        assert names_seen(site) == {
            "features": PLACES,
            "ogc items": PLACES,
            "search": {"Lăng Tự Đức"},
            "identify": {"Lăng Tự Đức"},
        }
        # Everything else reads the primary: the layer's details already show the new version.
        version = api(site, "GET", "/api/v1/layers/di-tich/").json()["version"]
        assert requests.get(site.base + "/api/v1/layers/di-tich/", timeout=30).json()[
            "version"
        ] == version  # fmt: skip

        # The writer's answer pinned it to the primary: with that cookie, it reads its write.
        pin = written.cookies.get("mapserver_primary")
        assert pin
        pinned = requests.Session()
        pinned.cookies.set("mapserver_primary", pin, domain=urlsplit(site.base).hostname)
        seen = names_seen(site, pinned)
        assert seen["features"] == seen["ogc items"] == new_places
        assert seen["identify"] == {"Lăng vua Tự Đức"}
        # A forged pin is ignored.
        forged = requests.Session()
        forged.cookies.set("mapserver_primary", "1", domain=urlsplit(site.base).hostname)
        assert names_seen(site, forged)["features"] == PLACES

        # Staff read the primary, with a token or in the admin's session.
        token_reads = api(site, "GET", "/api/v1/layers/di-tich/features/")
        assert feature_names(token_reads) == new_places
        assert names_seen(site, admin_session(site.base))["features"] == new_places

    # Replay resumed and caught up: the replica answers the edit too.
    assert names_seen(site)["features"] == new_places


def get_until_closed(base: str, path: str) -> tuple[int, bytes]:
    """GET over HTTP/1.0 and read until the server closes: its post-response work is done.

    A tile view stores what it rendered after sending it (in the response's close), which
    gunicorn runs before it closes a connection that is not kept alive.
    """
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {parts.hostname}\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def tile_names(body: bytes) -> list[str]:
    return [f["properties"]["ten"] for f in mapbox_vector_tile.decode(body)["di-tich"]["features"]]


def tile_files(site: Site) -> list[Path]:
    """Return the cache's files of the tile (`.pbf.gz`, or `.empty`)."""
    z, x, y = TILE
    return list(Path(site.tiles, "public", "di-tich", str(z), str(x)).glob(f"{y}.*"))


def cached_tile_names(site: Site) -> list[str] | None:
    """Return the names in the cached public tile, or None when it is not cached."""
    files = tile_files(site)
    if not files:
        return None
    return tile_names(gzip.decompress(files[0].read_bytes()))


def test_a_tile_rendered_from_a_lagging_replica_is_never_cached(site):
    path = "/tiles/di-tich/{}/{}/{}.pbf".format(*TILE)
    status, body = get_until_closed(site.base, path)
    assert status == 200 and tile_names(body) == ["Đại Nội"]
    assert cached_tile_names(site) == ["Đại Nội"]

    with ReplayPaused(site):
        rename(site, "Đại Nội", "Hoàng thành Huế")
        # The edit's follow-up (a tile worker, after the commit) rebuilds the cached tile from
        # the primary: wait for it, or it could put the tile back after the unlink below. Then
        # take the tile out of the cache (a tile nobody asked for yet): the next request renders
        # it, from the replica, which still has the old name and version.
        wait_until(
            lambda: cached_tile_names(site) == ["Hoàng thành Huế"],
            timeout_s=60,
            what="the edit's tile rebuild by the worker",
        )
        for file in tile_files(site):
            file.unlink()
        status, body = get_until_closed(site.base, path)
        assert status == 200 and tile_names(body) == ["Đại Nội"]
        # Rendered from the replica at the old version: the primary's version check refused it.
        assert cached_tile_names(site) in (None, ["Hoàng thành Huế"])

    status, body = get_until_closed(site.base, path)
    assert status == 200 and tile_names(body) == ["Hoàng thành Huế"]
    assert cached_tile_names(site) == ["Hoàng thành Huế"]


def test_the_web_machine_opened_sessions_on_both_servers(site):
    """The replica really serves the web machine (and only reads: it is a standby)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'web'"
    requests.get(site.base + "/api/v1/layers/di-tich/features/", timeout=30).raise_for_status()
    assert int(site.standby.psql("postgres", query)) >= 1
    assert int(site.primary.psql("postgres", query)) >= 1
    assert site.standby.psql("postgres", "SELECT pg_is_in_recovery()").strip() == "t"
    with pytest.raises(subprocess.CalledProcessError):
        site.standby.psql("scale", "UPDATE layers_layer SET version = version + 1")
