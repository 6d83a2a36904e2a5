"""Where a source may point (the guard), what a bad source says, and the admin: credentials that
are never shown again, "sync now", the banner of failing sources, and beat's schedule."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from layers.models import Feature
from mapserver.celery import route_task
from sources import services
from sources.guard import SourceRefused, check_url
from sources.models import LayerSource, RunStatus, SourceRun
from sources.readers import arcgis_query_url, gdal_path, scrub, wfs_url
from tests.factories import LayerFactory, UserFactory
from tests.sources.conftest import geojson, places

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def target(category):
    return LayerFactory(slug="di-tich", category=category, geometry_type="point")


def file_source(layer, url, **kw) -> LayerSource:
    values = {"mode": "upsert", "key_field": "ma", **kw}
    return services.source_save(source=LayerSource(layer=layer, kind="file", url=url, **values))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "Only http:// and https://"),
        ("ftp://example.org/x.zip", "Only http:// and https://"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://0.0.0.0:8000/x", "unspecified"),
        ("http://127.0.0.1:8000/x", "loopback"),
    ],
)
def test_the_guard_refuses_what_a_source_may_not_reach(settings, url, why):
    settings.SOURCES_ALLOWED_NETWORKS = []
    with pytest.raises(SourceRefused, match=why):
        check_url(url)


def test_loopback_is_allowed_only_when_listed_and_the_host_list_restricts(settings):
    settings.SOURCES_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert check_url("http://127.0.0.1:9/x") == ["127.0.0.1"]
    settings.SOURCES_ALLOWED_HOSTS = [".hue.gov.vn"]
    with pytest.raises(SourceRefused, match="SOURCES_ALLOWED_HOSTS"):
        check_url("http://127.0.0.1:9/x")
    settings.SOURCES_ALLOWED_HOSTS = ["127.0.0.0/8"]
    assert check_url("http://127.0.0.1:9/x") == ["127.0.0.1"]


def test_a_redirect_to_the_metadata_address_fails_the_run(target, http_source):
    """The first URL is allowed (loopback, listed); it redirects to the cloud metadata address,
    which the guard refuses: through our download and through GDAL's own HTTP alike."""
    http_source.server.redirects["/places.geojson"] = "http://169.254.169.254/latest/meta-data/"
    http_source.server.redirects["/ogc/collections/x"] = "http://169.254.169.254/ogc/collections/x"
    for source in (
        file_source(target, f"{http_source.base}/places.geojson"),
        LayerSource(
            layer=LayerFactory(category=target.category),
            kind="oapif",
            url=f"{http_source.base}/ogc/collections/x",
            mode="replace",
        ),
    ):
        if source.pk is None:
            services.source_save(source=source)
        run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
        assert run.status == RunStatus.FAILED
        assert "169.254.169.254" in run.error and "metadata" in run.error, run.error
    assert not Feature.objects.filter(layer=target).exists()


def test_a_source_larger_than_the_byte_cap_fails(target, http_source, settings):
    settings.SOURCES_MAX_BYTES = 2000
    items = places("A", "B", "C", "D", "E", "F") * 10
    for n, item in enumerate(items):
        item.key = f"K{n}"
    http_source.write("big.geojson", json.dumps(geojson(items)))
    run = services.source_sync(
        source=file_source(target, f"{http_source.base}/big.geojson"),
        trigger=SourceRun.Trigger.MANUAL,
    )
    assert run.status == RunStatus.FAILED
    assert "SOURCES_MAX_BYTES" in run.error


def test_a_repeated_key_fails_with_what_to_do(target, http_source):
    items = places("A", "B", "C")
    items[2].key = "A"
    http_source.write("dup.geojson", json.dumps(geojson(items)))
    run = services.source_sync(
        source=file_source(target, f"{http_source.base}/dup.geojson"),
        trigger=SourceRun.Trigger.MANUAL,
    )
    assert run.status == RunStatus.FAILED
    assert "“A” (2 times)" in run.error and "unique key field" in run.error
    missing = file_source(
        LayerFactory(category=target.category), f"{http_source.base}/dup.geojson", key_field="x"
    )
    run = services.source_sync(source=missing, trigger=SourceRun.Trigger.MANUAL)
    assert "has no field “x”" in run.error and "ma, ten, loai" in run.error


def test_replace_mode_mirrors_a_csv_file(target, http_source):
    http_source.write(
        "p.csv", "ma,ten,lon,lat\nA,Đại Nội,107.5775,16.4698\nB,Thiên Mụ,107.5454,16.4535\n"
    )
    source = file_source(
        target,
        f"{http_source.base}/p.csv",
        mode="replace",
        key_field="",
        options={"lon_field": "lon", "lat_field": "lat"},
    )
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sorted(Feature.objects.filter(layer=target).values_list("name", flat=True)) == [
        "Thiên Mụ",
        "Đại Nội",
    ]
    http_source.write("p.csv", "ma,ten,lon,lat\nC,Lăng Cô,108.0705,16.2265\n")
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert (run.added, run.removed) == (1, 2)
    assert list(Feature.objects.filter(layer=target).values_list("name", flat=True)) == ["Lăng Cô"]


def test_credentials_are_sent_never_shown_nor_logged(
    target, http_source, client, admin_user, caplog
):
    token = "Bearer s3cret-token-Hue-2025"
    http_source.server.required_auth = token
    http_source.write("places.geojson", json.dumps(geojson(places("A", "B"))))
    source = LayerSource(
        layer=target,
        kind="file",
        url=f"{http_source.base}/places.geojson",
        auth="header",
        mode="upsert",
        key_field="ma",
    )
    services.source_save(source=source, secret=token)
    caplog.set_level(logging.DEBUG)
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    # A wrong token: the run fails and says what to do, without the token.
    services.source_save(source=source, secret="Bearer wrong-" + "x" * 8)
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.FAILED and "401" in run.error and "credentials" in run.error
    assert "wrong-xxxxxxxx" not in run.error
    assert "s3cret" not in caplog.text and "wrong-xxxxxxxx" not in caplog.text
    assert all("wrong-xxxxxxxx" not in m.body for m in mail.outbox)

    client.force_login(admin_user)
    page = client.get(f"/admin/sources/layersource/{source.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "wrong-xxxxxxxx" not in html and "s3cret" not in html
    assert "set (not shown)" in html or "đã đặt" in html.lower() or 'name="new_secret"' in html
    # Saving the form without a new secret keeps the stored one.
    form = {
        "layer": target.pk,
        "kind": "file",
        "url": source.url,
        "source_layer": "",
        "options": "{}",
        "mode": "upsert",
        "key_field": "ma",
        "auth": "header",
        "username": "",
        "enabled": "on",
        "interval": "",
        "crontab": "",
        "new_secret": "",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
    }
    saved = client.post(f"/admin/sources/layersource/{source.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    source.refresh_from_db()
    assert source.plain_secret() == "Bearer wrong-" + "x" * 8


def test_a_secret_is_sealed_at_rest_and_survives_a_key_rotation(target, http_source, settings):
    """A dump of the database holds no password; the key follows Django's SECRET_KEY rotation."""
    from django.core.management import call_command
    from django.db import connection

    token = "Bearer kho-du-lieu-Hue-2025"
    http_source.server.required_auth = token
    http_source.write("places.geojson", json.dumps(geojson(places("A", "B"))))
    source = file_source(target, f"{http_source.base}/places.geojson", auth="header")
    services.source_save(source=source, secret=token)

    def stored() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM sources_layersource WHERE id = %s", [source.pk])
            return cursor.fetchone()[0]

    at_rest = stored()
    assert at_rest.startswith("fernet:") and "kho-du-lieu" not in at_rest
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error  # the server got the token itself

    # Rotation: the old key as a fallback still opens it; re-sealed, the new key alone does.
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "k" * 40, [old_key]
    source.refresh_from_db()
    assert source.plain_secret() == token
    call_command("sources_reseal", stdout=io.StringIO())
    assert stored() != at_rest
    settings.SECRET_KEY_FALLBACKS = []
    source.refresh_from_db()
    assert source.plain_secret() == token

    # A key that cannot open it: the run fails, says what to do, and changes nothing.
    settings.SECRET_KEY = "yet-another-key-" + "z" * 40
    before = sorted(Feature.objects.filter(layer=target).values_list("name", flat=True))
    http_source.write("places.geojson", json.dumps(geojson(places("C"))))
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.FAILED
    assert "SECRET_KEY" in run.error and "Type the password or token again" in run.error
    assert sorted(Feature.objects.filter(layer=target).values_list("name", flat=True)) == before
    assert len(before) == 2
    with pytest.raises(Exception, match="SECRET_KEY_FALLBACKS"):
        call_command("sources_reseal", stdout=io.StringIO())


def test_the_migration_seals_what_was_stored_plain(target):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("sources.migrations.0002_seal_secrets")
    source = file_source(target, "https://data.hue.gov.vn/places.geojson", auth="header")
    LayerSource.objects.filter(pk=source.pk).update(secret="Bearer plain-old")
    migration.seal_stored(apps, None)
    source.refresh_from_db()
    assert source.secret.startswith("fernet:") and source.plain_secret() == "Bearer plain-old"
    migration.unseal_stored(apps, None)
    source.refresh_from_db()
    assert source.secret == "Bearer plain-old"


def test_the_admin_banner_sync_now_and_the_schedule(target, http_source, client):
    staff = UserFactory(username="gis", is_staff=True, email="gis@hue.example.vn")
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="sources"))
    client.force_login(staff)
    source = file_source(target, f"{http_source.base}/missing.geojson")
    assert "source-failures" not in client.get("/admin/").content.decode()

    # "Sync now" queues the task (run here at once: tasks are eager in tests); it fails (404).
    answer = client.post(
        "/admin/sources/layersource/",
        {"action": "sync_now", "_selected_action": [source.pk]},
    )
    assert answer.status_code == 302
    run = source.runs.get()
    assert run.trigger == "manual" and run.status == RunStatus.FAILED and "404" in run.error
    assert "gis@hue.example.vn" in mail.outbox[-1].to
    banner = client.get("/admin/").content.decode()
    assert 'id="source-failures"' in banner and "di-tich" in banner

    # A schedule set in the admin becomes beat's entry; the task goes to the imports queue.
    every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.MINUTES)
    source.interval = every
    services.source_save(source=source)
    task = PeriodicTask.objects.get(pk=source.periodic_task_id)
    assert (task.task, json.loads(task.args), task.enabled) == (
        "sources.tasks.source_sync",
        [source.pk],
        True,
    )
    assert route_task(task.task, [], {}, {})["queue"].endswith("imports")
    nightly = CrontabSchedule.objects.create(minute="0", hour="2")
    source.interval, source.crontab = None, nightly
    services.source_save(source=source)
    task.refresh_from_db()
    assert task.crontab_id == nightly.pk and task.interval_id is None
    source.crontab = None
    services.source_save(source=source)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_beat_loads_the_static_schedule_and_the_sources_from_the_database(target, settings):
    from django_celery_beat.schedulers import DatabaseScheduler

    from mapserver.celery import app

    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    source = LayerSource(
        layer=target, kind="file", url="http://127.0.0.1/x.geojson", mode="replace"
    )
    source.interval = every
    services.source_save(source=source)
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    scheduler = DatabaseScheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    names = set(scheduler.all_as_schedule())
    assert {"jobs-sweep", "outbox-flush", "exports-cleanup"} <= names
    assert f"Layer source {source.pk}: di-tich" in names


def test_urls_built_for_gdal():
    assert gdal_path(LayerSource(kind="oapif", url="https://gis.hue.vn/ogc/collections/roads")) == (
        "OAPIF:https://gis.hue.vn/ogc/collections/roads",
        None,
        {"PAGE_SIZE": "1000"},
    )
    path, layer, options = gdal_path(
        LayerSource(kind="wfs", url="https://gis.hue.vn/wfs", source_layer="ns:roads")
    )
    assert path == "WFS:https://gis.hue.vn/wfs?SERVICE=WFS&VERSION=2.0.0" and layer == "ns:roads"
    assert (
        wfs_url("https://x/wfs?service=WFS&version=1.1.0")
        == "https://x/wfs?service=WFS&version=1.1.0"
    )
    query = arcgis_query_url("https://x/arcgis/rest/services/Roads/FeatureServer/0", "tok")
    assert query.startswith("https://x/arcgis/rest/services/Roads/FeatureServer/0/query?")
    assert "where=1%3D1" in query and "f=json" in query and "token=tok" in query
    source = LayerSource(kind="arcgis", url="https://x/arcgis/rest/services/Roads/MapServer/3",
                         auth="token")  # fmt: skip
    source.secret = "tok-123"
    path, _layer, options = gdal_path(source)
    assert path.startswith("ESRIJSON:") and options == {"FEATURE_SERVER_PAGING": "YES"}
    assert "tok-123" not in scrub(f"error fetching {path}", source)
    with pytest.raises(Exception, match="FeatureServer/<n>"):
        arcgis_query_url("https://x/arcgis/rest/services/Roads")


@pytest.mark.parametrize("kind", ["gpkg", "shp.zip"])
def test_a_geopackage_or_zipped_shapefile_at_a_url(target, http_source, tmp_path, kind):
    import shapely

    from tests.importers.conftest import shapefile_parts, write_layer, zip_files

    def publish(items, n):
        folder = tmp_path / f"v{n}"
        folder.mkdir()
        geoms = [shapely.Point(p.lon, p.lat) for p in items]
        fields = {"ma": [p.key for p in items], "ten": [p.name for p in items]}
        if kind == "gpkg":
            path = write_layer(folder / "places.gpkg", geoms, fields, driver="GPKG")
        else:
            shp = write_layer(
                folder / "places.shp", geoms, fields, driver="ESRI Shapefile", encoding="UTF-8"
            )
            path = zip_files(folder / "places.zip", *shapefile_parts(shp))
        return http_source.write(f"places.{kind}", path.read_bytes())

    url = publish(places("A", "B", "C", "D"), 1)
    source = file_source(target, url)
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.added == 4
    publish(places("A", "B", "C", "E", B={"name": "Chùa Thiên Mụ mới"}), 2)
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.added, run.changed, run.removed, run.unchanged) == (1, 1, 1, 2)
    names = dict(Feature.objects.filter(layer=target).values_list("attributes__ma", "name"))
    assert names == {"A": "Đại Nội", "B": "Chùa Thiên Mụ mới", "C": "Lăng Cô", "E": "Bạch Mã"}


def test_the_change_page_lists_the_latest_runs_and_resume_restarts_a_paused_source(
    target, http_source, admin_client, settings
):
    settings.SOURCES_KEEP_RUNS = 3
    source = file_source(target, f"{http_source.base}/gone.geojson")
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    source.interval = every
    services.source_save(source=source)
    for _ in range(4):
        services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert source.runs.count() == 3  # the oldest was pruned
    source.refresh_from_db()
    assert source.paused_at is not None
    assert not PeriodicTask.objects.get(pk=source.periodic_task_id).enabled
    page = admin_client.get(f"/admin/sources/layersource/{source.pk}/change/").content.decode()
    assert page.count("<tr><td>") == 3 and "404" in page

    answer = admin_client.post(
        "/admin/sources/layersource/", {"action": "resume", "_selected_action": [source.pk]}
    )
    assert answer.status_code == 302
    source.refresh_from_db()
    assert (source.paused_at, source.consecutive_failures) == (None, 0)
    assert PeriodicTask.objects.get(pk=source.periodic_task_id).enabled


def test_an_arcgis_token_is_in_no_warning_log_or_error_when_the_server_is_down(
    target, http_source, caplog, recwarn
):
    url = http_source.publish_arcgis(places("A", "B", "C"))
    source = LayerSource(layer=target, kind="arcgis", url=url, auth="token", mode="replace")
    services.source_save(source=source, secret="tok-HUE-0123456789")
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert any("token=tok-HUE-0123456789" in r for r in http_source.requests)  # it was sent
    http_source.stop()
    caplog.set_level(logging.DEBUG)
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.FAILED
    said = [run.error, caplog.text, json.dumps(run.messages)]
    said += [str(w.message) for w in recwarn] + [m.body for m in mail.outbox]
    assert all("tok-HUE-0123456789" not in text for text in said)
    assert any("token=***" in m["message"] for m in run.messages)  # GDAL said the URL


def test_upsert_removes_the_layers_features_without_a_key_or_with_a_repeated_one(
    target, http_source
):
    from django.contrib.gis.geos import Point

    from layers.services import FeatureRecord, layer_replace_features

    layer_replace_features(
        layer=target,
        records=[
            FeatureRecord(Point(107.5775, 16.4698, srid=4326), {"ma": "A", "ten": "Đại Nội"}),
            FeatureRecord(Point(107.5775, 16.4698, srid=4326), {"ma": "A", "ten": "Đại Nội"}),
            FeatureRecord(Point(107.5454, 16.4535, srid=4326), {"ten": "không mã"}),
        ],
    )
    first = Feature.objects.filter(layer=target).order_by("id").first()
    http_source.write("p.geojson", json.dumps(geojson(places("A", "B"))))
    source = file_source(target, f"{http_source.base}/p.geojson")
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.added, run.removed) == (1, 2)
    kept = Feature.objects.filter(layer=target).order_by("id")
    assert [f.attributes["ma"] for f in kept] == ["A", "B"]
    assert kept[0].pk == first.pk  # the first of the repeated ones stays, updated in place


def test_sync_now_runs_on_a_real_worker_where_loopback_is_refused_by_default(
    target, http_source, celery_worker_process
):
    """ "Sync now" goes through the outbox and the broker to a real Celery worker (imports
    queue). That worker runs with the default settings, which refuse loopback addresses: the
    run fails, recorded, and says which setting would allow it."""
    import time

    http_source.write("p.geojson", json.dumps(geojson(places("A"))))
    source = file_source(target, f"{http_source.base}/p.geojson")
    dispatch = services.source_sync_start(source=source)
    assert dispatch.sent is True
    deadline = time.monotonic() + 60
    while not SourceRun.objects.filter(source=source).exclude(status="running").exists():
        assert time.monotonic() < deadline, "the worker did not run the sync"
        time.sleep(0.2)
    run = SourceRun.objects.get(source=source)
    assert run.status == RunStatus.FAILED and run.trigger == "manual"
    assert "loopback" in run.error and "SOURCES_ALLOWED_NETWORKS" in run.error
    assert http_source.requests == []  # nothing reached the server
    assert not Feature.objects.filter(layer=target).exists()


def test_https_passes_the_guard_as_a_checked_tunnel(tmp_path, settings):
    """An HTTPS source goes through the guard as a CONNECT tunnel: the address is checked the
    same way, the bytes are counted, the proxy never sees the plain text."""
    import ssl
    import subprocess
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import requests

    from sources.guard import GuardProxy

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "p.geojson").write_text(json.dumps(geojson(places("A"))))
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    )
    server.RequestHandlerClass.log_message = lambda *args: None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}/p.geojson"
    try:
        with GuardProxy() as proxy:
            session = requests.Session()
            session.trust_env = False
            proxies = {"https": proxy.url}
            answer = session.get(url, proxies=proxies, verify=str(tmp_path / "cert.pem"))
            assert answer.json()["features"][0]["properties"]["ma"] == "A"
            assert proxy.budget.used >= len(answer.content)
            with pytest.raises(requests.exceptions.ProxyError):
                session.get("https://169.254.169.254/latest/", proxies=proxies, timeout=10)
            assert proxy.budget.refusals[-1][0] == 403
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
