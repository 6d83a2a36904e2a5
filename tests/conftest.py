"""Shared fixtures: users of each kind and layers of each visibility, on the real PostGIS."""

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
def _celery_worker_session(django_db_setup, django_db_blocker):
    """Start a real Celery worker on Redis, bound to the test database and a queue of its own."""
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
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    root = Path(__file__).resolve().parent.parent
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mapserver", "worker", "--pool=solo",
         f"--hostname={queue}@%h",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=root, env=env,
    )  # fmt: skip
    app.conf.task_default_queue = queue
    # Wait until the worker answers a ping, so the first task is not lost to a slow start.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError("the Celery worker exited at start")
        if app.control.inspect(timeout=1, destination=[f"{queue}@{socket.gethostname()}"]).ping():
            break
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.fixture
def celery_worker_process(_celery_worker_session):
    """Send this test's tasks to the real worker instead of running them in-process."""
    from mapserver.celery import app

    app.conf.task_always_eager = False
    try:
        yield _celery_worker_session
    finally:
        app.conf.task_always_eager = True
