"""`python manage.py nginxconf [--listen 80] [--upstream 127.0.0.1:8000] [-o FILE]`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from layers.tiles.nginx import NginxConfigError, NginxSite


class Command(BaseCommand):
    help = (
        "Write the nginx site for this server (deploy/nginx.conf.template with the tile cache "
        "folder, static files and tile settings of this installation) to stdout or a file."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--listen", default="80", help="nginx `listen` value (default 80).")
        parser.add_argument("--server-name", default="_", help="nginx `server_name` (default _).")
        parser.add_argument(
            "--upstream", default="127.0.0.1:8000", help="Where gunicorn listens (host:port)."
        )
        parser.add_argument("-o", "--output", type=Path, help="Write here instead of stdout.")

    def handle(self, *args, listen, server_name, upstream, output, **options) -> None:
        site = NginxSite(listen=listen, server_name=server_name, upstream=upstream)
        try:
            text = site.render()
        except NginxConfigError as error:
            raise CommandError(str(error)) from error
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {output}; check it with `nginx -t` and reload nginx.")
        if not settings.TILE_ACCEL_REDIRECT_PREFIX:
            self.stderr.write(
                "TILE_ACCEL_REDIRECT_PREFIX is not set: Django sends cached private tiles itself. "
                "Set it to /_tile_cache to let nginx send them."
            )
