"""What the server tells its operators: Prometheus metrics and log lines (docs/operations.md).

- `metrics`: the measurements taken while answering (requests per route family, tile cache
  lookups, tile render times), kept per process or, under gunicorn, in shared files
  (`multiprocess`); `collectors` reads queue depths and job figures from Redis and PostgreSQL
  when Prometheus asks; `views` answers `/metrics` to allowed callers only.
- `request_ids`, `middleware`, `logs`, `task_signals`: one id per request, carried to the Celery
  tasks it queues; one log line per request (JSON with `LOG_FORMAT=json`); no secret in any line.
"""
