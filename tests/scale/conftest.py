"""Machinery of the scale-out tests: PgBouncer, a streaming replica, web and worker "machines".

Each module builds one site for all its tests: a private PostgreSQL cluster (tests/faults'
`PrivatePostgres`) on a port of its own, with PgBouncer or a streaming replica in front as the
module asks, a gunicorn and Celery workers. Each process runs as a machine of its own would: its
own working folder, home and temporary folder, and an environment made from nothing but what
docs/operations.md says a machine needs (database and broker URLs, the secret key, the shared
upload and tile-cache folders). Everything is removed afterwards, even when a test fails; only
processes started here are ended, by their PID. The tests carry the `scale` marker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from tests.faults.conftest import (
    PG_BIN,
    ROOT,
    OutputLog,
    Worker,
    free_port,
    kill_pid,
    start_celery_worker,
    wait_until,
)

STAFF_USERNAME = "gis"
STAFF_PASSWORD = "scale-test-only-Hue-2026"
# A public layer with three named places of Huế, written by `Site.seed`.
SEED = """
import os
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point
from layers import services
from tests.factories import FeatureFactory, LayerFactory
layer = LayerFactory(slug="di-tich", min_zoom=0, max_zoom=16)
for name, lon, lat in [("Đại Nội", 107.5779, 16.4698), ("Chùa Thiên Mụ", 107.5448, 16.4532),
                       ("Lăng Tự Đức", 107.5653, 16.4336)]:
    FeatureFactory(layer=layer, name=name, attributes={"ten": name},
                   geom=Point(lon, lat, srid=4326))
services.layer_refresh_stats(layer=layer)
get_user_model().objects.create_superuser("gis", "gis@example.org", os.environ["STAFF_PASSWORD"])
"""


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "scale: PgBouncer, a read replica, workers as machines of their own"
    )


def pytest_collection_modifyitems(items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.scale)


class PgBouncer:
    """A PgBouncer of our own in transaction pooling mode, in front of a private cluster."""

    def __init__(self, folder: Path, *, server_port: int, pool_size: int) -> None:
        self.folder = folder
        self.port = free_port()
        self.server_port = server_port
        self.pool_size = pool_size
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # `trust` still wants the user listed; PgBouncer refuses to run as root.
        (self.folder / "users.txt").write_text('"postgres" ""\n')
        # max_db_connections bounds the server connections of the database whatever the
        # number of clients: every web thread and worker shares these few. Round robin: a
        # client's next transaction goes to the server connection idle longest, not the one it
        # just left, so session state that leaks across transactions is caught, not masked.
        (self.folder / "pgbouncer.ini").write_text(
            f"""[databases]
* = host=127.0.0.1 port={self.server_port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.folder / "users.txt"}
admin_users = postgres
pool_mode = transaction
default_pool_size = {self.pool_size}
max_db_connections = {self.pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
query_wait_timeout = 60
server_round_robin = 1
"""
        )
        shutil.chown(self.folder, "postgres", "postgres")
        self.log_path = self.folder / "pgbouncer.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            ["/usr/sbin/pgbouncer", str(self.folder / "pgbouncer.ini")],
            user="postgres", group="postgres", stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self.answers, timeout_s=15, what="PgBouncer to answer")

    def answers(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"PgBouncer exited:\n{self.log_path.read_text()[-2000:]}")
        try:
            self.show("VERSION")
        except subprocess.CalledProcessError:
            return False
        return True

    def url(self, dbname: str) -> str:
        return f"postgis://postgres@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def show(self, what: str) -> list[dict[str, str]]:
        """Return the rows of PgBouncer's `SHOW <what>` (its admin console) as dictionaries."""
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", "pgbouncer", "-A", "-F", "\t", "-P", "footer=off", "-c", f"SHOW {what}"],
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout.splitlines()  # fmt: skip
        header = out[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=False)) for line in out[1:]]

    def stop(self) -> None:
        kill_pid(self.process, signal.SIGTERM)


class Site:
    """The shared parts of a deployment (database, broker, upload and tile folders) and the
    machines started on them, each a process with its own folder and environment."""

    def __init__(self, folder: Path, *, broker_url: str) -> None:
        self.folder = folder
        self.broker_url = broker_url
        self.queue_prefix = f"scale-{uuid.uuid4().hex[:8]}-"
        # What machines share: uploads (MEDIA_ROOT: the web saves a file, an import worker
        # reads it) and the tile cache (web, tile workers and nginx read and write it).
        self.media = folder / "shared-media"
        self.tiles = folder / "shared-tiles"
        for shared in (self.media, self.tiles):
            shared.mkdir()
        self.processes: list[subprocess.Popen] = []

    def machine_env(self, name: str, *, database_url: str, **extra: str) -> dict[str, str]:
        """Return the whole environment of a machine called `name`: nothing else is inherited."""
        home = self.folder / name
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        (home / "work").mkdir(exist_ok=True)
        return {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            # The code, as each machine's own checkout would have it.
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "mapserver.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": self.broker_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_QUEUE_PREFIX": self.queue_prefix,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CACHE_KEY_PREFIX": self.queue_prefix,
            "SECRET_KEY": "scale-test-only",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "MEDIA_ROOT": str(self.media),
            "TILE_CACHE_DIR": str(self.tiles),
            "TILE_CACHE_MIN_FREE_BYTES": "0",
            "IMPORT_WORK_DIR": str(home / "work"),
            "DB_APPLICATION_NAME": name,
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def manage(self, env: dict[str, str], *args: str, script: str | None = None) -> str:
        """Run `manage.py` (or a Python script with Django set up) as a machine would."""
        command = [sys.executable, "-c", script] if script else [
            sys.executable, str(ROOT / "manage.py"), *args]  # fmt: skip
        result = subprocess.run(
            command, cwd=env["HOME"], env=env, capture_output=True, text=True, timeout=300
        )
        if result.returncode:
            output = result.stdout[-2000:] + result.stderr[-4000:]
            pytest.fail(f"{args or 'script'} failed:\n{output}")
        return result.stdout

    def seed(self, env: dict[str, str]) -> None:
        """Create the staff account and the public layer `di-tich` with three places."""
        self.manage({**env, "STAFF_PASSWORD": STAFF_PASSWORD}, script=SEED)

    def start_web(self, env: dict[str, str]) -> str:
        """Start gunicorn (2 processes x 2 threads) as a web machine; return its base URL."""
        port = free_port()
        env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2", "WEB_THREADS": "2",
               "WEB_ACCESS_LOG": "", "WEB_GRACEFUL_TIMEOUT_S": "3"}  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mapserver.wsgi", "-c",
             str(ROOT / "deploy" / "gunicorn.conf.py")],
            cwd=env["HOME"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.processes.append(process)
        log = OutputLog(process.stdout)
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{log.text()[-3000:]}")
            try:
                return requests.get(base + "/healthz", timeout=15).status_code in (200, 503)
            except requests.RequestException:  # not listening yet, or still loading the app
                return False

        wait_until(answers, timeout_s=60, what="gunicorn to answer")
        return base

    def start_worker(self, env: dict[str, str], kinds: list[str]) -> Worker:
        """Start a worker machine taking these kinds of work (`imports`, `tiles`…)."""
        worker = start_celery_worker(
            env=env,
            queues=[self.queue_prefix + kind for kind in kinds],
            application_name=env["DB_APPLICATION_NAME"],
            cwd=Path(env["HOME"]),
        )
        self.processes.append(worker.process)
        worker.wait_ready()
        return worker

    def close(self) -> None:
        for process in self.processes:
            kill_pid(process, signal.SIGTERM)
        import redis

        # The queues of this site only (they are named with its prefix).
        client = redis.Redis.from_url(self.broker_url)
        keys = list(client.scan_iter(match=f"{self.queue_prefix}*"))
        if keys:
            client.delete(*keys)


def new_folder(prefix: str) -> Path:
    """Return a new temporary folder that the postgres user may enter (its clusters live there)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def staff_token(base: str) -> str:
    """Sign in through the API and return a token."""
    response = requests.post(
        base + "/api/v1/auth/login/",
        json={"username": STAFF_USERNAME, "password": STAFF_PASSWORD},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def admin_session(base: str) -> requests.Session:
    """Sign in to the admin with its form, as a browser does; return the signed-in session."""
    session = requests.Session()
    page = session.get(base + "/admin/login/", timeout=30)
    assert page.status_code == 200
    response = session.post(
        base + "/admin/login/?next=/admin/",
        data={
            "username": STAFF_USERNAME,
            "password": STAFF_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": base + "/admin/login/"},
        timeout=30,
    )
    assert response.status_code == 200 and response.url.endswith("/admin/"), response.text[:500]
    return session


def feature_names(answer: requests.Response) -> set[str]:
    """Return the names (`ten`) of a GeoJSON FeatureCollection answer."""
    assert answer.status_code == 200, answer.text[:500]
    return {feature["properties"]["ten"] for feature in json.loads(answer.content)["features"]}


def api(site: Site, method: str, path: str, **kwargs) -> requests.Response:
    """Call the API as staff with the token."""
    headers = {"Authorization": f"Token {site.token}", **kwargs.pop("headers", {})}
    url = path if path.startswith("http") else site.base + path
    return requests.request(method, url, headers=headers, timeout=60, **kwargs)


def wait_for_job(site: Site, url: str, *, timeout_s: float = 50) -> dict:
    """Poll a job's URL until it ends; return its last state."""

    def ended():
        job = api(site, "GET", url).json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(ended, timeout_s=timeout_s, interval_s=0.3, what=f"the job {url}")


def import_places(site: Site, *, slug: str, count: int) -> dict:
    """Import `count` points into a new layer through the API and wait for the job's end."""
    places = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"ten": f"Chợ {i}"},
             "geometry": {"type": "Point", "coordinates": [107.58 + i / 1000, 16.46]}}
            for i in range(count)
        ],
    }  # fmt: skip
    created = api(
        site, "POST", "/api/v1/imports/",
        data={"layer_slug": slug, "title": slug},
        files={"file": (f"{slug}.geojson", json.dumps(places).encode(), "application/geo+json")},
    )  # fmt: skip
    assert created.status_code == 202, created.text
    return wait_for_job(site, created.json()["url"])


def seed_tiles(site: Site, *, slug: str, max_zoom: int) -> dict:
    """Seed a layer's tiles through the API and wait for the tile job's end."""
    started = api(site, "POST", f"/api/v1/layers/{slug}/tiles/seed/", json={"max_zoom": max_zoom})
    assert started.status_code == 202, started.text
    return wait_for_job(site, started.headers.get("Location") or started.json()["url"])
