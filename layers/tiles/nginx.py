"""The nginx site in front of the server, rendered from `deploy/nginx.conf.template` and settings.

One template serves the deployment (`manage.py nginxconf`), the benchmark and the nginx test, so
what is tested is what ships. The tile cache folder, the X-Accel-Redirect prefix and the public
tiles' max-age come from the same settings Django uses, so the two cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

TEMPLATE = Path(settings.BASE_DIR) / "deploy" / "nginx.conf.template"
# Values land in nginx directives unquoted: nothing that could end a directive or open a block.
_SAFE_VALUE = re.compile(r"^[\w.:/\[\]-]+$")
# Room for the multipart envelope around the largest upload Django accepts.
_UPLOAD_MARGIN_BYTES = 2**20


class NginxConfigError(ValueError):
    """A value that cannot be written into the nginx configuration."""


@dataclass(frozen=True)
class NginxSite:
    """Where nginx listens and what it fronts; the rest comes from the settings."""

    listen: str = "80"
    server_name: str = "_"
    upstream: str = "127.0.0.1:8000"

    def context(self) -> dict[str, str]:
        """Return the template's values, checked to be safe to write into nginx directives."""
        accel_prefix = (settings.TILE_ACCEL_REDIRECT_PREFIX or "/_tile_cache").rstrip("/")
        upload_bytes = getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", 200 * 2**20)
        values = {
            "listen": self.listen,
            "server_name": self.server_name,
            "upstream": self.upstream,
            "tile_cache_dir": _absolute(settings.TILE_CACHE_DIR),
            "static_root": _absolute(settings.STATIC_ROOT),
            "accel_prefix": accel_prefix,
            "tile_max_age_s": str(int(settings.TILE_PUBLIC_MAX_AGE_S)),
            "client_max_body_size": _size(upload_bytes + _UPLOAD_MARGIN_BYTES),
        }
        for name, value in values.items():
            if not _SAFE_VALUE.match(value):
                raise NginxConfigError(f"{name} {value!r} cannot be written into nginx.conf.")
        if not accel_prefix.startswith("/"):
            raise NginxConfigError("TILE_ACCEL_REDIRECT_PREFIX must start with a slash.")
        return values

    def render(self) -> str:
        """Return the nginx site configuration (an `upstream` and a `server` block)."""
        engine = Engine(autoescape=False)
        template = engine.from_string(TEMPLATE.read_text(encoding="utf-8"))
        return template.render(Context(self.context())).lstrip("\n")


def _absolute(path: Path | str) -> str:
    return str(Path(path).resolve()).rstrip("/")


def _size(size_bytes: int) -> str:
    """Return a size as nginx reads it, in MiB when it is a whole number of them."""
    return f"{size_bytes // 2**20}m" if size_bytes % 2**20 == 0 else str(size_bytes)


def standalone_config(*, site: Path, work_dir: Path, http_extra: str = "") -> str:
    """Return a main nginx.conf that runs the site unprivileged, all its files in work_dir.

    For tests and benchmarks: nginx started as `nginx -p WORK -c FILE -e WORK/error.log`, in
    the foreground, writing nothing outside work_dir; `http_extra` adds lines to `http {}`.
    """
    return f"""\
daemon off;
worker_processes 1;
pid {work_dir}/nginx.pid;
error_log {work_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    {http_extra}
    client_body_temp_path {work_dir}/body;
    proxy_temp_path {work_dir}/proxy;
    fastcgi_temp_path {work_dir}/fastcgi;
    uwsgi_temp_path {work_dir}/uwsgi;
    scgi_temp_path {work_dir}/scgi;
    include {site};
}}
"""
