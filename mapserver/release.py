"""Which release this is, and the releases before it (what an upgrade starts from).

The version lives in one place, `pyproject.toml`. The releases are recorded here by commit, since
the repository has no tags yet: the upgrade test (tests/test_upgrade.py) takes each one's code
out of git, builds its demo database and migrates it with this code. Making a release is
described in docs/operations.md ("Making a release").
"""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Release:
    """A published version of the server: its number, the commit it was made from, and when."""

    version: str
    commit: str
    date: str
    summary: str


# Oldest first; the last one is "the previous release" of the code in this tree.
RELEASES = (
    Release(
        "0.1.0",
        "7ec292fe233e92c5a567986909e0583d7256d651",
        "2026-11-28",
        "Layers, vector tiles and their cache, imports, the demo of Huế, the web map.",
    ),
    Release(
        "0.2.0",
        "823439b28b32a79235fd967ed80a5874f555b992",
        "2026-12-04",
        "Queues per kind of work, the outbox, job liveness, tokens, one partition per layer.",
    ),
    Release(
        "0.3.0",
        "e65e18b61718c576b5a32ec224b1847f54071dcf",
        "2026-12-05",
        "Editing and history, attachments, OGC API Features parts 2-4, CQL2, VN-2000 CRSs.",
    ),
)


@cache
def version() -> str:
    """Return this code's version, as `pyproject.toml` gives it."""
    try:
        with (ROOT / "pyproject.toml").open("rb") as file:
            return tomllib.load(file)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


@cache
def git_commit() -> str | None:
    """Return the commit this code was checked out from, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def previous_release() -> Release:
    """Return the last release before this code."""
    return RELEASES[-1]
