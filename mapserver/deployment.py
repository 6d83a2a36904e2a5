"""The production deployment, rendered from the settings: nginx's TLS site, the systemd units and a
`mapserver-manage` wrapper (`manage.py deployconf`; docs/operations.md, "Installing on a Debian
server").

The templates live in `deploy/` (the nginx site in one file for every caller, the units in
`deploy/systemd/` with the sandbox in one include); what varies comes from the settings (paths the
server writes, the certificate, the host names), from `deploy/gunicorn.conf.py` read as gunicorn
reads it (its size on this machine), and from the queues of `mapserver/celery.py`.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

from layers.tiles.nginx import NginxConfigError, NginxSite, NginxTls, server_names

from .celery import QUEUES

DEPLOY_DIR = Path(settings.BASE_DIR) / "deploy"
ENV_EXAMPLE = DEPLOY_DIR / "mapserver.env.example"
GUNICORN_CONF = DEPLOY_DIR / "gunicorn.conf.py"
# What systemd units and paths may hold unquoted: no spaces, quotes, `%`, `$` or line breaks.
_SAFE_VALUE = re.compile(r"^[\w.:/@+-]+$")
# A systemd calendar time (OnCalendar=): `daily`, `Mon *-*-* 02:30:00`, `*-*-01 03:00`.
_CALENDAR = re.compile(r"^[\w*:,./~ -]+$")
# A line of the settings file that systemd (EnvironmentFile=) and django-environ read alike: no
# quotes, backslashes or `$` (one of them unquotes or expands them, the other not), no space at
# either end of the value.
_SETTINGS_LINE = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>(?:[^\s'\"\\$](?:[^'\"\\$]*[^\s'\"\\$])?)?)$"
)


class DeploymentError(ValueError):
    """A setting or option the deployment cannot be rendered with; says what to change."""


@dataclass(frozen=True)
class Worker:
    """One queue's Celery worker: its processes by default, and how long a stop may take."""

    queue: str
    concurrency: int
    stop_timeout_s: int
    stop_reason: str

    @property
    def concurrency_variable(self) -> str:
        return f"CELERY_{self.queue.upper()}_CONCURRENCY"

    @property
    def concurrency_reference(self) -> str:
        return "${" + self.concurrency_variable + "}"

    @property
    def unit(self) -> str:
        return f"mapserver-worker-{self.queue}.service"


def workers() -> list[Worker]:
    """Return one worker per queue of mapserver/celery.py, as on a small (2-core) machine.

    A stop lets running tasks finish for a while, then kills them: each kind of task is safe to
    run again (acks_late, the job sweep), so the wait only spares work already done.
    """
    known = {
        # Each import holds its file in memory: one at a time, beside the seeds.
        "imports": Worker("imports", 1, 600, "an import of a big file runs for minutes"),
        "tiles": Worker("tiles", 2, 120, "a seed chunk takes seconds"),
        "exports": Worker(
            "exports", 1, settings.EXPORT_TIMEOUT_S + 30, "EXPORT_TIMEOUT_S, and the file stored"
        ),
        # Evaluating a batch's datastreams (thresholds, anomalies) and partition upkeep.
        "sensors": Worker("sensors", 1, 60, "an evaluation takes seconds"),
        "default": Worker("default", 1, 60, "housekeeping takes seconds"),
    }
    missing = [queue for queue in QUEUES if queue not in known]
    if missing:
        raise DeploymentError(f"No worker defined for the queue(s) {', '.join(missing)}.")
    return [known[queue] for queue in QUEUES]


@dataclass(frozen=True)
class Subscriber:
    """A long-running `manage.py` command of its own unit (e.g. an MQTT subscriber)."""

    name: str
    command: str

    @property
    def unit(self) -> str:
        return f"mapserver-subscriber-{self.name}.service"


# Long-running subscribers, each run as mapserver-subscriber-<name>.service. The MQTT subscriber
# of sensor layers exits at once (status 0, not restarted) while SENSORS_MQTT_URL is empty.
SUBSCRIBERS: tuple[Subscriber, ...] = (Subscriber("mqtt", "sensors_subscribe"),)


@dataclass(frozen=True)
class WebSize:
    """gunicorn's size on this machine, from deploy/gunicorn.conf.py read as gunicorn reads it."""

    bind: str
    worker_class: str
    workers: int
    threads: int
    graceful_timeout_s: int
    cpus: int

    @classmethod
    def from_config(cls) -> WebSize:
        config = runpy.run_path(str(GUNICORN_CONF))
        return cls(
            bind=config["bind"],
            worker_class=config["worker_class"],
            workers=int(config["workers"]),
            threads=int(config["threads"]),
            graceful_timeout_s=int(config["graceful_timeout"]),
            cpus=os.cpu_count() or 1,
        )

    @property
    def connections(self) -> int:
        return self.workers * (self.threads if self.worker_class == "gthread" else 1)

    @property
    def stop_timeout_s(self) -> int:
        # gunicorn's own graceful stop, and time to exit after it.
        return self.graceful_timeout_s + 15


@dataclass(frozen=True)
class Deployment:
    """This installation as systemd and nginx run it: who, where, and with which settings file."""

    user: str = "mapserver"
    group: str = "mapserver"
    env_file: str = "/etc/mapserver/mapserver.env"
    app_dir: Path = field(default_factory=lambda: Path(settings.BASE_DIR))
    # The virtualenv's bin folder: the one of the Python running this (not resolved: a venv's
    # python is a link to the system's).
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    http_listen: tuple[str, ...] = ("80",)
    https_listen: tuple[str, ...] = ("443",)
    nginx_version: tuple[int, ...] | None = None
    subscribers: tuple[Subscriber, ...] = SUBSCRIBERS

    def files(self) -> dict[str, str]:
        """Return each file of the deployment by name: the nginx site, the units, the wrapper."""
        self.check()
        context = self.context()
        files = {"nginx-mapserver.conf": self.nginx_site()}
        files["mapserver-web.service"] = _render("systemd/mapserver-web.service.template", context)
        for worker in context["workers"]:
            files[worker.unit] = _render(
                "systemd/mapserver-worker.service.template", {**context, "worker": worker}
            )
        files["mapserver-beat.service"] = _render(
            "systemd/mapserver-beat.service.template", context
        )
        for subscriber in self.subscribers:
            files[subscriber.unit] = _render(
                "systemd/mapserver-subscriber.service.template",
                {**context, "subscriber": subscriber},
            )
        # The long-running units; the backup is a oneshot its timer starts, not part of the target.
        units = [name for name in files if name.endswith(".service")]
        files["mapserver-backup.service"] = _render(
            "systemd/mapserver-backup.service.template", context
        )
        files["mapserver-backup.timer"] = _render(
            "systemd/mapserver-backup.timer.template", context
        )
        files["mapserver.target"] = _render(
            "systemd/mapserver.target.template", {**context, "units": units}
        )
        files["mapserver-manage"] = _render("systemd/mapserver-manage.template", context)
        files["mapserver.env.example"] = ENV_EXAMPLE.read_text(encoding="utf-8")
        return files

    def write(self, output_dir: Path) -> list[Path]:
        """Write the files into output_dir (made if needed); return their paths."""
        files = self.files()
        output_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in files.items():
            path = output_dir / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755 if name == "mapserver-manage" else 0o644)
            written.append(path)
        return written

    def check(self) -> None:
        """Raise DeploymentError for settings that would make a broken or unsafe deployment."""
        if settings.DEBUG:
            raise DeploymentError("DEBUG is true: set DEBUG=false in the settings file.")
        if not settings.BEHIND_TLS:
            raise DeploymentError(
                "BEHIND_TLS is false: set BEHIND_TLS=true, so Django knows the site is served "
                "over HTTPS (secure cookies, HSTS)."
            )
        if not settings.TILE_ACCEL_REDIRECT_PREFIX:
            raise DeploymentError(
                "TILE_ACCEL_REDIRECT_PREFIX is empty: set it to /_tile_cache, so nginx sends "
                "cached private tiles."
            )
        if settings.NUM_PROXIES != 1:
            raise DeploymentError(
                f"NUM_PROXIES is {settings.NUM_PROXIES}: set NUM_PROXIES=1 (nginx is the one proxy "
                "in front), or the sign-in lockout and throttles see nginx's address."
            )
        values = {
            "user": self.user,
            "group": self.group,
            "env_file": self.env_file,
            "app_dir": str(self.app_dir),
            "bin_dir": str(self.bin_dir),
            **{name: str(path) for name, path in self.read_write_paths().items()},
            "BACKUP_DIR": str(settings.BACKUP_DIR),
        }
        if not _CALENDAR.match(settings.BACKUP_CALENDAR):
            raise DeploymentError(
                f"BACKUP_CALENDAR {settings.BACKUP_CALENDAR!r} is no systemd calendar time: "
                "write it like '*-*-* 02:30:00' or 'daily' (man systemd.time)."
            )
        for name, value in values.items():
            if not _SAFE_VALUE.match(value):
                raise DeploymentError(f"{name} {value!r} cannot be written into a systemd unit.")
        for program in ("python", "gunicorn", "celery"):
            if not os.access(self.bin_dir / program, os.X_OK):
                raise DeploymentError(
                    f"No {program} in {self.bin_dir}: run deployconf with the virtualenv's python "
                    "(the one that has the requirements installed)."
                )

    def read_write_paths(self) -> dict[str, Path]:
        """Return the folders the server writes, by setting: all else is read-only to it."""
        paths = {
            "MEDIA_ROOT": Path(settings.MEDIA_ROOT),
            "TILE_CACHE_DIR": Path(settings.TILE_CACHE_DIR),
        }
        if settings.IMPORT_WORK_DIR:
            paths["IMPORT_WORK_DIR"] = Path(settings.IMPORT_WORK_DIR)
        if not Path(settings.BACKUP_DIR).is_absolute():
            raise DeploymentError(
                f"BACKUP_DIR must be an absolute path, not {str(settings.BACKUP_DIR)!r}."
            )
        for name, path in paths.items():
            if not path.is_absolute():
                raise DeploymentError(f"{name} must be an absolute path, not {str(path)!r}.")
        return paths

    def context(self) -> dict:
        return {
            "user": self.user,
            "group": self.group,
            "env_file": self.env_file,
            "app_dir": str(self.app_dir),
            "bin_dir": str(self.bin_dir),
            "read_write_paths": [str(path) for path in self.read_write_paths().values()],
            "backup_dir": str(settings.BACKUP_DIR),
            "backup_calendar": settings.BACKUP_CALENDAR,
            "backup_keep_days": settings.BACKUP_KEEP_DAYS,
            "web": WebSize.from_config(),
            "workers": workers(),
        }

    def nginx_site(self) -> str:
        """Return nginx's site: HTTP redirecting to HTTPS, the tile routes and Django over TLS."""
        tls = NginxTls(
            certificate=settings.TLS_CERTIFICATE,
            certificate_key=settings.TLS_CERTIFICATE_KEY,
            listen=self.https_listen,
            nginx_version=self.nginx_version or installed_nginx_version() or (1, 22, 1),
        )
        site = NginxSite(
            listen=self.http_listen,
            server_name=server_names(settings.ALLOWED_HOSTS),
            upstream=WebSize.from_config().bind,
            tls=tls,
            command="deployconf",
        )
        try:
            return site.render()
        except NginxConfigError as error:
            raise DeploymentError(str(error)) from error


def settings_file_values(text: str) -> dict[str, str]:
    """Return the NAME=value settings of a settings file; raise DeploymentError for a bad line."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _SETTINGS_LINE.match(line)
        if match is None:
            raise DeploymentError(
                f"Line {number} of the settings file is not NAME=value as both systemd and Django "
                f"read it (no quotes, backslashes, $ or spaces around the value): {line!r}"
            )
        values[match["name"]] = match["value"]
    return values


def installed_nginx_version() -> tuple[int, ...] | None:
    """Return the version of this machine's nginx, or None without one."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx is None:
        return None
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    return tuple(int(part) for part in match.groups()) if match else None


def _render(name: str, context: dict) -> str:
    engine = Engine(dirs=[str(DEPLOY_DIR)], autoescape=False)
    return engine.get_template(name).render(Context(context))
