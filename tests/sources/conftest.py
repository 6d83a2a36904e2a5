"""Fixtures of the layer-source tests: real servers on loopback that the syncs read.

- `http_source`: Python's own `http.server` on a free port, serving the files a test writes
  (GeoJSON, CSV, zip, GeoPackage) and, for the ArcGIS kind, pages of ESRI JSON (GDAL reads that
  format but cannot write it, so the test writes it). It stands in for an ArcGIS REST
  FeatureServer: `…/FeatureServer/0/query`
  answers the page that `resultOffset` asks for, with `exceededTransferLimit` on every page but
  the last, as ArcGIS does. It can also redirect (to test the guard) and be stopped (the source
  going away).
- `department_db`: a second PostgreSQL database on the shared cluster (`src_dept_<random>`), with
  PostGIS and a table of places, dropped afterwards (or by the test: the source going away).
- our own OGC API: a second layer of this server, served by pytest-django's `live_server`.
- `wfs_source`: a department's WFS 2.0, MapServer's `mapserv` (Debian's mapserver-bin) run as
  a CGI program behind http.server, over a GeoJSON file the test rewrites.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from django.db import connection
from psycopg import sql

# The places a source holds: (key, name, lon, lat), far enough apart that each has its own tiles
# at z12.
PLACES = {
    "A": ("Đại Nội", 107.5775, 16.4698),
    "B": ("Chùa Thiên Mụ", 107.5454, 16.4535),
    "C": ("Lăng Cô", 108.0705, 16.2265),
    "D": ("Thuận An", 107.6400, 16.5600),
    "E": ("Bạch Mã", 107.8530, 16.1930),
    "F": ("Phá Tam Giang", 107.4300, 16.6400),
}


@dataclass
class Place:
    key: str
    name: str
    lon: float
    lat: float
    kind: str = "di tích"


def places(*keys: str, **changes) -> list[Place]:
    """Return places by key; `changes` maps a key to a dict of new values."""
    out = []
    for key in keys:
        name, lon, lat = PLACES[key]
        place = Place(key, name, lon, lat)
        for attribute, value in changes.get(key, {}).items():
            setattr(place, attribute, value)
        out.append(place)
    return out


def geojson(items: list[Place]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"ma": p.key, "ten": p.name, "loai": p.kind},
                "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
            }
            for p in items
        ],
    }


@pytest.fixture(autouse=True)
def _sources_settings(settings, tmp_path):
    """Loopback allowed (the test servers live there), mail kept in memory, private folders."""
    settings.SOURCES_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.SOURCES_ALLOWED_HOSTS = []
    settings.SOURCES_MAX_FAILURES = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ADMINS = [("GIS", "gis@hue.example.vn")]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    settings.IMPORT_WORK_DIR = None


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        return

    def do_GET(self):
        parts = urlsplit(self.path)
        redirects = self.server.redirects
        if parts.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[parts.path])
            self.end_headers()
            return
        self.server.requests.append(self.path)
        if self.server.required_auth and self.headers.get("Authorization") != (
            self.server.required_auth
        ):
            self.send_response(401)
            self.end_headers()
            return
        if parts.path.endswith("/FeatureServer/0/query"):
            offset = int(parse_qs(parts.query).get("resultOffset", ["0"])[0])
            page = Path(self.directory) / "arcgis" / f"{offset}.json"
            if not page.exists():
                self.send_response(400)
                self.end_headers()
                return
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@dataclass
class HttpSource:
    root: Path
    server: ThreadingHTTPServer
    thread: threading.Thread
    stopped: bool = False
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def write(self, name: str, data: bytes | str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return f"{self.base}/{name}"

    def publish_arcgis(self, items: list[Place], page_size: int = 2) -> str:
        """Write the places as pages of ESRI JSON, as an ArcGIS layer's query answers them.

        (GDAL cannot write ESRI JSON, `ogr2ogr -f ESRIJSON` fails: the pages are written here
        in the format of ArcGIS REST's query answer, which GDAL's ESRIJSON driver reads.)
        """
        folder = self.root / "arcgis"
        for old in folder.glob("*.json"):
            old.unlink()
        folder.mkdir(exist_ok=True)
        offsets = list(range(0, len(items), page_size))
        for offset in offsets:
            page = {
                "objectIdFieldName": "OBJECTID",
                "geometryType": "esriGeometryPoint",
                "spatialReference": {"wkid": 4326, "latestWkid": 4326},
                "fields": [
                    {"name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID"},
                    {"name": "ma", "type": "esriFieldTypeString", "alias": "ma", "length": 10},
                    {"name": "ten", "type": "esriFieldTypeString", "alias": "ten", "length": 100},
                    {"name": "loai", "type": "esriFieldTypeString", "alias": "loai", "length": 50},
                ],
                "features": [
                    {
                        "attributes": {"OBJECTID": ord(p.key) - 64, "ma": p.key, "ten": p.name,
                                       "loai": p.kind},
                        "geometry": {"x": p.lon, "y": p.lat},
                    }
                    for p in items[offset : offset + page_size]
                ],
            }  # fmt: skip
            if offset != offsets[-1]:
                page["exceededTransferLimit"] = True
            (folder / f"{offset}.json").write_text(json.dumps(page), encoding="utf-8")
        return f"{self.base}/arcgis/rest/services/DiTich/FeatureServer/0"

    def stop(self) -> None:
        if not self.stopped:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)
            self.stopped = True


@pytest.fixture
def http_source(tmp_path):
    root = tmp_path / "served"
    root.mkdir()

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(root), **kwargs)

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.redirects = {}
    server.requests = []
    server.required_auth = None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    source = HttpSource(root=root, server=server, thread=thread, requests=server.requests)
    yield source
    source.stop()


@dataclass
class DepartmentDb:
    name: str
    admin_dsn: str
    dsn: str
    dropped: bool = False

    @property
    def url(self) -> str:
        return f"postgresql://127.0.0.1:{connection.settings_dict.get('PORT') or 5432}/{self.name}"

    def publish(self, items: list[Place]) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute("TRUNCATE dept.places")
            for p in items:
                db.execute(
                    "INSERT INTO dept.places (ma, ten, loai, geom) "
                    "VALUES (%s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                    [p.key, p.name, p.kind, p.lon, p.lat],
                )

    def drop(self) -> None:
        if not self.dropped:
            with psycopg.connect(self.admin_dsn, autocommit=True) as db:
                db.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.name)
                    )
                )
            self.dropped = True


@pytest.fixture
def department_db(db):
    """A second database on the shared cluster: a department's, with PostGIS and a table."""
    settings_dict = connection.settings_dict
    credentials = (
        f"host={settings_dict.get('HOST') or '127.0.0.1'} port={settings_dict.get('PORT') or 5432}"
        f" user={settings_dict['USER']} password={settings_dict['PASSWORD']}"
    )
    name = f"src_dept_{uuid.uuid4().hex[:8]}"
    admin_dsn = f"{credentials} dbname=postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    department = DepartmentDb(name=name, admin_dsn=admin_dsn, dsn=f"{credentials} dbname={name}")
    try:
        with psycopg.connect(department.dsn, autocommit=True) as dept:
            dept.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            dept.execute("CREATE SCHEMA dept")
            dept.execute(
                "CREATE TABLE dept.places (id serial PRIMARY KEY, ma text UNIQUE, ten text, "
                "loai text, geom geometry(Point, 4326))"
            )
        yield department
    finally:
        department.drop()


MAPFILE = """MAP
  NAME "dept"
  EXTENT 107 16 109 17
  PROJECTION "init=epsg:4326" END
  WEB
    METADATA
      "wfs_title" "A department's WFS"
      "wfs_onlineresource" "{base}/wfs?"
      "wfs_srs" "EPSG:4326"
      "wfs_enable_request" "*"
    END
  END
  LAYER
    NAME "places"
    TYPE POINT
    STATUS ON
    CONNECTIONTYPE OGR
    CONNECTION "{data}"
    DATA "places"
    PROJECTION "init=epsg:4326" END
    METADATA
      "wfs_title" "places"
      "gml_include_items" "all"
      "gml_featureid" "ma"
      "gml_types" "auto"
      "wfs_enable_request" "*"
    END
  END
END
"""


class _MapServerHandler(SimpleHTTPRequestHandler):
    """Runs MapServer's `mapserv` as a CGI program for /wfs, as a web server would."""

    def log_message(self, format, *args):
        return

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path != "/wfs":
            self.send_error(404)
            return
        self.server.requests.append(self.path)
        folder = self.server.folder
        env = {
            "PATH": "/usr/bin:/bin",
            "REQUEST_METHOD": "GET",
            "QUERY_STRING": parts.query,
            "MS_MAPFILE": str(folder / "dept.map"),
            "MAPSERVER_CONFIG_FILE": str(folder / "mapserver.conf"),
        }
        output = subprocess.run(["mapserv"], env=env, capture_output=True, timeout=60).stdout
        head, _, body = output.partition(b"\r\n\r\n")
        if not body and b"\n\n" in output:
            head, _, body = output.partition(b"\n\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode("latin-1").splitlines() if ": " in line
        )
        status = int(headers.pop("Status", "200").split()[0])
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class WfsSource:
    folder: Path
    server: ThreadingHTTPServer
    thread: threading.Thread
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/wfs"

    def publish(self, items: list[Place]) -> None:
        (self.folder / "places.geojson").write_text(json.dumps(geojson(items)), encoding="utf-8")

    def stop(self) -> None:
        if not self.stopped:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)
            self.stopped = True


@pytest.fixture
def wfs_source(tmp_path):
    """A WFS 2.0 of a department: MapServer (Debian's mapserver-bin) behind http.server."""
    if shutil.which("mapserv") is None:
        pytest.skip("MapServer is not installed (apt install mapserver-bin): no WFS to read")
    folder = tmp_path / "wfs"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MapServerHandler)
    server.folder = folder
    server.requests = []
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (folder / "dept.map").write_text(
        MAPFILE.format(base=base, data=folder / "places.geojson"), encoding="utf-8"
    )
    (folder / "mapserver.conf").write_text(
        f'CONFIG\n  ENV\n    MS_MAP_PATTERN "^{folder}/"\n  END\nEND\n', encoding="utf-8"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    source = WfsSource(folder=folder, server=server, thread=thread)
    yield source
    source.stop()
