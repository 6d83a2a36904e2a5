"""Who a worker is (`host:pid`) and whether it still runs: shared by every job sweeper.

Jobs and tile chunks record the worker that took them; the sweepers (`layers.jobs`,
`layers.tiles.seed`) ask here whether that worker is gone.
"""

from __future__ import annotations

import os
import socket


def worker_id() -> str:
    """Return this process's worker id, `host:pid`, as jobs and chunks record it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Return whether a process of this host runs (a zombie, killed but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def gone_from_this_host(worker: str) -> bool:
    """Return whether `host:pid` names a process of this host that no longer runs.

    A worker of another host cannot be asked: callers judge it by its heartbeat or start time.
    """
    host, _sep, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))
