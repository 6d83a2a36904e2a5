"""prometheus_client's multi-process mode, with files per live process slot instead of per pid.

gunicorn runs several processes, and Prometheus scrapes one of them at random: each process
writes its counts to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR` and the scrape adds up
the files of all. Out of the box the files are named by pid, and gunicorn replaces each worker
after WEB_MAX_REQUESTS requests: a new pair of files per replacement, never removed while the
server runs, each read again by every scrape. Here a process takes the lowest free *slot*
instead (an exclusive `flock` on `slotN.lock`, which the kernel releases when the process dies,
however it dies) and writes `counter_slotN.db`: its successor in that slot reads the counts left
there and carries on from them. So the folder holds one set of files per process that runs at
once, counters never go back, and no hook has to run when a worker exits.

Nothing here imports Django: it runs before the first metric exists.
"""

from __future__ import annotations

import fcntl
import os
import threading

from prometheus_client import values

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> str | None:
    """Return the folder of the shared metric files, or None when each process counts alone."""
    return os.environ.get(DIRECTORY_VARIABLE) or None


class ProcessSlot:
    """The name of this process's slot (`slot0`, `slot1`…), claimed anew after a fork.

    prometheus_client calls it on every update to notice a fork, so the usual case is one
    `getpid` and a comparison.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid: int | None = None
        self._name = ""
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._claim()
        return self._name

    def _claim(self) -> None:
        if self._fd is not None:
            # The parent's lock, inherited through fork: the parent keeps it, the child lets go.
            os.close(self._fd)
            self._fd = None
        os.makedirs(self.path, exist_ok=True)
        number = 0
        while True:
            fd = os.open(
                os.path.join(self.path, f"slot{number}.lock"), os.O_RDWR | os.O_CREAT, 0o600
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                number += 1
                continue
            self._fd, self._name, self._pid = fd, f"slot{number}", os.getpid()
            return


_enabled_in: str | None = None


def use_process_slots() -> bool:
    """Switch prometheus_client to shared files by slot if PROMETHEUS_MULTIPROC_DIR is set.

    Call it before any metric is made. Returns whether the files are shared.
    """
    global _enabled_in
    path = directory()
    if path is None:
        return False
    if _enabled_in != path:
        values.ValueClass = values.MultiProcessValue(process_identifier=ProcessSlot(path))
        _enabled_in = path
    return True
