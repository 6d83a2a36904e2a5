"""How each kind of source is opened: a `layers.importers.Source` for GDAL (through pyogrio),
read by the import's own reader into the import's staging tables.

| kind     | GDAL opens                                                     |
|----------|----------------------------------------------------------------|
| oapif    | `OAPIF:<collection URL>` (the OAPIF driver follows `next` links)|
| wfs      | `WFS:<service URL>`, layer = the feature type (paged by GDAL)   |
| arcgis   | `ESRIJSON:<layer URL>/query?where=1=1&outFields=*&f=json`, with |
|          | FEATURE_SERVER_PAGING=YES (pages by resultOffset)              |
| file     | the file downloaded by us (size-capped), then the import's     |
|          | format detection (GeoJSON, CSV, zipped Shapefile, GeoPackage)  |
| postgres | `ogr2ogr` (GDAL's PostgreSQL driver; pyogrio's wheel has none)  |
|          | copies the table, connected to the address we checked, into a  |
|          | GeoPackage read like an upload                                 |

Every HTTP request goes through the sync's guard proxy (`sources/guard.py`); credentials reach
GDAL in its configuration (`GDAL_HTTP_USERPWD`, `GDAL_HTTP_HEADERS`) and never in a message: every
error text passes `scrub()`.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyogrio
import requests
from django.conf import settings
from pyogrio.errors import DataLayerError, DataSourceError

from layers.importers import ImportFailed, ImportOptions, Source, open_upload

from .guard import SourceRefused, check_host, check_url
from .models import LayerSource, SourceAuth, SourceKind
from .sealing import SecretUnreadable

DOWNLOAD_CHUNK = 1 << 20
CONFIG_KEYS = (
    "GDAL_HTTP_PROXY",
    "GDAL_HTTP_TIMEOUT",
    "GDAL_HTTP_CONNECTTIMEOUT",
    "GDAL_HTTP_USERPWD",
    "GDAL_HTTPAUTH",
    "GDAL_HTTP_HEADERS",
    "GDAL_HTTP_MAX_RETRY",
    "GDAL_HTTP_RETRY_DELAY",
    "OGR_GEOJSON_MAX_OBJ_SIZE",
    "GDAL_DISABLE_READDIR_ON_OPEN",
)


def scrub(text: str, source: LayerSource) -> str:
    """Return a message with the source's secret, and any password or token in it, masked."""
    text = str(text)
    try:
        plain = source.plain_secret()
    except SecretUnreadable:
        plain = ""  # unreadable: then it was never sent, so no message can carry it
    if plain:
        text = text.replace(plain, "***")
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    text = re.sub(r"([?&]token=)[^&\s]+", r"\1***", text, flags=re.IGNORECASE)
    return re.sub(r"(://[^/\s:@]+:)[^@\s/]+@", r"\1***@", text)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def arcgis_query_url(url: str, token: str = "") -> str:
    """Return the paged query URL of an ArcGIS REST layer (…/FeatureServer/0 or …/MapServer/3)."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if not re.search(r"/(FeatureServer|MapServer)/\d+(/query)?$", path, flags=re.IGNORECASE):
        raise ImportFailed(
            "An ArcGIS REST source is one layer of a service: its URL ends with "
            "/FeatureServer/<n> or /MapServer/<n> (e.g. …/rest/services/Roads/FeatureServer/0)."
        )
    if not path.endswith("/query"):
        path += "/query"
    params = {"where": "1=1", "outFields": "*", "returnGeometry": "true", "f": "json"}
    if token:
        params["token"] = token
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: v for k, v in params.items() if k not in query or k in ("f", "token")})
    return urlunsplit(parts._replace(path=path, query=urlencode(query)))


def wfs_url(url: str) -> str:
    """Return a WFS service URL asking for version 2.0.0 (GDAL's WFS driver reads its caps)."""
    parts = urlsplit(url.strip())
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    lowered = {k.lower() for k in query}
    extra = {}
    if "service" not in lowered:
        extra["SERVICE"] = "WFS"
    if "version" not in lowered:
        extra["VERSION"] = "2.0.0"
    return _with_query(url, **extra) if extra else url


def gdal_path(source: LayerSource) -> tuple[str, str | None, dict[str, str]]:
    """Return what GDAL opens for a network source: path, layer and open options."""
    url = source.url.strip()
    if source.kind == SourceKind.OAPIF:
        if "/collections/" not in urlsplit(url).path:
            raise ImportFailed(
                "An OGC API - Features source is one collection: its URL ends with "
                "/collections/<id> (e.g. https://gis.example.vn/ogc/collections/roads)."
            )
        return f"OAPIF:{url}", None, {"PAGE_SIZE": "1000"}
    if source.kind == SourceKind.WFS:
        if not source.source_layer:
            raise ImportFailed("A WFS source needs its feature type (e.g. ns:roads).")
        return f"WFS:{wfs_url(url)}", source.source_layer, {}
    if source.kind == SourceKind.ARCGIS:
        token = source.plain_secret() if source.auth == SourceAuth.TOKEN else ""
        return f"ESRIJSON:{arcgis_query_url(url, token)}", None, {"FEATURE_SERVER_PAGING": "YES"}
    raise ValueError(source.kind)


def postgres_path(source: LayerSource) -> tuple[str, str]:
    """Return the `PG:` connection string (pinned to the checked address, no password: it goes
    in the environment) and the table."""
    parts = urlsplit(source.url.strip())
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ImportFailed(
            "A PostgreSQL source's URL is postgresql://host:port/database (the user name and "
            "password go in the credentials, not in the URL)."
        )
    if parts.password:
        raise ImportFailed(
            "Put the password in the source's credentials, not in the URL (it would be shown)."
        )
    database = parts.path.lstrip("/")
    if not database or not source.source_layer:
        raise ImportFailed(
            "A PostgreSQL source needs the database (postgresql://host:port/database) and the "
            "table or view (schema.table)."
        )
    port = parts.port or 5432
    address = check_host(parts.hostname or "", port)[0]
    values = {
        "host": parts.hostname,
        "hostaddr": address,  # connect to the address that was checked, not a new DNS answer
        "port": str(port),
        "dbname": database,
        "user": source.username or parts.username or "",
        "connect_timeout": str(settings.SOURCES_HTTP_CONNECT_TIMEOUT_S),
        "application_name": "mapserver-source-sync",
    }
    conninfo = " ".join(f"{name}='{_pq_quote(value)}'" for name, value in values.items() if value)
    # A table name (GDAL's layer), never SQL.
    if not re.fullmatch(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?", source.source_layer):
        raise ImportFailed(
            f"“{source.source_layer}” is not a table name: give schema.table or table "
            "(letters, digits and _)."
        )
    return f"PG:{conninfo}", source.source_layer


def dump_table(source: LayerSource, workdir: Path) -> Path:
    """Copy a department's table into a GeoPackage with GDAL's PostgreSQL driver (`ogr2ogr`:
    the GDAL inside pyogrio's wheel has no PostgreSQL driver); return the file.

    The password reaches libpq in the environment (PGPASSWORD), never on the command line;
    the connection and each statement time out, and the copy stops at SOURCES_MAX_BYTES.
    """
    conninfo, table = postgres_path(source)
    target = workdir / "table.gpkg"
    timeout_s = settings.SOURCES_HTTP_TIMEOUT_S
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGPASSWORD": source.plain_secret() if source.auth == SourceAuth.BASIC else "",
        "PGOPTIONS": f"-c statement_timeout={timeout_s * 1000} -c default_transaction_read_only=on",
        "PGCONNECT_TIMEOUT": str(settings.SOURCES_HTTP_CONNECT_TIMEOUT_S),
    }
    command = ["ogr2ogr", "-f", "GPKG", str(target), conninfo, table, "-nln", "data"]
    try:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    except FileNotFoundError as error:
        raise ImportFailed(
            "ogr2ogr (GDAL's command line tools, Debian package gdal-bin) is not installed: "
            "PostgreSQL sources need it. Run the set-up again (make demo)."
        ) from error
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        if time.monotonic() > deadline or (
            target.exists() and target.stat().st_size > settings.SOURCES_MAX_BYTES
        ):
            process.kill()
            process.wait()
            raise ImportFailed(
                _too_big()
                if target.exists() and target.stat().st_size > settings.SOURCES_MAX_BYTES
                else f"Reading the table took longer than {timeout_s} s "
                "(SOURCES_HTTP_TIMEOUT_S): filter it with a view at the source, or raise it."
            )
        time.sleep(0.1)
    errors = process.stderr.read().strip() if process.stderr else ""
    if process.returncode != 0 or not target.exists():
        text = scrub(errors.splitlines()[-1] if errors else "no message", source)
        raise ImportFailed(
            f"The table “{table}” cannot be read: {text}. What to do: check the host, "
            "database, table (schema.table) and credentials, and that the database accepts "
            "connections from this server."
        )
    return target


def _pq_quote(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


@contextmanager
def gdal_config(source: LayerSource, proxy_address: str):
    """Set GDAL's HTTP configuration for one sync (the process runs one task at a time)."""
    options = {
        "GDAL_HTTP_PROXY": proxy_address,
        "GDAL_HTTP_TIMEOUT": str(settings.SOURCES_HTTP_TIMEOUT_S),
        "GDAL_HTTP_CONNECTTIMEOUT": str(settings.SOURCES_HTTP_CONNECT_TIMEOUT_S),
        "GDAL_HTTP_MAX_RETRY": "1",
        "GDAL_HTTP_RETRY_DELAY": "1",
        "OGR_GEOJSON_MAX_OBJ_SIZE": "0",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    }
    if source.auth == SourceAuth.BASIC and source.kind != SourceKind.POSTGRES:
        options["GDAL_HTTP_USERPWD"] = f"{source.username}:{source.plain_secret()}"
        options["GDAL_HTTPAUTH"] = "BASIC"
    elif source.auth == SourceAuth.HEADER:
        options["GDAL_HTTP_HEADERS"] = f"Authorization: {source.plain_secret()}"
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(dict.fromkeys(CONFIG_KEYS))


def download(source: LayerSource, proxy_url: str, target: Path) -> Path:
    """Download a source file through the guard proxy, at most SOURCES_MAX_BYTES."""
    session = requests.Session()
    session.trust_env = False  # no NO_PROXY, no .netrc: the guard proxy sees every request
    session.proxies = {"http": proxy_url, "https": proxy_url}
    headers, auth = {}, None
    if source.auth == SourceAuth.BASIC:
        auth = (source.username, source.plain_secret())
    elif source.auth == SourceAuth.HEADER:
        headers["Authorization"] = source.plain_secret()
    url = source.url.strip()
    for _hop in range(6):
        check_url(url)
        response = session.get(
            url,
            headers=headers,
            auth=auth,
            stream=True,
            allow_redirects=False,
            timeout=(settings.SOURCES_HTTP_CONNECT_TIMEOUT_S, settings.SOURCES_HTTP_TIMEOUT_S),
        )
        if response.is_redirect:
            location = response.headers.get("Location", "")
            url = requests.compat.urljoin(url, location)
            if urlsplit(url).hostname != urlsplit(source.url).hostname:
                headers, auth = {}, None  # credentials stay with the host they were given for
            continue
        break
    else:
        raise ImportFailed("The file's URL redirects more than 5 times: give its final URL.")
    if response.status_code != 200:
        raise ImportFailed(_http_error(response.status_code, response.reason))
    size = 0
    with open(target, "wb") as out:
        for chunk in response.iter_content(DOWNLOAD_CHUNK):
            size += len(chunk)
            if size > settings.SOURCES_MAX_BYTES:
                raise ImportFailed(_too_big())
            out.write(chunk)
    return target


def _http_error(status: int, reason: str) -> str:
    advice = {
        401: "the source asks for credentials: set them (or check they are still valid)",
        403: "the source refuses these credentials, or the guard refused the address",
        404: "nothing at this URL: check it (the source may have moved it)",
    }.get(status, "the source's server failed: try again later, or ask its owner")
    return f"The source answered HTTP {status} {reason}: {advice}."


def _too_big() -> str:
    return (
        f"The source holds more than {settings.SOURCES_MAX_BYTES:,} bytes (SOURCES_MAX_BYTES): "
        "filter it at the source, or raise the setting."
    )


def open_source(
    source: LayerSource, *, workdir: Path, proxy_url: str, options: ImportOptions
) -> Source:
    """Return what to read for this source; raise ImportFailed or SourceRefused if not."""
    if source.kind == SourceKind.FILE:
        name = Path(urlsplit(source.url).path).name or "download"
        path = download(source, proxy_url, workdir / f"download{Path(name).suffix.lower()}")
        return open_upload(path, options, workdir, name)
    if source.kind == SourceKind.POSTGRES:
        return open_upload(dump_table(source, workdir), options, workdir, "table.gpkg")
    check_url(source.url)
    path, layer, open_options = gdal_path(source)
    try:
        info = pyogrio.read_info(path, layer=layer, **open_options)
    except (DataSourceError, DataLayerError) as error:
        raise ImportFailed(_gdal_error(source, error)) from error
    crs = info.get("crs")
    return Source(
        format_name=source.get_kind_display(),
        path=path,
        layer=layer,
        open_options=open_options,
        crs=crs,
        default_srid=4326 if source.kind in (SourceKind.OAPIF, SourceKind.ARCGIS) else None,
    )


def _gdal_error(source: LayerSource, error: Exception) -> str:
    text = scrub(str(error), source).strip()
    if "Refused by the source guard" in text or "source guard" in text.lower():
        return f"The guard refused an address the source led to: {text}"
    hints = {
        SourceKind.POSTGRES: "check the host, database, table and credentials, and that the "
        "database accepts connections from this server",
        SourceKind.OAPIF: "check the collection's URL (open it in a browser: it should answer "
        "JSON with an items link) and the credentials",
        SourceKind.WFS: "check the service URL and the feature type (GetCapabilities lists them)",
        SourceKind.ARCGIS: "check the layer's URL (open …/FeatureServer/0?f=json in a browser) "
        "and the token",
    }
    return f"The source cannot be read: {text}. What to do: {hints.get(source.kind, '')}."


__all__ = [
    "SourceRefused",
    "arcgis_query_url",
    "download",
    "gdal_config",
    "open_source",
    "scrub",
]
