"""GET /metrics: what a tile request moves, route families, queue depths and job figures read at
scrape time, who may read it, and the shared files of several processes."""

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone
from knox.models import AuthToken
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from layers.models import ImportJob, JobStatus, TileJob
from layers.tiles.ahead import forget_layers
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import DAI_NOI, point, tile_and_pixel

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
OUTSIDER = "203.0.113.9"  # TEST-NET-3: never an allowed address


def scrape(client, **extra) -> dict[tuple[str, frozenset], float]:
    """Return every sample of a scrape by (name, labels)."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    """Return one sample's value (0 when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def landmarks(category, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    forget_layers()
    layer = LayerFactory(slug="landmarks", category=category, geometry_type="point")
    FeatureFactory(layer=layer, geom=point(DAI_NOI), attributes={"ten": "Đại Nội"})
    return layer


def test_a_tile_request_moves_the_tile_counters_and_a_second_one_hits_the_cache(client, landmarks):
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 15)
    url = f"/tiles/landmarks/15/{x}/{y}.pbf"
    before = scrape(client)

    assert client.get(url).status_code == 200
    first = scrape(client)
    ok = {"family": "tiles", "method": "GET", "status": "200"}
    assert value(first, "mapserver_http_requests_total", **ok) == (
        value(before, "mapserver_http_requests_total", **ok) + 1
    )
    assert value(first, "mapserver_http_request_duration_seconds_count", family="tiles") == (
        value(before, "mapserver_http_request_duration_seconds_count", family="tiles") + 1
    )
    assert value(first, "mapserver_tile_cache_lookups_total", result="miss") == (
        value(before, "mapserver_tile_cache_lookups_total", result="miss") + 1
    )
    assert value(first, "mapserver_tile_cache_lookups_total", result="hit") == value(
        before, "mapserver_tile_cache_lookups_total", result="hit"
    )
    assert value(first, "mapserver_tile_render_seconds_count", zoom="15") == (
        value(before, "mapserver_tile_render_seconds_count", zoom="15") + 1
    )
    assert value(first, "mapserver_tile_render_seconds_sum", zoom="15") > value(
        before, "mapserver_tile_render_seconds_sum", zoom="15"
    )
    # The render lands in a bucket: the +Inf one at least, counted like the rest.
    assert value(first, "mapserver_tile_render_seconds_bucket", zoom="15", le="+Inf") == value(
        first, "mapserver_tile_render_seconds_count", zoom="15"
    )

    assert client.get(url).status_code == 200  # cached once the first response was sent
    second = scrape(client)
    assert value(second, "mapserver_tile_cache_lookups_total", result="hit") == (
        value(first, "mapserver_tile_cache_lookups_total", result="hit") + 1
    )
    assert value(second, "mapserver_tile_cache_lookups_total", result="miss") == value(
        first, "mapserver_tile_cache_lookups_total", result="miss"
    )
    assert value(second, "mapserver_tile_render_seconds_count", zoom="15") == value(
        first, "mapserver_tile_render_seconds_count", zoom="15"
    )
    assert value(second, "mapserver_http_requests_total", **ok) == (
        value(first, "mapserver_http_requests_total", **ok) + 1
    )


def test_requests_are_counted_by_route_family_never_by_path(client, landmarks, staff):
    client.force_login(staff)
    asked = {
        "/tiles/no-such-layer/3/6/3.pbf": ("tiles", "404"),
        "/tiles/landmarks.json": ("tiles", "200"),
        "/api/v1/layers/": ("api", "200"),
        "/ogc/collections": ("ogc", "200"),
        "/admin/": ("admin", "200"),
        "/no/such/page-4711": ("other", "404"),
        "/healthz": ("other", "200"),
    }
    before = scrape(client)
    for url, (_family, status) in asked.items():
        assert str(client.get(url).status_code) == status, url
    after = scrape(client)
    for family, status in set(asked.values()):
        wanted = sum(1 for f, s in asked.values() if (f, s) == (family, status))
        labels = {"family": family, "method": "GET", "status": status}
        moved = value(after, "mapserver_http_requests_total", **labels) - value(
            before, "mapserver_http_requests_total", **labels
        )
        # The scrape itself is family "other" with status 200; it ran once between the two.
        assert moved == wanted + (1 if (family, status) == ("other", "200") else 0), labels
    label_values = {value for _, labels in after for _, value in labels}
    assert not any("no-such-layer" in v or "4711" in v for v in label_values)
    families = {dict(labels)["family"] for name, labels in after if "family" in dict(labels)}
    assert families <= {"tiles", "api", "ogc", "admin", "other"}


def test_a_method_nobody_uses_is_counted_as_other(client):
    client.generic("BREW", "/healthz")
    samples = scrape(client)
    assert value(
        samples, "mapserver_http_requests_total", family="other", method="other", status="405"
    )


def test_an_address_outside_the_allowed_ones_is_refused(client, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "10.20.0.0/16"]
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "permission-denied"
    assert "METRICS_ALLOWED_IPS" in body["detail"]
    assert "mapserver_http_requests_total" not in response.content.decode()
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.21.0.1").status_code == 403


def test_behind_a_proxy_the_client_address_decides(client, settings):
    # Through nginx every request comes from loopback: its own address must not let anyone in.
    settings.NUM_PROXIES = 0
    forwarded = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDER)
    assert forwarded.status_code == 403
    settings.NUM_PROXIES = 1
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDER).status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    # A client cannot put an allowed address first: the proxy's entry is the last one.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR=f"127.0.0.1, {OUTSIDER}").status_code == 403


def test_the_metrics_token_opens_it_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "metrics-token-for-prometheus-42"
    right = client.get(
        "/metrics",
        REMOTE_ADDR=OUTSIDER,
        HTTP_AUTHORIZATION="Bearer metrics-token-for-prometheus-42",
    )
    assert right.status_code == 200
    assert b"mapserver_http_requests_total" in right.content
    for wrong in ("Bearer metrics-token-for-prometheus-4", "Bearer ", "metrics-token-for-pro"):
        assert (
            client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=wrong).status_code
            == 403
        ), wrong
    settings.METRICS_TOKEN = ""  # no token set: none is accepted, not even an empty one
    assert (
        client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer ").status_code
        == 403
    )


def test_staff_may_read_it_signed_in_or_with_their_api_token(client, staff, signed_in):
    _, staff_key = AuthToken.objects.create(user=staff)
    _, other_key = AuthToken.objects.create(user=signed_in)
    header = {"REMOTE_ADDR": OUTSIDER}
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION=f"Token {staff_key}", **header).status_code == 200
    )
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION=f"Token {other_key}", **header).status_code == 403
    )
    client.force_login(signed_in)
    assert client.get("/metrics", **header).status_code == 403
    client.force_login(staff)
    assert client.get("/metrics", **header).status_code == 200


def test_a_bad_allowed_address_setting_names_the_entry(client, settings):
    from django.core.exceptions import ImproperlyConfigured

    from mapserver.observability.views import allowed_networks

    with pytest.raises(ImproperlyConfigured, match=r"'10\.0\.0\.300'"):
        allowed_networks(("127.0.0.1", "10.0.0.300"))


def test_queue_depth_shows_a_message_waiting_in_redis(client, settings):
    prefix = f"test-metrics-{uuid.uuid4().hex[:8]}-"
    settings.CELERY_QUEUE_PREFIX = prefix
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = f"{prefix}imports"
    try:
        assert value(scrape(client), "mapserver_celery_queue_messages", queue="imports") == 0
        broker.lpush(queue, b'{"body": "a message no worker will take"}')
        # kombu keeps messages sent with a priority in lists of their own beside the queue.
        broker.lpush(f"{prefix}tiles\x06\x163", b"{}")
        samples = scrape(client)
        assert value(samples, "mapserver_celery_queue_messages", queue="imports") == 1
        assert value(samples, "mapserver_celery_queue_messages", queue="tiles") == 1
        assert value(samples, "mapserver_celery_queue_messages", queue="exports") == 0
        assert value(samples, "mapserver_dependency_up", dependency="broker") == 1
    finally:
        broker.delete(queue, f"{prefix}tiles\x06\x163")


def test_a_broker_that_does_not_answer_is_reported_not_fatal(client, settings):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    samples = scrape(client)
    assert value(samples, "mapserver_dependency_up", dependency="broker") == 0
    assert value(samples, "mapserver_dependency_up", dependency="database") == 1
    assert not any(name == "mapserver_celery_queue_messages" for name, _ in samples)


def test_job_figures_come_from_the_job_rows(client, landmarks, settings):
    settings.METRICS_JOB_WINDOW_S = 3600
    now = timezone.now()
    ImportJob.objects.create(
        layer=landmarks,
        status=JobStatus.FAILED,
        started_at=now - timedelta(seconds=90),
        finished_at=now - timedelta(seconds=5),
    )
    ImportJob.objects.create(  # ended before the window: not counted
        layer=landmarks,
        status=JobStatus.FAILED,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2),
    )
    ImportJob.objects.create(
        layer=landmarks,
        status=JobStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=10),
        finished_at=now - timedelta(seconds=8),
    )
    queued = TileJob.objects.create(layer=landmarks, status=JobStatus.QUEUED)
    TileJob.objects.filter(pk=queued.pk).update(created_at=now - timedelta(seconds=600))
    TileJob.objects.create(layer=landmarks, status=JobStatus.RUNNING, started_at=now)

    samples = scrape(client)
    assert value(samples, "mapserver_jobs_ended", kind="import", status="failed") == 1
    assert value(samples, "mapserver_jobs_ended", kind="import", status="succeeded") == 1
    assert value(samples, "mapserver_jobs_ended", kind="export", status="failed") == 0
    assert value(samples, "mapserver_jobs_active", kind="tile", status="queued") == 1
    assert value(samples, "mapserver_jobs_active", kind="tile", status="running") == 1
    assert value(samples, "mapserver_jobs_active", kind="import", status="queued") == 0
    assert 600 <= value(samples, "mapserver_job_oldest_queued_age_seconds", kind="tile") < 700
    assert value(samples, "mapserver_job_oldest_queued_age_seconds", kind="import") == 0
    failed = {"kind": "import", "status": "failed"}
    bucket = "mapserver_job_duration_seconds_bucket"
    assert value(samples, bucket, le="60.0", **failed) == 0  # it ran 85 s
    assert value(samples, bucket, le="120.0", **failed) == 1
    assert value(samples, bucket, le="+Inf", **failed) == 1
    assert value(samples, "mapserver_job_duration_seconds_gsum", **failed) == pytest.approx(85)
    done = {"kind": "import", "status": "succeeded"}
    assert value(samples, bucket, le="1.0", **done) == 0
    assert value(samples, bucket, le="5.0", **done) == 1


MULTIPROCESS_SCRIPT = """
import os, sys
from mapserver.observability import metrics  # switches to the shared files, by slot
from prometheus_client import Counter

things = Counter("test_things", "Things counted by this test.", ["kind"])
things.labels("a").inc(int(sys.argv[1]))
if sys.argv[2] == "fork":
    pid = os.fork()
    if pid == 0:
        things.labels("a").inc(100)
        os._exit(0)
    os.waitpid(pid, 0)
if sys.argv[2] == "hold":
    print("counted", flush=True)
    sys.stdin.readline()
"""


def test_processes_share_files_by_slot_and_a_successor_carries_the_counts_on(tmp_path):
    directory = tmp_path / "metrics"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}

    def run(count: int, mode: str = "exit", **kwargs):
        return subprocess.Popen(
            [sys.executable, "-c", MULTIPROCESS_SCRIPT, str(count), mode],
            cwd=ROOT,
            env=env,
            text=True,
            **kwargs,
        )

    def total() -> float:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))
        return registry.get_sample_value("test_things_total", {"kind": "a"})

    # One after the other: the second takes the first's slot and goes on from its count.
    assert run(2).wait(timeout=60) == 0
    assert run(3).wait(timeout=60) == 0
    assert sorted(p.name for p in directory.glob("*.db")) == ["counter_slot0.db"]
    assert total() == 5

    # At the same time: each has a slot of its own.
    holder = run(1, "hold", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "counted"
        assert run(4).wait(timeout=60) == 0
        assert sorted(p.name for p in directory.glob("*.db")) == [
            "counter_slot0.db",
            "counter_slot1.db",
        ]
        assert total() == 10
    finally:
        holder.communicate("\n", timeout=60)

    # A forked child does not write into its parent's slot.
    assert run(1, "fork").wait(timeout=60) == 0
    assert total() == 111
    assert len(list(directory.glob("counter_*.db"))) == 2


def test_a_scrape_reads_the_database_once_per_kind_of_job(client, django_assert_num_queries):
    # One query per kind of job (import, tile, export) and one for the outbox.
    with django_assert_num_queries(4):
        assert client.get("/metrics").status_code == 200
