"""`python manage.py deployconf -o DIR`: the production deployment rendered from the settings."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mapserver.deployment import Deployment, DeploymentError, settings_file_values


class Command(BaseCommand):
    help = (
        "Write the nginx TLS site, the systemd units (web, one Celery worker per queue, beat, "
        "mapserver.target), the mapserver-manage wrapper and the settings file template into a "
        "folder, from this installation's settings (docs/operations.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("-o", "--output", type=Path, required=True, help="Folder to write.")
        parser.add_argument("--user", default="mapserver", help="The services' system user.")
        parser.add_argument("--group", default="mapserver", help="The services' system group.")
        parser.add_argument(
            "--env-file",
            default="/etc/mapserver/mapserver.env",
            help="The settings file systemd reads (EnvironmentFile=).",
        )
        parser.add_argument(
            "--http-listen",
            action="append",
            help="nginx's plain HTTP address (repeatable; default 80; add [::]:80 for IPv6).",
        )
        parser.add_argument(
            "--https-listen",
            action="append",
            help="nginx's HTTPS address (repeatable; default 443; add [::]:443 for IPv6).",
        )

    def handle(self, *args, output, user, group, env_file, http_listen, https_listen, **options):
        deployment = Deployment(
            user=user,
            group=group,
            env_file=env_file,
            http_listen=tuple(http_listen or ["80"]),
            https_listen=tuple(https_listen or ["443"]),
        )
        try:
            settings_file = Path(env_file)
            if os.access(settings_file, os.R_OK):
                settings_file_values(settings_file.read_text(encoding="utf-8"))
            paths = deployment.write(output)
        except DeploymentError as error:
            raise CommandError(str(error)) from error
        for path in paths:
            self.stdout.write(str(path))
        self.stderr.write(
            f"Wrote {len(paths)} files into {output}. Install them as docs/operations.md says "
            "('Installing on a Debian server'), then check with `nginx -t` and "
            "`systemd-analyze verify`."
        )
