"""`python manage.py restore FILE [--no-seed] [--check]`: bring a backup back into an empty
database."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from layers.backups import BackupError
from layers.backups.services import backup_check, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup archive written by `manage.py backup` into the database that "
        "DATABASE_URL names, which must be empty, and MEDIA_ROOT. The archive is checked first "
        "(format, checksums); the database is restored in one transaction. Then the tile cache "
        "is cleared and the seeds that rebuild it are queued. See docs/operations.md, 'Restoring'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("archive", type=Path, metavar="FILE")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only check the archive (format, every file against its checksum); restore "
            "nothing.",
        )
        parser.add_argument(
            "--no-seed",
            action="store_true",
            help="Clear the tile cache but queue no seeds (run `manage.py seedtiles` later).",
        )

    def handle(self, *args, archive: Path, check: bool, no_seed: bool, **options) -> None:
        quiet = options["verbosity"] == 0
        report = (lambda message: None) if quiet else self.stdout.write
        try:
            if check:
                manifest = backup_check(source=archive)
                if not quiet:
                    self.stdout.write(
                        self.style.SUCCESS(
                            f"{archive}: a whole backup, {len(manifest.files)} files, made "
                            f"{manifest.created_at} by release {manifest.made_by}."
                        )
                    )
                return
            outcome = backup_restore(source=archive, seed=not no_seed, report=report)
        except BackupError as error:
            raise CommandError(str(error)) from error
        if quiet:
            return
        self.stdout.write(f"Tile cache: cleared the tiles of {outcome.tile_layers_cleared} layers.")
        if outcome.pending_migrations:
            self.stdout.write(
                self.style.WARNING(
                    f"The backup comes from release {outcome.manifest.made_by}: "
                    f"{len(outcome.pending_migrations)} migrations of this release are not "
                    "applied yet. Run `manage.py migrate`, then `manage.py seedtiles "
                    "--background` to rebuild the tiles."
                )
            )
        elif outcome.seeds_queued:
            self.stdout.write(
                f"Queued the seeds of {outcome.seeds_queued} layers for the tile workers "
                "(`manage.py seedtiles` builds them here instead)."
            )
        else:
            self.stdout.write("No seeds queued: run `manage.py seedtiles --background` later.")
        if outcome.attachments_missing:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(outcome.attachments_missing)} attachment files are missing from "
                    f"MEDIA_ROOT (such as {outcome.attachments_missing[0]})."
                )
            )
        if outcome.settings_changed:
            self.stdout.write(
                "Settings that differ from the backed-up deployment's (its settings.json): "
                + ", ".join(outcome.settings_changed)
            )
        self.stdout.write(self.style.SUCCESS("Restored."))
