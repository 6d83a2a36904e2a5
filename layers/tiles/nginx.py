"""The nginx site in front of the server, rendered from `deploy/nginx.conf.template` and settings.

One template serves the deployment (`manage.py deployconf` with TLS, `manage.py nginxconf` plain),
the benchmark and the nginx tests, so what is tested is what ships. The tile cache folder, the
X-Accel-Redirect prefix, the public tiles' max-age and the security headers come from the same
settings Django uses, so the two cannot disagree.
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
# Header values land in double quotes: no quote, backslash, brace or line break.
_SAFE_HEADER_VALUE = re.compile(r"^[\w .,;:=/-]+$")
# nginx 1.25.1 replaced `listen … http2` (deprecated since, with a warning) by `http2 on;`.
HTTP2_DIRECTIVE_SINCE = (1, 25, 1)
# Room for the multipart envelope around the largest upload Django accepts.
_UPLOAD_MARGIN_BYTES = 2**20


class NginxConfigError(ValueError):
    """A value that cannot be written into the nginx configuration."""


@dataclass(frozen=True)
class NginxTls:
    """The HTTPS side of the site: where it listens and which certificate it shows."""

    certificate: str
    certificate_key: str
    listen: tuple[str, ...] = ("443",)
    # The nginx version the site is written for: `listen … http2` before 1.25.1, `http2 on` after.
    nginx_version: tuple[int, ...] = (1, 22, 1)

    def context(self) -> dict:
        """Return the TLS values of the template, checked like the others."""
        if not self.certificate or not self.certificate_key:
            raise NginxConfigError(
                "TLS_CERTIFICATE and TLS_CERTIFICATE_KEY must name the certificate (full chain) "
                "and its private key, e.g. /etc/letsencrypt/live/<host>/fullchain.pem and "
                "privkey.pem (docs/operations.md, 'Installing on a Debian server')."
            )
        for name, value in [
            ("TLS_CERTIFICATE", self.certificate),
            ("TLS_CERTIFICATE_KEY", self.certificate_key),
            *[("https listen", address) for address in self.listen],
        ]:
            _check(name, value)
        port = self.listen[0].rsplit(":", 1)[-1]
        return {
            "certificate": self.certificate,
            "certificate_key": self.certificate_key,
            "listen": self.listen,
            "http2_directive": self.nginx_version >= HTTP2_DIRECTIVE_SINCE,
            # Where the HTTP server sends browsers: the HTTPS port, named when it is not 443.
            "port_suffix": "" if port == "443" else f":{port}",
        }


@dataclass(frozen=True)
class NginxSite:
    """Where nginx listens and what it fronts; the rest comes from the settings.

    `listen` is one address or several; with `tls`, they only redirect to HTTPS.
    """

    listen: str | tuple[str, ...] = "80"
    server_name: str = "_"
    upstream: str = "127.0.0.1:8000"
    tls: NginxTls | None = None
    command: str = "nginxconf"

    def context(self) -> dict:
        """Return the template's values, checked to be safe to write into nginx directives."""
        accel_prefix = (settings.TILE_ACCEL_REDIRECT_PREFIX or "/_tile_cache").rstrip("/")
        upload_bytes = getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", 200 * 2**20)
        listen = (self.listen,) if isinstance(self.listen, str) else tuple(self.listen)
        for address in listen:
            _check("listen", address)
        for name in self.server_name.split() or [""]:
            _check("server_name", name)
        values = {
            "upstream": self.upstream,
            "tile_cache_dir": _absolute(settings.TILE_CACHE_DIR),
            "static_root": _absolute(settings.STATIC_ROOT),
            "accel_prefix": accel_prefix,
            "tile_max_age_s": str(int(settings.TILE_PUBLIC_MAX_AGE_S)),
            "client_max_body_size": _size(upload_bytes + _UPLOAD_MARGIN_BYTES),
        }
        for name, value in values.items():
            _check(name, value)
        if not accel_prefix.startswith("/"):
            raise NginxConfigError("TILE_ACCEL_REDIRECT_PREFIX must start with a slash.")
        headers = security_headers(tls=self.tls is not None)
        for name, value in headers:
            if not _SAFE_HEADER_VALUE.match(value):
                raise NginxConfigError(f"The {name} header {value!r} cannot be written there.")
        return {
            **values,
            "command": self.command,
            "server_name": self.server_name,
            "listen": listen,
            "tls": self.tls.context() if self.tls else None,
            "security_headers": headers,
        }

    def render(self) -> str:
        """Return the nginx site configuration (an `upstream` and a `server` block)."""
        engine = Engine(autoescape=False)
        template = engine.from_string(TEMPLATE.read_text(encoding="utf-8"))
        return template.render(Context(self.context())).lstrip("\n")


def security_headers(*, tls: bool) -> list[tuple[str, str]]:
    """Return the headers of what nginx sends from disk, as Django's SecurityMiddleware makes them.

    The same settings, so a file from nginx and an answer from Django agree; HSTS only over TLS
    (a browser ignores it on plain HTTP, and Django sends it only on secure requests too).
    """
    headers = []
    if tls and getattr(settings, "SECURE_HSTS_SECONDS", 0):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        values = policy.split(",") if isinstance(policy, str) else policy
        headers.append(("Referrer-Policy", ",".join(value.strip() for value in values)))
    return headers


def server_names(allowed_hosts: list[str]) -> str:
    """Return nginx's `server_name` for Django's ALLOWED_HOSTS (`.example.org` means the same)."""
    if not allowed_hosts or "*" in allowed_hosts:
        return "_"
    return " ".join(allowed_hosts)


def _check(name: str, value: str) -> None:
    if not _SAFE_VALUE.match(value):
        raise NginxConfigError(f"{name} {value!r} cannot be written into nginx.conf.")


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
