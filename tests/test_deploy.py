"""The production deployment as `manage.py deployconf` renders it from the settings file template
(deploy/mapserver.env.example), checked with the real tools: `systemd-analyze verify` and
`systemd-analyze security` on the units, `nginx -t` on the TLS site, and that site run by nginx in
front of gunicorn (started as its unit starts it), spoken to over HTTPS.

systemd is not PID 1 here, so no unit is started by systemd: `verify` loads each unit as systemd
would (keys, values, that each ExecStart program exists) and `security --offline` rates the sandbox.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from layers.tiles.nginx import standalone_config
from mapserver.celery import QUEUES
from mapserver.deployment import ENV_EXAMPLE, SUBSCRIBERS, settings_file_values, workers

ROOT = Path(__file__).resolve().parent.parent
HOST = "maps.hue.example"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
OPENSSL = shutil.which("openssl")
# `systemd-analyze security` rates exposure 0-10 (shown) or 0-100 (--threshold): 2.5 is "OK".
EXPOSURE_THRESHOLD = 25
STARTUP_DEADLINE_S = 20.0
# Read by the code but never set by an administrator: manage.py, wsgi.py and celery.py set it.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def names_read_by_the_code() -> set[str]:
    """Return every environment variable the server's code reads (settings, gunicorn, commands)."""
    patterns = [
        r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"',  # django-environ in the settings
        r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"',
        r'os\.environ\[\s*"([A-Z][A-Z0-9_]*)"\s*\]',
        r'os\.getenv\(\s*"([A-Z][A-Z0-9_]*)"',
        r'\b_int\(\s*"([A-Z][A-Z0-9_]*)"',  # deploy/gunicorn.conf.py
        r'\w+_VARIABLE\s*=\s*"([A-Z][A-Z0-9_]*)"',  # a name kept in a constant first
    ]
    names = set()
    for folder in ("mapserver", "layers", "frontend", "deploy"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                names.update(re.findall(pattern, text))
    return names - NOT_SETTINGS


def test_the_settings_template_lists_every_setting_the_code_reads():
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    settings_file_values(text)  # every line that sets a value reads alike in systemd and Django
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    # The units read one more per queue: each worker's number of processes.
    expected = names_read_by_the_code() | {worker.concurrency_variable for worker in workers()}
    assert "SECRET_KEY" in expected and "WEB_WORKERS" in expected  # the scan finds both kinds
    assert sorted(expected - listed) == [], "missing from deploy/mapserver.env.example"
    assert sorted(listed - expected) == [], "listed but read by nothing"


def test_the_settings_template_leaves_only_the_secret_key_to_fill():
    values = settings_file_values(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert [name for name, value in values.items() if not value] == ["SECRET_KEY"]
    assert values["DEBUG"] == "false"
    assert values["BEHIND_TLS"] == "true"
    assert "PASSWORD" not in values.get("DATABASE_URL", "").upper()


def test_a_settings_line_read_differently_by_systemd_and_django_is_refused():
    for line in ['SECRET_KEY="abc"', "SECRET_KEY= abc", "DATABASE_URL=postgis://u:p$w@h/db"]:
        with pytest.raises(ValueError, match="Line 1"):
            settings_file_values(line)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def readable_dir(prefix: str) -> Path:
    """Return a new folder nginx's workers (nobody, when the tests run as root) can read."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture
def deploy_dir():
    folder = readable_dir("test-deploy-")
    for name in ("media", "tiles", "static", "out", "nginx"):
        (folder / name).mkdir(mode=0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def certificate(deploy_dir) -> tuple[Path, Path]:
    """Make a throwaway self-signed certificate for HOST (and 127.0.0.1) with openssl."""
    if OPENSSL is None:
        pytest.skip("no openssl (scripts/setup.sh installs it)")
    cert, key = deploy_dir / "fullchain.pem", deploy_dir / "privkey.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def production_environment(deploy_dir: Path, certificate: tuple[Path, Path], **more: str) -> dict:
    """Return the environment of a service: the template's settings, a secret, paths of the test."""
    values = settings_file_values(ENV_EXAMPLE.read_text(encoding="utf-8"))
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        **values,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "TLS_CERTIFICATE": str(certificate[0]),
        "TLS_CERTIFICATE_KEY": str(certificate[1]),
        "MEDIA_ROOT": str(deploy_dir / "media"),
        "TILE_CACHE_DIR": str(deploy_dir / "tiles"),
        "STATIC_ROOT": str(deploy_dir / "static"),
        "BACKUP_DIR": str(deploy_dir / "backups"),
        **more,
    }


def deployconf(environment: dict, output: Path, *, http: str, https: str) -> dict[str, Path]:
    """Run `manage.py deployconf` as an administrator would; return the files by name."""
    result = subprocess.run(
        [sys.executable, "manage.py", "deployconf", "-o", str(output),
         "--http-listen", http, "--https-listen", https],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return {Path(line).name: Path(line) for line in result.stdout.split()}


def unit_values(path: Path, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", path.read_text(), flags=re.MULTILINE)


def systemd_verify(*units: Path) -> str:
    """Return what `systemd-analyze verify` says about the units ("" when it finds nothing)."""
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True, text=True, timeout=120, cwd=units[0].parent,
    )  # fmt: skip
    said = (result.stdout + result.stderr).strip()
    return said or ("" if result.returncode == 0 else f"exit {result.returncode}")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="no systemd-analyze (scripts/setup.sh)")
def test_the_units_pass_systemd_analyze(deploy_dir, certificate):
    environment = production_environment(deploy_dir, certificate)
    files = deployconf(environment, deploy_dir / "out", http="80", https="443")
    services = sorted(
        path
        for name, path in files.items()
        if name.endswith(".service") and name != "mapserver-backup.service"
    )
    target = files["mapserver.target"]
    assert [path.name for path in services] == sorted(
        ["mapserver-web.service", "mapserver-beat.service"]
        + [f"mapserver-worker-{queue}.service" for queue in QUEUES]
        + [subscriber.unit for subscriber in SUBSCRIBERS]
    )

    assert systemd_verify(*services, target) == ""
    # The backup: a oneshot, started by its timer, not a member of the target.
    backup, timer = files["mapserver-backup.service"], files["mapserver-backup.timer"]
    assert systemd_verify(backup, timer) == ""
    assert unit_values(timer, "OnCalendar") == ["*-*-* 02:30:00"]
    assert environment["BACKUP_DIR"] in unit_values(backup, "ReadWritePaths")
    assert "mapserver-backup" not in target.read_text()
    rating = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}",
         *map(str, services)],
        capture_output=True, text=True, timeout=120, cwd=deploy_dir / "out",
    )  # fmt: skip
    assert rating.returncode == 0, rating.stdout[-3000:] + rating.stderr
    assert len(re.findall(r"Overall exposure level for \S+: [0-2]\.\d OK", rating.stdout)) == len(
        services
    ), rating.stdout[-3000:]

    # The checks can fail: a mistyped setting and a missing program are reported.
    broken = deploy_dir / "out" / "mapserver-broken.service"
    web = files["mapserver-web.service"].read_text()
    broken.write_text(web.replace("Restart=on-failure", "Restart=sometimes"))
    assert "Failed to parse service restart specifier" in systemd_verify(broken)
    broken.write_text(web.replace("/gunicorn ", "/no-such-gunicorn "))
    assert "is not executable" in systemd_verify(broken)
    broken.unlink()

    for service in services:
        assert unit_values(service, "User") == ["mapserver"]
        assert unit_values(service, "EnvironmentFile") == ["/etc/mapserver/mapserver.env"]
        assert unit_values(service, "Restart") == ["on-failure"]
        assert unit_values(service, "ProtectSystem") == ["strict"]
        assert unit_values(service, "NoNewPrivileges") == ["yes"]
        assert unit_values(service, "PrivateTmp") == ["yes"]
        assert unit_values(service, "WantedBy") == ["mapserver.target"]
        assert unit_values(service, "PartOf") == ["mapserver.target"]
        assert unit_values(service, "ReadWritePaths") == [
            str(deploy_dir / "media"),
            str(deploy_dir / "tiles"),
        ]
    for worker in workers():
        unit = files[worker.unit]
        [command] = unit_values(unit, "ExecStart")
        assert f"--queues=${{CELERY_QUEUE_PREFIX}}{worker.queue} " in command
        assert f"--concurrency=${{{worker.concurrency_variable}}}" in command
        # Long enough for a warm shutdown; the main process alone gets the TERM.
        assert unit_values(unit, "TimeoutStopSec") == [str(worker.stop_timeout_s)]
        assert unit_values(unit, "KillMode") == ["mixed"]
    web_unit = files["mapserver-web.service"]
    assert unit_values(web_unit, "Type") == ["notify"]
    [web_command] = unit_values(web_unit, "ExecStart")
    assert web_command.endswith(f"--config {ROOT}/deploy/gunicorn.conf.py")
    beat = unit_values(files["mapserver-beat.service"], "ExecStart")
    assert len(beat) == 1 and " beat " in beat[0]

    manage = files["mapserver-manage"]
    assert os.access(manage, os.X_OK)
    syntax = subprocess.run(["sh", "-n", str(manage)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    assert files["mapserver.env.example"].read_text() == ENV_EXAMPLE.read_text()


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="no systemd-analyze (scripts/setup.sh)")
def test_a_subscriber_gets_a_unit_of_its_own(settings, tmp_path):
    from mapserver.deployment import Deployment, Subscriber

    settings.DEBUG = False
    settings.BEHIND_TLS = True
    settings.NUM_PROXIES = 1
    settings.TILE_ACCEL_REDIRECT_PREFIX = "/_tile_cache"
    settings.TLS_CERTIFICATE, settings.TLS_CERTIFICATE_KEY = "/etc/c.pem", "/etc/k.pem"
    settings.MEDIA_ROOT, settings.TILE_CACHE_DIR = tmp_path / "media", tmp_path / "tiles"
    deployment = Deployment(subscribers=(Subscriber("mqtt", "sensorsubscribe --broker local"),))
    written = {path.name: path for path in deployment.write(tmp_path / "out")}
    unit = written["mapserver-subscriber-mqtt.service"]
    assert unit_values(unit, "ExecStart") == [
        f"{Path(sys.executable).parent}/python {settings.BASE_DIR}/manage.py "
        "sensorsubscribe --broker local"
    ]
    assert "mapserver-subscriber-mqtt.service" in written["mapserver.target"].read_text()
    assert systemd_verify(unit) == ""


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("BEHIND_TLS", "false", "BEHIND_TLS"),
        ("TLS_CERTIFICATE", "", "TLS_CERTIFICATE"),
        ("NUM_PROXIES", "0", "NUM_PROXIES=1"),
        ("MEDIA_ROOT", "/srv/media files", "MEDIA_ROOT"),
    ],
)
def test_deployconf_refuses_settings_that_would_break_the_deployment(
    deploy_dir, certificate, name, value, error
):
    environment = production_environment(deploy_dir, certificate, **{name: value})
    result = subprocess.run(
        [sys.executable, "manage.py", "deployconf", "-o", str(deploy_dir / "out")],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert error in result.stderr
    assert not any((deploy_dir / "out").iterdir())


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.getheaders()
        self.body = response.read()

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def get(port: int, path: str, *, tls: ssl.SSLContext | None, gzip_ok: bool = False) -> Answer:
    headers = {"Host": HOST, **({"Accept-Encoding": "gzip"} if gzip_ok else {})}
    if tls is None:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    else:
        connection_ = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=tls)
    try:
        connection_.request("GET", path, headers=headers)
        return Answer(connection_.getresponse())
    finally:
        connection_.close()


def wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"exited at start:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listens on {port}:\n{log.read_text()}")
            time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


@pytest.mark.skipif(NGINX is None, reason="no nginx binary (scripts/setup.sh installs it)")
@pytest.mark.django_db
def test_the_tls_site_passes_nginx_t_and_serves_https_in_front_of_gunicorn(
    deploy_dir, certificate, settings
):
    http_port, https_port, web_port = free_port(), free_port(), free_port()
    environment = production_environment(
        deploy_dir,
        certificate,
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        BIND=f"127.0.0.1:{web_port}",
        WEB_WORKERS="1",
        WEB_THREADS="2",
    )
    files = deployconf(
        environment,
        deploy_dir / "out",
        http=f"127.0.0.1:{http_port}",
        https=f"127.0.0.1:{https_port}",
    )
    site = files["nginx-mapserver.conf"]
    text = site.read_text()
    assert f"ssl_certificate {certificate[0]};" in text
    assert f"server_name {HOST};" in text
    assert f"server 127.0.0.1:{web_port};" in text  # gunicorn's BIND
    assert text.count('location ~ "^/tiles/') == 1  # one tile route, the shared template's

    work = deploy_dir / "nginx"
    main = work / "nginx.conf"
    main.write_text(standalone_config(site=site, work_dir=work))
    nginx_log = work / "error.log"
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(work), "-c", str(main), "-e", str(nginx_log)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    assert "warn" not in checked.stderr, checked.stderr

    # What nginx sends from disk: a public tile (a gzip file already) and a static file.
    tile = gzip.compress(b"\x1a\x05tile!" * 300, mtime=0)
    tile_path = deploy_dir / "tiles" / "public" / "roads" / "3" / "6" / "3.pbf.gz"
    tile_path.parent.mkdir(parents=True)
    tile_path.write_bytes(tile)
    for folder in [deploy_dir / "tiles", *tile_path.parents][:5]:
        folder.chmod(0o755)
    css = "".join(f".layer-{n} {{ color: #{n:06x}; }}\n" for n in range(200)).encode()
    (deploy_dir / "static" / "site.css").write_bytes(css)
    (deploy_dir / "media" / "upload.txt").write_text("an upload nobody may fetch from disk")

    # gunicorn exactly as its unit starts it, with the unit's settings.
    [web_command] = unit_values(files["mapserver-web.service"], "ExecStart")
    web_log = deploy_dir / "gunicorn.log"
    with web_log.open("wb") as log:
        web = subprocess.Popen(
            shlex.split(web_command), cwd=ROOT, env=environment, stdout=log, stderr=log
        )
    nginx = None
    try:
        wait_until_listening(web_port, web, web_log)
        nginx = subprocess.Popen(
            [NGINX, "-p", str(work), "-c", str(main), "-e", str(nginx_log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until_listening(https_port, nginx, nginx_log)
        tls = ssl.create_default_context(cafile=str(certificate[0]))
        check_https(http_port, https_port, tls, tile=tile, css=css)
    finally:
        if nginx is not None:
            stop(nginx)
        stop(web)


def check_https(http_port: int, https_port: int, tls: ssl.SSLContext, *, tile, css) -> None:
    # Plain HTTP only redirects, to the same path on HTTPS.
    plain = get(http_port, "/ogc/collections?f=json", tls=None)
    assert plain.status == 301
    assert plain.header("Location") == f"https://{HOST}:{https_port}/ogc/collections?f=json"

    # HTTP/2 is offered (ALPN), over TLS 1.2 or newer.
    with socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw:
        tls.set_alpn_protocols(["h2", "http/1.1"])
        with tls.wrap_socket(raw, server_hostname=HOST) as wrapped:
            assert wrapped.selected_alpn_protocol() == "h2"
            assert wrapped.version() in {"TLSv1.2", "TLSv1.3"}
    tls.set_alpn_protocols(["http/1.1"])

    hsts = "max-age=31536000; includeSubDomains"
    # Django's answers carry its headers once: nginx adds none to them.
    health = get(https_port, "/healthz", tls=tls)
    assert health.status == 200, health.body
    assert health.header("Strict-Transport-Security") == hsts
    assert health.header("X-Content-Type-Options") == "nosniff"
    assert health.header("Referrer-Policy") == "same-origin"
    assert health.header("Server") == "nginx"  # no version
    page = get(https_port, "/", tls=tls, gzip_ok=True)
    assert page.status == 200
    assert page.header("Content-Encoding") == "gzip"
    assert b"<html" in gzip.decompress(page.body)
    assert page.header("Strict-Transport-Security") == hsts
    assert page.header("Content-Security-Policy")

    # nginx's own answers get the same headers, from the same settings.
    static = get(https_port, "/static/site.css", tls=tls, gzip_ok=True)
    assert static.status == 200
    assert static.header("Content-Encoding") == "gzip"
    assert gzip.decompress(static.body) == css
    assert static.header("Strict-Transport-Security") == hsts
    assert static.header("X-Content-Type-Options") == "nosniff"
    assert static.header("Referrer-Policy") == "same-origin"

    # A cached public tile: sent as the gzip file it is, never compressed twice.
    cached = get(https_port, "/tiles/roads/3/6/3.pbf", tls=tls, gzip_ok=True)
    assert cached.status == 200, cached.body
    assert cached.body == tile
    assert cached.header("Content-Encoding") == "gzip"
    assert cached.header("Content-Type") == "application/vnd.mapbox-vector-tile"
    assert cached.header("Strict-Transport-Security") == hsts
    assert cached.header("X-Content-Type-Options") == "nosniff"

    # MEDIA_ROOT is never served from disk.
    media = get(https_port, "/media/upload.txt", tls=tls)
    assert media.status == 404
    assert b"nobody may fetch" not in media.body
