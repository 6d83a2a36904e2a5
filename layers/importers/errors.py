"""The one error of an import: a message a GIS officer understands, and the feature it is about."""

from __future__ import annotations

import re

# An absolute path's folders (not a URL's: no ':' or '/' or letter just before the first '/').
PATH_FOLDERS = re.compile(r"(?<![:/\w])(?:/[\w.+@~%-]+)+/")


def without_paths(text: str) -> str:
    """Return a message with every absolute path cut to its last part (the member's own name)."""
    return PATH_FOLDERS.sub("", text)


class ImportFailed(Exception):
    """The file cannot be imported as given; the message says why and what to do."""

    def __init__(
        self, message: str, *, feature: int | None = None, details: dict | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.feature = feature
        #: Facts for the job's report, such as the layers a file offers to choose from.
        self.details = details or {}


class ImportCancelled(Exception):
    """Somebody cancelled the job while it ran."""
