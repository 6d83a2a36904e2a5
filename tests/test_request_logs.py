"""Log lines: one JSON line per request with LOG_FORMAT=json, X-Request-ID from the request to the
response and to the Celery tasks it queues (in a real worker's log lines), and no secret in any
line in either format."""

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from layers.models import ExportJob, JobStatus
from mapserver.observability.logs import logging_config, redact
from tests.factories import FeatureFactory, LayerFactory

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("secret123", "secret456", "secret789", "cookie-secret-1", "dbpass999")


def _configure(log_format: str) -> io.StringIO:
    """Apply the logging configuration of a format; return the stream its handler writes to."""
    logging.config.dictConfig(logging_config(log_format=log_format, level="INFO"))
    [handler] = logging.getLogger().handlers
    stream = io.StringIO()
    handler.setStream(stream)
    return stream


def _read(stream: io.StringIO) -> str:
    """Return what was written to the stream since the last read."""
    text = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    return text


@pytest.fixture
def json_logs():
    """Log as LOG_FORMAT=json would; return a function that reads the lines written so far."""
    stream = _configure("json")
    yield lambda: [json.loads(line) for line in _read(stream).splitlines()]
    logging.config.dictConfig(django_settings.LOGGING)


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "mapserver.requests"]


@pytest.fixture
def landmarks(category, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    layer = LayerFactory(slug="landmarks", category=category, geometry_type="point")
    FeatureFactory(layer=layer)
    return layer


@pytest.mark.django_db
def test_a_request_writes_one_json_line_with_its_fields(client, json_logs, signed_in):
    client.force_login(signed_in)
    response = client.get("/api/v1/layers/")
    assert response.status_code == 200
    [line] = request_lines(json_logs())
    assert line["method"] == "GET"
    assert line["route"] == "api/v1/layers/"
    assert line["family"] == "api"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["user_id"] == signed_in.pk
    assert line["request_id"] == response["X-Request-ID"]
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")


@pytest.mark.django_db
def test_an_anonymous_request_for_no_route_has_no_user_and_no_route(client, json_logs):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    lines = json_logs()
    [line] = request_lines(lines)
    assert (line["route"], line["status"], line["user_id"]) == (None, 404, None)
    # Django's own warning about the 404, written during the request, carries its id too.
    [warning] = [entry for entry in lines if entry["logger"] == "django.request"]
    assert warning["request_id"] == line["request_id"] == response["X-Request-ID"]
    assert "request" not in warning  # the request object (its repr holds the query string)


@pytest.mark.django_db
def test_x_request_id_is_kept_when_well_formed_and_replaced_when_not(client, json_logs):
    given = "a1b2-C3.d4:e5"
    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given
    assert request_lines(json_logs())[0]["request_id"] == given
    for bad in ("has spaces", "x" * 129, "evil\r\nX-Injected: 1", "ünïcode", "", '"quoted"'):
        response = client.get("/healthz", HTTP_X_REQUEST_ID=bad)
        made = response["X-Request-ID"]
        assert made != bad and len(made) == 32 and int(made, 16) >= 0, bad
        assert request_lines(json_logs())[0]["request_id"] == made
    without = client.get("/healthz")["X-Request-ID"]
    assert len(without) == 32 and without != made


@pytest.mark.django_db
def test_text_format_keeps_the_plain_message_and_writes_no_request_line(client):
    stream = _configure("text")
    try:
        client.get("/no/such/page/")
    finally:
        logging.config.dictConfig(django_settings.LOGGING)
    assert _read(stream).splitlines() == ["Not Found: /no/such/page/"]


def test_an_unknown_log_format_is_refused_with_the_choices():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be one of text, json"):
        logging_config(log_format="yaml")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("Authorization: Bearer secret123", "Authorization: "),
        ("{'HTTP_AUTHORIZATION': 'Token secret123'}", "HTTP_AUTHORIZATION"),
        ("sent with Bearer secret123.", "sent with Bearer "),
        ("Token 0123456789abcdef0123456789abcdef refused", " refused"),
        ("GET /api/v1/exports/7/?key=secret456&page=2", "&page=2"),
        ("GET /x?token=secret456", "GET /x?token="),
        ("api_key=secret789; access_token=secret456", "api_key="),
        ("password=secret789&username=ana", "&username=ana"),
        ('{"password": "secret789", "user": "ana"}', '"user": "ana"'),
        ("Cookie: sessionid=cookie-secret-1; csrftoken=cookie-secret-1", "Cookie: "),
        ("could not connect to postgis://mapserver:dbpass999@db:5432/gis", "@db:5432/gis"),
        ("redis://:dbpass999@127.0.0.1:6379/0 refused", "@127.0.0.1:6379/0"),
    ],
)
def test_redact_removes_each_kind_of_secret(line, kept):
    cleaned = redact(line)
    assert not any(secret in cleaned for secret in SECRETS), cleaned
    assert "0123456789abcdef" not in cleaned
    assert kept in cleaned
    assert "[redacted]" in cleaned


def test_a_malformed_log_call_does_not_raise_through_the_filter():
    stream = _configure("json")
    try:
        logging.getLogger("layers.test").warning("token=%s and %s", "secret456")
    finally:
        logging.config.dictConfig(django_settings.LOGGING)
    [line] = [json.loads(text) for text in _read(stream).splitlines()]
    assert line["message"] == "token=[redacted] and %s"


def test_redact_leaves_plain_lines_alone():
    line = "tile 12/3245/1873 of landmarks kept its 500 largest features (key order kept)"
    assert redact(line) == line


@pytest.mark.django_db
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_any_log_line(client, capfd, landmarks, log_format):
    stream = _configure(log_format)
    secret_headers = {
        "HTTP_AUTHORIZATION": "Bearer secret123",
        "HTTP_COOKIE": "sessionid=cookie-secret-1",
    }
    try:
        client.get("/api/v1/layers/?token=secret456&api_key=secret789", **secret_headers)
        client.get("/no/such/page/?token=secret456", **secret_headers)
        client.get("/tiles/landmarks/30/1/1.pbf?token=secret456", **secret_headers)
        client.get("/metrics?token=secret456", REMOTE_ADDR="203.0.113.9", **secret_headers)
        # What code of ours or a library might write: a URL, a header, a traceback.
        logger = logging.getLogger("layers.test")
        logger.warning(
            "calling %s with %s",
            "https://x.example/?token=secret456",
            "Authorization: Bearer secret123",
        )
        try:
            raise ValueError("postgis://mapserver:dbpass999@db/gis failed for password=secret789")
        except ValueError:
            logger.exception("connecting failed")
    finally:
        logging.config.dictConfig(django_settings.LOGGING)
    logged = _read(stream)
    assert "connecting failed" in logged and "Not Found" in logged  # the lines were written
    assert "Traceback" in logged
    elsewhere = capfd.readouterr()  # anything written to the process's own stdout or stderr
    output = logged + elsewhere.out + elsewhere.err
    assert not any(secret in output for secret in SECRETS), output
    if log_format == "json":
        assert all(json.loads(line) for line in logged.splitlines())


@pytest.mark.django_db
def test_a_queued_task_carries_the_request_id_in_its_message_headers(
    client, landmarks, settings, django_capture_on_commit_callbacks
):
    from mapserver.celery import app

    prefix = f"test-logs-{uuid.uuid4().hex[:8]}-"
    settings.CELERY_QUEUE_PREFIX = prefix
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    app.conf.task_always_eager = False  # to the broker, where no worker takes it
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/layers/landmarks/exports/",
                {"format": "geojson"},
                content_type="application/json",
                HTTP_X_REQUEST_ID="req-export-0001",
            )
        assert response.status_code == 202, response.content
        [message] = broker.lrange(f"{prefix}exports", 0, -1)
    finally:
        app.conf.task_always_eager = True
        broker.delete(f"{prefix}exports")
    headers = json.loads(message)["headers"]
    assert headers["task"] == "layers.tasks.export_run"
    assert headers["request_id"] == "req-export-0001"


@pytest.fixture
def json_worker(transactional_db, settings, tmp_path):
    """A real Celery worker logging JSON to a file, on queues of its own and the test database."""
    from django.db import connection

    from mapserver.celery import app

    db = connection.settings_dict
    prefix = f"test-logs-{uuid.uuid4().hex[:8]}-"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_QUEUE_PREFIX": prefix,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "TILE_CACHE_DIR": str(tmp_path / "tiles"),
        "LOG_FORMAT": "json",
    }
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mapserver", "worker", "--pool=solo",
             f"--hostname={prefix}@%h", f"--queues={prefix}exports,{prefix}default",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    settings.CELERY_QUEUE_PREFIX = prefix
    settings.MEDIA_ROOT = tmp_path / "media"
    app.conf.task_always_eager = False
    try:
        yield log_path
    finally:
        app.conf.task_always_eager = True
        worker.terminate()
        worker.wait(timeout=30)
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(
            f"{prefix}exports", f"{prefix}default"
        )


def test_a_worker_logs_the_request_id_of_the_request_that_queued_its_task(
    client, json_worker, category
):
    layer = LayerFactory(slug="landmarks", category=category, geometry_type="point")
    FeatureFactory(layer=layer)
    response = client.post(
        f"/api/v1/layers/{layer.slug}/exports/",
        {"format": "geojson"},
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-worker-0002",
        HTTP_AUTHORIZATION="Bearer secret123",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = ExportJob.objects.get(pk=job_id).status
        if status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            break
        time.sleep(0.2)
    assert status == JobStatus.SUCCEEDED
    # The task's own line follows its end by a moment.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = json_worker.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        done = [line for line in lines if line["logger"] == "mapserver.tasks"]
        if done:
            break
        time.sleep(0.2)
    [line] = done
    assert line["task"] == "layers.tasks.export_run"
    assert line["state"] == "SUCCESS"
    assert line["request_id"] == "req-worker-0002"
    assert line["duration_ms"] > 0
    # Celery's own lines about the task, in JSON too, carry it while the task runs.
    assert any(
        entry["logger"].startswith("celery") and entry.get("request_id") == "req-worker-0002"
        for entry in lines
    ), text
    assert "secret123" not in text
