"""Cache writes that stop, for a while, once the tile cache's disk is full.

Serving a tile never depends on caching it: when a write fails for lack of space the tile is
still answered, writes pause for `TILE_CACHE_FULL_PAUSE_S` (rendering is cheaper than failing
to write hundreds of times), and the log gets one line per pause with how many tiles were not
kept, instead of a traceback per request. The health check reads `writes_paused()`.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

# No space left, or over the quota: the storage is full for us either way.
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _storage() -> str:
    """Return which storage the writes go to now: a pause is about that storage only."""
    return f"{settings.TILE_CACHE_BACKEND}:{settings.TILE_CACHE_DIR}"


class CacheWriteGuard:
    """Run cache writes unless the storage was found full recently; count what was skipped."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._paused_until: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def paused(self) -> bool:
        """Return whether writes are paused because the storage was full."""
        return self.clock() < self._paused_until.get(_storage(), 0.0)

    def run(self, write: Callable[[], object]) -> bool:
        """Run one cache write; return False if it was skipped or failed for lack of space."""
        storage = _storage()
        with self._lock:
            if self.paused():
                self._skipped[storage] = self._skipped.get(storage, 0) + 1
                return False
        try:
            write()
        except OSError as error:
            if error.errno not in FULL_ERRNOS:
                raise
            self._full(storage, error)
            return False
        return True

    def _full(self, storage: str, error: OSError) -> None:
        pause_s = settings.TILE_CACHE_FULL_PAUSE_S
        with self._lock:
            if self.paused():  # another thread's write failed first and said so
                self._skipped[storage] = self._skipped.get(storage, 0) + 1
                return
            skipped = self._skipped.pop(storage, 0)
            self._paused_until[storage] = self.clock() + pause_s
        logger.warning(
            "Tile cache full (%s): tiles are served but not cached for %.0f s "
            "(%d tile writes skipped during the previous pause)",
            error.strerror or error,
            pause_s,
            skipped,
        )


guard = CacheWriteGuard()


def writes_paused() -> bool:
    """Return whether this process pauses tile cache writes because the storage was full."""
    return guard.paused()
