"""`python manage.py backup [-o FILE]`: one archive of the database, media files and settings."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from layers.backups import BackupError
from layers.backups.services import backup_create


class Command(BaseCommand):
    help = (
        "Write a backup archive (.tar): the database (pg_dump -Fc, one consistent snapshot), "
        "uploaded files (attachments, kept uploads) and the settings without secrets, with a "
        "manifest of checksums. The tile cache is not kept: a restore rebuilds it. "
        "See docs/operations.md, 'Backups'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="The archive to write (default: BACKUP_DIR/mapserver-<version>-<time>.tar).",
        )

    def handle(self, *args, output: Path | None, verbosity: int, **options) -> None:
        report = self.stdout.write if verbosity > 0 else (lambda message: None)
        try:
            manifest = backup_create(target=output, report=report)
        except BackupError as error:
            raise CommandError(str(error)) from error
        if verbosity > 0:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{len(manifest.files)} files, release {manifest.made_by}, "
                    f"{len(manifest.migrations)} migrations applied."
                )
            )
