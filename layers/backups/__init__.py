"""Backups of a deployment and their restore (`manage.py backup`, `manage.py restore`).

An archive is one uncompressed tar (docs/operations.md, "Backups"):

    database.dump       pg_dump -Fc of the database (compressed by pg_dump)
    spatial_ref_sys.json  the coordinate systems the server added to PostGIS's table
    settings.json       the settings in force, without secrets
    media/…             uploaded files (attachments and their thumbnails, kept uploads)
    manifest.json       format, release, migrations, server and tools, and every file's SHA-256

The tile cache is not in it: restoring clears the cache and queues the seeds that rebuild it.

- `postgres.py`: pg_dump and pg_restore of the right major version, run without a password on
  their command line.
- `manifest.py`: what the manifest says and the checks a restore makes of it.
- `archive.py`: writing and safely reading the tar, checksums on the way.
- `public_settings.py`: the settings with their secrets left out.
- `services.py`: `backup_create` and `backup_restore`, the two commands' work.
"""


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why and what to do."""
