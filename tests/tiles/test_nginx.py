"""nginx in front of a live Django, running the site rendered from deploy/nginx.conf.template.

A cached public tile is sent by nginx from the cache folder without Django; a miss goes to Django;
a private layer's tile is never sent from disk to someone Django did not let in, and reaches a
signed-in user from the cache through X-Accel-Redirect.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mapbox_vector_tile
import pytest
from django.conf import settings

from layers.models import Layer
from layers.tiles.cache import TileKey, tile_cache
from layers.tiles.grid import TileCoord
from layers.tiles.nginx import NginxSite, standalone_config
from layers.tiles.services import layer_tile
from tests.factories import FeatureFactory, LayerFactory
from tests.tiles.conftest import DAI_NOI, point, tile_and_pixel

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
    None,
)
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(NGINX is None, reason="no nginx binary (scripts/setup.sh installs it)"),
]

MVT = "application/vnd.mapbox-vector-tile"
STARTUP_DEADLINE_S = 10.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(base_url: str, path: str, *, gzip_ok: bool = True, session: str | None = None) -> Reply:
    """GET a path as a plain HTTP client (no redirects followed, no decompression)."""
    host, port = base_url.removeprefix("http://").split(":")
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    if session:
        headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session}"
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers, response.read())
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(path: Path) -> bytes:
    """Return a file's bytes once it exists (the server caches a tile after sending it)."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.02)
    return path.read_bytes()


def marker_tile(slug: str) -> bytes:
    """Return gzip MVT bytes that Django would never render: the proof a file was sent as is."""
    feature = {"geometry": "POINT (1 1)", "properties": {"from": "disk"}}
    layer = {"name": slug, "features": [feature]}
    return gzip.compress(mapbox_vector_tile.encode([layer]), mtime=0)


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body)


@pytest.fixture
def nginx_tile_cache(settings):
    # nginx's workers run as another user (nobody) when the tests run as root: readable folders.
    folder = Path(tempfile.mkdtemp(prefix="test-nginx-tiles-"))
    folder.chmod(0o755)
    settings.TILE_CACHE_DIR = folder
    settings.TILE_ACCEL_REDIRECT_PREFIX = "/_tile_cache"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def nginx(live_server, nginx_tile_cache):
    """Start nginx with the shipped site in front of the live server; yield its base URL."""
    work = Path(tempfile.mkdtemp(prefix="test-nginx-"))
    work.chmod(0o755)
    port = free_port()
    # The live server listens on IPv4; "localhost" could also resolve to ::1 for nginx.
    upstream = "127.0.0.1:" + live_server.url.rsplit(":", 1)[1]
    site = work / "site.conf"
    site.write_text(NginxSite(listen=f"127.0.0.1:{port}", upstream=upstream).render())
    main = work / "nginx.conf"
    main.write_text(standalone_config(site=site, work_dir=work))
    error_log = work / "error.log"
    process = subprocess.Popen(
        [NGINX, "-p", str(work), "-c", str(main), "-e", str(error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited at start:\n{error_log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx did not listen on {port}:\n{error_log.read_text()}")
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def site_layers(category):
    public = LayerFactory(slug="sites", category=category, visibility="public")
    FeatureFactory(layer=public, geom=point(DAI_NOI), attributes={"ten": "Đại Nội"})
    internal = LayerFactory(slug="plans", category=category, visibility="internal")
    FeatureFactory(layer=internal, geom=point(DAI_NOI), attributes={"ten": "Quy hoạch"})
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 14)
    return public, internal, TileCoord(14, x, y)


def test_a_cached_public_tile_is_sent_by_nginx_from_the_cache_folder(
    nginx, live_server, site_layers
):
    public, _, coord = site_layers
    path = f"/tiles/sites/{coord.z}/{coord.x}/{coord.y}.pbf"
    cached = Path(settings.TILE_CACHE_DIR) / f"public/sites/{coord.z}/{coord.x}/{coord.y}.pbf.gz"

    miss = fetch(nginx, f"{path}?v={public.version}")
    assert miss.status == 200
    assert miss.headers["content-encoding"] == "gzip"
    [feature] = decode(gzip.decompress(miss.body))["sites"]["features"]
    assert feature["properties"] == {"ten": "Đại Nội"}
    assert wait_for(cached) == miss.body  # Django cached what it sent

    # Django now refuses the layer (an update that skips the signals keeps the cached file) and
    # the file holds bytes Django never rendered: a 200 with them comes from nginx alone.
    # (That update bumps the version and clears the layer's files and version links: they are
    # put back by hand, published for the new version, which nginx then serves.)
    Layer.objects.filter(pk=public.pk).update(status="draft")
    assert fetch(live_server.url, path).status == 404
    public.refresh_from_db()
    tile_cache().put(TileKey("public", "sites", coord), marker_tile("sites"))
    tile_cache().publish("public", "sites", public.version)
    hit = fetch(nginx, f"{path}?v={public.version}")
    assert hit.status == 200
    assert hit.body == cached.read_bytes() == marker_tile("sites")
    assert hit.headers["content-type"] == MVT
    assert hit.headers["content-encoding"] == "gzip"
    assert hit.headers["cache-control"] == f"public, max-age={settings.TILE_PUBLIC_MAX_AGE_S}"
    assert hit.headers["access-control-allow-origin"] == "*"
    assert hit.headers["x-content-type-options"] == "nosniff"
    assert "Accept-Encoding" in hit.headers["vary"]

    plain = fetch(nginx, path, gzip_ok=False)  # nginx unpacks it for a client without gzip
    assert plain.status == 200
    assert "content-encoding" not in plain.headers
    assert plain.body == gzip.decompress(marker_tile("sites"))


def test_what_is_not_a_cached_public_tile_is_answered_by_django(nginx, site_layers):
    public, _, coord = site_layers
    empty = fetch(nginx, f"/tiles/sites/{coord.z}/{coord.x + 5}/{coord.y}.pbf")
    assert empty.status == 204
    missing = fetch(nginx, f"/tiles/nowhere/{coord.z}/{coord.x}/{coord.y}.pbf")
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/json"
    assert fetch(nginx, "/tiles/sites/3/8/0.pbf").status == 400  # x outside the grid
    tilejson = fetch(nginx, "/tiles/sites.json")
    assert tilejson.status == 200
    assert f"/tiles/sites/{{z}}/{{x}}/{{y}}.pbf?v={public.version}" in tilejson.body.decode()
    composite = fetch(nginx, f"/tiles/sites,plans/{coord.z}/{coord.x}/{coord.y}.pbf")
    assert composite.status == 200
    assert list(decode(gzip.decompress(composite.body))) == ["sites"]  # plans: not for anonymous


def test_a_private_tile_is_sent_from_the_cache_only_after_django_said_yes(
    nginx, live_server, site_layers, client, signed_in
):
    _, internal, coord = site_layers
    path = f"/tiles/plans/{coord.z}/{coord.x}/{coord.y}.pbf"
    layer_tile(layer=internal, coord=coord)  # rendered and cached, under private/
    key = TileKey("private", "plans", coord)
    tile_cache().put(key, marker_tile("plans"))  # bytes only the cached file holds
    accel_path = f"/_tile_cache/private/plans@{internal.version}/{coord.z}/{coord.x}/{coord.y}.pbf"
    assert not (Path(settings.TILE_CACHE_DIR) / "public" / "plans").exists()

    anonymous = fetch(nginx, path)
    assert anonymous.status == 404
    assert b"not-found" in anonymous.body
    assert fetch(nginx, accel_path).status == 404  # the internal location is not reachable

    client.force_login(signed_in)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    # Django alone answers with an empty body that names the file for nginx to send.
    django = fetch(live_server.url, path, session=session)
    assert django.status == 200
    assert django.headers["x-accel-redirect"] == accel_path
    assert django.body == b""

    signed = fetch(nginx, path, session=session)
    assert signed.status == 200
    assert "x-accel-redirect" not in signed.headers
    assert signed.body == marker_tile("plans")
    assert signed.headers["content-encoding"] == "gzip"
    assert signed.headers["content-type"] == MVT
    assert signed.headers["cache-control"].startswith("private")
    assert "access-control-allow-origin" not in signed.headers

    plain = fetch(nginx, path, session=session, gzip_ok=False)
    assert plain.status == 200
    assert plain.body == gzip.decompress(marker_tile("plans"))
