"""gunicorn settings of the web process, read from the environment (scripts/serve.sh uses them).

Threaded workers (`gthread`): most of a request's time is spent waiting for PostgreSQL or the
disk, not in Python, so a few processes with several threads each answer many requests at once
without the memory of many processes. With 2 sync workers, 32 concurrent clients queued behind
each other (p50 about 1 s); see docs/operations.md for the figures and how to size it.

Each thread holds its own database connection (CONN_MAX_AGE): WEB_WORKERS x WEB_THREADS
connections at most, which must stay under PostgreSQL's max_connections with the workers'.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
# One process per core (at least 2, so one busy process never stops the site), threads for I/O.
workers = _int("WEB_WORKERS", max(2, multiprocessing.cpu_count()))
threads = _int("WEB_THREADS", 8)
# A request that takes longer is cut off and its worker replaced: exports and imports run on the
# Celery workers, so no web request needs a minute.
timeout = _int("WEB_TIMEOUT_S", 60)
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT_S", 30)
keepalive = _int("WEB_KEEPALIVE_S", 5)
# Each process is replaced after about this many requests (jitter: not all at once), so a slow
# leak in a library cannot grow without bound.
max_requests = _int("WEB_MAX_REQUESTS", 5000)
max_requests_jitter = _int("WEB_MAX_REQUESTS_JITTER", 500)
# With LOG_FORMAT=json Django writes one JSON line per request itself (docs/operations.md, "Logs"):
# gunicorn's access log is off unless WEB_ACCESS_LOG names one. Its lines never hold the query
# string nor the referrer (either may carry a token, `?key=`), and carry the request id.
accesslog = (
    os.environ.get("WEB_ACCESS_LOG", "" if os.environ.get("LOG_FORMAT") == "json" else "-") or None
)
access_log_format = (
    '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
)
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
# Behind nginx on the same machine, the client's address comes in X-Forwarded-For.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
