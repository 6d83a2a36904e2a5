"""Typed errors of the read and write paths, which the REST and OGC APIs map to HTTP answers.

Like pygeoapi's provider errors: the code that finds the problem names it (and the offending
parameter), and each API decides how to say it (`layers.api.errors`, `layers.ogc.views`).
"""

from __future__ import annotations


class LayerError(Exception):
    """A problem with a request about layers, told to the requester."""

    code = "error"
    ogc_code = "InvalidParameterValue"
    http_status = 400
    headers: dict[str, str] = {}

    def __init__(self, message: str, *, parameter: str | None = None, **extra) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter
        # More members of the answer's body (a conflict's two versions).
        self.extra = extra


class NotFound(LayerError):
    """What was asked for does not exist, or the requester may not see it (the same answer)."""

    code = "not-found"
    ogc_code = "NotFound"
    http_status = 404


class InvalidParameter(LayerError):
    """A query parameter or a field of the body is missing, malformed or not allowed."""

    code = "invalid-parameter"
    ogc_code = "InvalidParameterValue"
    http_status = 400


class InvalidData(LayerError):
    """A feature or a layer sent for writing does not fit the layer."""

    code = "invalid-data"
    ogc_code = "InvalidValue"
    http_status = 400


class TooLarge(LayerError):
    """The answer would be larger than the server hands out in one request."""

    code = "too-large"
    ogc_code = "TooLarge"
    http_status = 413


class Unavailable(LayerError):
    """A tool the answer needs (the database, GDAL) failed or is missing."""

    code = "unavailable"
    ogc_code = "ServiceUnavailable"
    http_status = 503


class Conflict(LayerError):
    """The request does not fit the present state of a job (a download before it is done)."""

    code = "conflict"
    ogc_code = "Conflict"
    http_status = 409


class EditConflict(Conflict):
    """A write based on a version of a feature that someone else has changed since.

    `extra` carries both sides, `current` (the feature as it is now) and `yours` (what was sent
    and the version it was based on), so the editor can choose.
    """

    code = "conflict"
    ogc_code = "Conflict"
    http_status = 409


class NotAuthenticated(LayerError):
    """The request needs a signed-in user or an API token, and has neither."""

    code = "not-authenticated"
    ogc_code = "NotAuthenticated"
    http_status = 401
    headers = {"WWW-Authenticate": "Token"}


class Forbidden(LayerError):
    """The requester may see this but not do it (edit a layer they are not an editor of)."""

    code = "permission-denied"
    ogc_code = "Forbidden"
    http_status = 403


class Gone(LayerError):
    """What was asked for existed but is no longer kept (an export past its expiry)."""

    code = "gone"
    ogc_code = "Gone"
    http_status = 410


class TooManyJobs(LayerError):
    """The requester already has as many jobs under way as one may have at once."""

    code = "too-many-jobs"
    ogc_code = "TooManyRequests"
    http_status = 429


class TimedOut(Unavailable):
    """The database gave up on a query that ran past its time limit (a search too broad)."""

    code = "timeout"
    ogc_code = "Timeout"
    http_status = 503


class PreconditionFailed(EditConflict):
    """A conditional write (`If-Match`) on a version someone has changed since, as OGC API -
    Features Part 4 answers it (HTTP 412); `extra` carries both versions as `EditConflict`'s."""

    code = "precondition-failed"
    ogc_code = "PreconditionFailed"
    http_status = 412


def refusal(user, message: str) -> LayerError:
    """Return the error that refuses `user` a write: 401 when nobody is signed in (the client
    should sign in or send its token), else 403 with `message` (what right is missing)."""
    if user is None or not user.is_authenticated:
        return NotAuthenticated(
            "Sign in, or send an API token (Authorization: Token …), to make this change."
        )
    return Forbidden(message)
