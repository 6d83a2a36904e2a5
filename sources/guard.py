"""Where a source may point, and the one way a sync reaches the network.

Every HTTP request of a sync (GDAL's drivers through `GDAL_HTTP_PROXY`, our own downloads through
`requests`) passes a forward proxy that this module runs on loopback for the length of the sync.
For each request, redirects included (each is a new request through the proxy), it resolves the
host, refuses it if any address is forbidden (`check_host`), connects to the very address it
checked (a DNS answer that changes between the check and the connection cannot slip through), and
counts the bytes: past `SOURCES_MAX_BYTES` it cuts the connection and the run fails. HTTPS goes
through as a CONNECT tunnel, checked the same way (the proxy never sees the plain text).

Refused always: schemes other than http/https (no `file:`, `ftp:`, `gopher:` …). Refused unless
`SOURCES_ALLOWED_NETWORKS` lists them: loopback, link-local (the cloud metadata addresses
169.254.169.254 and fd00:ec2::254 among them), unspecified, multicast and reserved addresses.
Private networks are allowed: a city's department systems live there. `SOURCES_ALLOWED_HOSTS`,
when set, allows only the hosts and networks it names.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432}
# Addresses of cloud metadata services outside link-local ranges (Alibaba's, Oracle's v6).
METADATA = [ipaddress.ip_network("100.100.100.200/32"), ipaddress.ip_network("fd00:ec2::254/128")]
RELAY_CHUNK = 64 * 1024


class SourceRefused(ValueError):
    """A source URL or address the settings forbid; the message says why and what to do."""


def _networks(values: list[str]) -> list[ipaddress._BaseNetwork]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue  # a host name, matched by name
    return networks


def address_refusal(address: str) -> str | None:
    """Return why an IP address may not be reached (None: it may)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    allowed = _networks(settings.SOURCES_ALLOWED_NETWORKS)
    if any(ip in network for network in allowed):
        return None
    if any(ip in network for network in METADATA) or str(ip) == "169.254.169.254":
        return "a cloud metadata address"
    for test, what in (
        (ip.is_loopback, "a loopback address (this machine)"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
    ):
        if test:
            return what
    return None


def _host_allowed_by_list(host: str, addresses: list[str]) -> bool:
    names = [value.strip().lower() for value in settings.SOURCES_ALLOWED_HOSTS if value.strip()]
    if not names:
        return True
    host = host.lower().rstrip(".")
    for name in names:
        if name.startswith(".") and (host.endswith(name) or host == name[1:]):
            return True
        if host == name:
            return True
    networks = _networks(names)
    return bool(addresses) and all(
        any(ipaddress.ip_address(a.split("%")[0]) in n for n in networks) for a in addresses
    )


def check_host(host: str, port: int) -> list[str]:
    """Resolve a host; return its addresses, or raise SourceRefused if any may not be reached."""
    if not host:
        raise SourceRefused("The URL names no host. Give a full URL, e.g. https://gis.example.vn/…")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise SourceRefused(
            f"The host “{host}” cannot be resolved ({error}). Check the URL, or the server's DNS."
        ) from error
    addresses = sorted({info[4][0] for info in infos})
    if not _host_allowed_by_list(host, addresses):
        raise SourceRefused(
            f"The host “{host}” is not in SOURCES_ALLOWED_HOSTS. Add it to that setting if the "
            "city trusts it."
        )
    for address in addresses:
        why = address_refusal(address)
        if why:
            raise SourceRefused(
                f"The host “{host}” resolves to {address}, {why}, which sources may not reach. "
                "If this is one of the city's own systems, add its network to "
                "SOURCES_ALLOWED_NETWORKS (e.g. 10.1.2.0/24)."
            )
    return addresses


def check_url(url: str) -> list[str]:
    """Check a source URL's scheme and host; return the host's addresses."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES:
        raise SourceRefused(
            f"Only http:// and https:// URLs may be sources (this one is “{parts.scheme}:”)."
        )
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme.lower()]
    except ValueError as error:
        raise SourceRefused(f"The URL's port is not a number: {error}.") from error
    return check_host(parts.hostname or "", port)


@dataclass
class Budget:
    """The bytes a sync may still read, shared by all its connections."""

    limit: int
    used: int = 0
    #: (HTTP status, why): 403 the guard refused an address, 502 the server cannot be reached.
    refusals: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, size: int) -> bool:
        with self.lock:
            self.used += size
            return self.used <= self.limit

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _ProxyServer

    def log_message(self, format, *args):
        return

    def _refuse(self, status: int, reason: str) -> None:
        self.server.budget.refusals.append((status, reason))
        body = reason.encode()
        self.send_response(status, "Refused by the source guard")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _connect(self, host: str, port: int) -> socket.socket | None:
        try:
            addresses = check_host(host, port)
        except SourceRefused as error:
            self._refuse(403, str(error))
            return None
        timeout = settings.SOURCES_HTTP_CONNECT_TIMEOUT_S
        last = None
        for address in addresses:
            try:
                upstream = socket.create_connection((address, port), timeout=timeout)
                upstream.settimeout(settings.SOURCES_HTTP_TIMEOUT_S)
                return upstream
            except OSError as error:
                last = error
        self._refuse(502, f"Cannot connect to {host}:{port} ({last}).")
        return None

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        upstream = self._connect(host.strip("[]"), int(port or 443))
        if upstream is None:
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self._relay(upstream)

    def _forward(self) -> None:
        parts = urlsplit(self.path)
        if parts.scheme.lower() != "http":
            self._refuse(400, f"Only http:// and https:// may be fetched (not “{parts.scheme}:”).")
            return
        upstream = self._connect(parts.hostname or "", parts.port or 80)
        if upstream is None:
            return
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        lines = [f"{self.command} {target} HTTP/1.0"]
        for name, value in self.headers.items():
            if name.lower() in (
                "proxy-connection",
                "connection",
                "keep-alive",
                "proxy-authorization",
            ):
                continue
            lines.append(f"{name}: {value}")
        lines.append("Connection: close")
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            upstream.sendall(self.rfile.read(length))
        self._relay(upstream)

    do_GET = do_POST = do_HEAD = _forward

    def _relay(self, upstream: socket.socket) -> None:
        client = self.connection
        budget = self.server.budget
        sockets = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], settings.SOURCES_HTTP_TIMEOUT_S)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(RELAY_CHUNK)
                    if not data:
                        return
                    if sock is upstream:
                        if not budget.take(len(data)):
                            return  # cut: the run fails with "more than SOURCES_MAX_BYTES"
                        client.sendall(data)
                    else:
                        upstream.sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, budget: Budget) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.budget = budget


class GuardProxy:
    """The forward proxy of one sync, on a free loopback port, while the `with` block runs."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.budget = Budget(limit=max_bytes or settings.SOURCES_MAX_BYTES)
        self.server: _ProxyServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def __enter__(self) -> GuardProxy:
        self.server = _ProxyServer(self.budget)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
