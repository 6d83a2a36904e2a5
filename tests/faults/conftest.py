"""Machinery of the fault tests: private PostgreSQL clusters, Redis servers and Celery workers.

Each fault test starts what it breaks on ports of its own (never the shared 5432 and 6379), kills
it on purpose, and removes it afterwards even when the test fails. Only processes started here
are ended, by their PID. The tests carry the `faults` marker: `-m faults` runs them alone,
`-m "not faults"` leaves them out; they share nothing with other runs, so both can run at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "faults: starts and kills its own PostgreSQL, Redis or workers (tests/faults)"
    )


def pytest_collection_modifyitems(items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


def free_port() -> int:
    """Return a local TCP port that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout_s: float, interval_s: float = 0.1, what: str = "condition"):
    """Return the first truthy value of `predicate()`; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def kill_pid(process: subprocess.Popen | None, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to a process this module started (by its PID) and reap it."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class OutputLog:
    """Collect a subprocess's output lines in a thread, so its pipe never fills up."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, ""):
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)


# --- Redis ---------------------------------------------------------------------------------------


class PrivateRedis:
    """A throw-away redis-server on a port of its own, in the foreground of a subprocess."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, timeout_s=10, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): what a crash or an OOM kill does."""
        kill_pid(self.process)
        self.process = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """Start a private Redis; it is killed after the test whatever happened."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture
def broker_at(settings):
    """Point this process's Celery app (and the settings) at another broker for one test.

    The app keeps a connection pool and a producer pool made from the URL it first used: both
    are forgotten, as Celery does after a fork, so the next send really goes to the new broker.
    They are not closed: kombu keeps pools per broker URL for the whole process, and the shared
    broker's pool is used again by other tests once this one is over.
    """
    from mapserver.celery import app

    def reset_pools() -> None:
        app._after_fork()

    original = app.conf.broker_url

    def point(url: str) -> None:
        settings.CELERY_BROKER_URL = url
        app.conf.broker_url = url
        reset_pools()

    try:
        yield point
    finally:
        app.conf.broker_url = original
        reset_pools()


# --- Celery workers ------------------------------------------------------------------------------


class Worker:
    """A real Celery worker in a subprocess (solo pool: the task runs in the process itself)."""

    def __init__(self, process: subprocess.Popen, log: OutputLog, application_name: str) -> None:
        self.process = process
        self.log = log
        self.application_name = application_name

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited at start:\n{self.log.text()[-3000:]}")
            return " ready." in self.log.text()

        wait_until(ready, timeout_s=timeout_s, what="the Celery worker to be ready")

    def kill(self) -> None:
        kill_pid(self.process)


def start_celery_worker(
    *, env: dict[str, str], queues: list[str], application_name: str, cwd: Path = ROOT
) -> Worker:
    """Start a Celery worker (solo pool) on these queues, with exactly this environment."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mapserver", "worker", "--pool=solo",
         f"--hostname={application_name}@%h", f"--queues={','.join(queues)}",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return Worker(process, OutputLog(process.stdout), application_name)


def database_url() -> str:
    """Return the URL of this test run's database (the test database, once set up)."""
    from django.db import connection

    db = connection.settings_dict
    return (
        f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def fault_folders(tmp_path, settings) -> dict[str, Path]:
    """Give the test and its workers shared media, tile-cache and import work folders."""
    folders = {name: tmp_path / name for name in ("media", "tiles", "work")}
    for folder in folders.values():
        folder.mkdir()
    settings.MEDIA_ROOT = folders["media"]
    settings.TILE_CACHE_DIR = folders["tiles"]
    settings.IMPORT_WORK_DIR = str(folders["work"])
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    return folders


@pytest.fixture
def queue_prefix(settings):
    """Route this test's tasks to queues of its own and send them for real (not eagerly)."""
    from mapserver.celery import app

    prefix = f"faults-{uuid.uuid4().hex[:8]}-"
    settings.CELERY_QUEUE_PREFIX = prefix
    app.conf.task_always_eager = False
    try:
        yield prefix
    finally:
        app.conf.task_always_eager = True


@pytest.fixture
def start_worker(fault_folders, queue_prefix):
    """Return a function that starts a worker on this test's queues; all are killed at the end."""
    from django.conf import settings

    from mapserver.celery import QUEUES

    started: list[Worker] = []

    def start(*, broker_url: str | None = None, **env_overrides: str) -> Worker:
        application_name = f"faults-worker-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
            "CELERY_QUEUE_PREFIX": queue_prefix,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "MEDIA_ROOT": str(fault_folders["media"]),
            "TILE_CACHE_DIR": str(fault_folders["tiles"]),
            "IMPORT_WORK_DIR": str(fault_folders["work"]),
            "DB_APPLICATION_NAME": application_name,
            **env_overrides,
        }
        worker = start_celery_worker(
            env=env,
            queues=[queue_prefix + kind for kind in QUEUES],
            application_name=application_name,
        )
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()


# --- PostgreSQL ----------------------------------------------------------------------------------


class PrivatePostgres:
    """A throw-away PostgreSQL 15 cluster in a temporary folder, run as the postgres user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.running = False

    def _as_postgres(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True, capture_output=True, text=True, timeout=120, **kwargs,
        )  # fmt: skip

    def init(self) -> None:
        shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.folder / "server.log"), "-w", "start",
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate` is a crash: no shutdown checkpoint, clients cut off)."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def url(self, dbname: str) -> str:
        return f"postgis://postgres@127.0.0.1:{self.port}/{dbname}"

    def psql(self, dbname: str, sql: str) -> str:
        return subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", dbname, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip

    def copy_schema(self, *, source_url: dict, dbname: str) -> None:
        """Create `dbname` with the schema of another database (no migrations to run)."""
        self.psql("postgres", f'CREATE DATABASE "{dbname}"')
        env = {**os.environ, "PGPASSWORD": source_url["PASSWORD"]}
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
             "-h", source_url["HOST"] or "127.0.0.1", "-p", str(source_url["PORT"] or 5432),
             "-U", source_url["USER"], source_url["NAME"]],
            check=True, capture_output=True, text=True, env=env, timeout=120,
        ).stdout  # fmt: skip
        subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", dbname, "-v", "ON_ERROR_STOP=1", "-q"],
            input=dump, check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def remove(self) -> None:
        if self.running:
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pid_file = self.data / "postmaster.pid"
                if pid_file.exists():  # our own postmaster, by the PID it wrote
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def private_postgres(django_db_setup, django_db_blocker) -> Iterator[PrivatePostgres]:
    """Start a private PostgreSQL cluster holding the test database's schema as `faults`."""
    from django.db import connection

    folder = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    cluster = PrivatePostgres(folder)
    try:
        cluster.init()
        cluster.start()
        with django_db_blocker.unblock():
            settings_dict = dict(connection.settings_dict)
        cluster.copy_schema(source_url=settings_dict, dbname="faults")
        yield cluster
    finally:
        cluster.remove()
