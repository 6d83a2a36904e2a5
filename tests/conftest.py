"""Shared fixtures: users of each kind and layers of each visibility, on the real PostGIS."""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import CategoryFactory, LayerFactory, UserFactory


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_in_process():
    """Run tasks in-process unless a test asks for the real worker (`celery_worker_process`).

    Settings are loaded before this file, so the Celery app is told directly: no test may leave
    messages about its rows on the shared broker for another worker to pick up.
    """
    from mapserver.celery import app

    app.conf.task_always_eager = True
    yield


@pytest.fixture(autouse=True, scope="session")
def _private_folders(tmp_path_factory):
    """Give this test process media and tile-cache folders of its own, never the developer's var/.

    Tests run in several processes (pytest-xdist), each on a database of its own whose layer ids
    start at 1 too: a shared tile cache would hand one process's tile to another. Tests that need a
    folder of their own still set one (tmp_path); this is the floor under them.
    """
    from django.conf import settings

    folders = tmp_path_factory.mktemp("process-folders")
    saved = settings.MEDIA_ROOT, settings.TILE_CACHE_DIR
    settings.MEDIA_ROOT, settings.TILE_CACHE_DIR = folders / "media", folders / "tiles"
    yield
    settings.MEDIA_ROOT, settings.TILE_CACHE_DIR = saved


@pytest.fixture(autouse=True)
def _private_cache_and_generous_throttles(settings):
    """Give each test cache keys of its own and throttle rates it cannot reach.

    Redis is shared with other test runs: a prefix per test keeps their throttle counts apart
    (never `cache.clear()`, which flushes the whole Redis database). Throttle tests lower a rate.
    """
    import uuid

    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }
    rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {scope: "100000/min" for scope in rates},
    }


@pytest.fixture
def category(db):
    return CategoryFactory()


@pytest.fixture
def planners(db):
    return Group.objects.create(name="planners")


@pytest.fixture
def anonymous():
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


@pytest.fixture
def member(planners):
    user = UserFactory(username="member")
    user.groups.add(planners)
    return user


@pytest.fixture
def signed_in(db):
    return UserFactory(username="signed_in")


@pytest.fixture
def staff(db):
    user = UserFactory(username="gis_staff", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="layers"))
    return user


@pytest.fixture
def layers_by_visibility(category, planners):
    public = LayerFactory(slug="public-layer", category=category, visibility="public")
    internal = LayerFactory(slug="internal-layer", category=category, visibility="internal")
    restricted = LayerFactory(slug="restricted-layer", category=category, visibility="restricted")
    restricted.groups.add(planners)
    return {"public": public, "internal": internal, "restricted": restricted}


@pytest.fixture(scope="session")
def _celery_worker_session(django_db_setup, django_db_blocker, tmp_path_factory):
    """Start a real Celery worker on Redis, bound to the test database and a queue of its own.

    The worker gets private media and tile-cache folders (never the developer's var/), which
    `celery_worker_process` shares with the test.
    """
    import os
    import socket
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    from django.db import connection

    from mapserver.celery import app

    db = connection.settings_dict
    from django.conf import settings

    from mapserver.celery import QUEUES

    queue = f"test-{uuid.uuid4().hex[:8]}"
    # Every kind of work on queues of this run's own (`<queue>-imports`, …): the router reads
    # the prefix when a task is sent, and no other run's worker takes them.
    queues = [f"{queue}-{kind}" for kind in QUEUES]
    folders = tmp_path_factory.mktemp("celery-worker")
    media_root, tile_cache_dir = folders / "media", folders / "tiles"
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_QUEUE_PREFIX": f"{queue}-",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(media_root),
        "TILE_CACHE_DIR": str(tile_cache_dir),
    }
    root = Path(__file__).resolve().parent.parent
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mapserver", "worker", "--pool=solo",
         f"--hostname={queue}@%h", f"--queues={','.join(queues)}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=root, env=env,
    )  # fmt: skip
    settings.CELERY_QUEUE_PREFIX = f"{queue}-"
    app.conf.task_default_queue = f"{queue}-default"
    name = f"{queue}@{socket.gethostname()}"
    # Wait until the worker answers a ping, so the first task is not lost to a slow start.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError("the Celery worker exited at start")
        if app.control.inspect(timeout=1, destination=[name]).ping():
            break
    try:
        yield SimpleNamespace(
            process=worker,
            name=name,
            queue=queue,
            queues=queues,
            media_root=media_root,
            tile_cache_dir=tile_cache_dir,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.fixture
def celery_worker_process(_celery_worker_session, settings):
    """Send this test's tasks to the real worker, sharing its media and tile-cache folders."""
    from mapserver.celery import app

    settings.MEDIA_ROOT = _celery_worker_session.media_root
    settings.TILE_CACHE_DIR = _celery_worker_session.tile_cache_dir
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    app.conf.task_always_eager = False
    try:
        yield _celery_worker_session
    finally:
        # Follow-up tasks (a tile rebuild after an import, say) may still run: the database is
        # emptied after the test, which must not race them (it deadlocks with their locks).
        _wait_until_idle(_celery_worker_session)
        app.conf.task_always_eager = True


def _wait_until_idle(worker, timeout_s: float = 60) -> None:
    """Wait until the worker's queue is empty and it runs no task (twice in a row, to be sure)."""
    import time

    from mapserver.celery import app

    quiet_checks = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and quiet_checks < 2:
        with app.connection_for_read() as connection:
            client = connection.default_channel.client
            waiting = sum(client.llen(queue) for queue in worker.queues)
        inspect = app.control.inspect(timeout=1, destination=[worker.name], limit=1)
        busy = any((inspect.active() or {}).values()) or any((inspect.reserved() or {}).values())
        quiet_checks = quiet_checks + 1 if not waiting and not busy else 0
        time.sleep(0.2)
