"""Settings, all read from the environment (and `.env` when present); see `.env.example`."""

import os
import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from csp.constants import NONCE
from django.utils.translation import gettext_lazy as _

from mapserver.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# GDAL reads files that others made (uploads): it must not follow them to other files or to the
# network. Set in the environment, because GDAL reads some of these once, when its drivers are
# registered (GDAL_SKIP), which happens as soon as an importer module is loaded:
# - no VRT drivers: a VRT is a text file naming other datasets, so an upload detected as GML or
#   CSV by its content could make GDAL read any file of the worker (.env, /proc) into a layer;
# - GML: never download the schema a file's xsi:schemaLocation names (GDAL fetched any URL),
#   never resolve xlink:href;
# - PROJ never fetches grids from the network; SQLite files may not open other databases.
for _name, _value in {
    "GDAL_SKIP": "OGR_VRT VRT",
    "GML_DOWNLOAD_SCHEMA": "NO",
    "GML_SKIP_RESOLVE_ELEMS": "ALL",
    "PROJ_NETWORK": "OFF",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
}.items():
    os.environ.setdefault(_name, _value)

env = environ.Env()
# Variables already in the environment win over the file, so CI and tests can override it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# No production default: a missing SECRET_KEY is an error, except in DEBUG (a fixed dev key).
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "layers",
    "maps",
    "sources",
    "sensors",
    "frontend",
]

MIDDLEWARE = [
    # First: the request's id (X-Request-ID) is bound before anything logs, and its time, metrics
    # and log line cover every other middleware (mapserver/observability/middleware.py).
    "mapserver.observability.middleware.RequestObservationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database outage answers 503 (JSON with Retry-After on API, OGC and tile routes), not 500.
    "layers.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Answers to signed-in requesters are `private, no-store`, all vary on Authorization/Cookie.
    "mapserver.middleware.PrivateAnswersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout seen during the request into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mapserver.urls"
WSGI_APPLICATION = "mapserver.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mapserver" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgis://mapserver:mapserver@127.0.0.1:5432/mapserver",
    )
}
# Whatever scheme the URL uses (postgres://, postgresql://), the backend must be PostGIS.
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
# Parallel test runs on one server each need their own test database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
    "DB_CONNECT_TIMEOUT", default=5
)
# A persistent connection is checked before each request reuses it: after a database restart
# no request fails on a dead connection (docs/operations.md).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL (>= 14) checks every few seconds whether the client of a running query is still
# there, so a killed worker's session stops at once instead of finishing its insert while
# holding the layer's lock. 0 turns it off (a pooler that rejects startup options).
DB_CLIENT_CHECK_INTERVAL_MS = env.int("DB_CLIENT_CHECK_INTERVAL_MS", default=2000)
# PostgreSQL's JIT compiles a query whose estimated cost is high, which costs seconds of CPU
# for queries that run in milliseconds: an import's checks of a fresh (unanalysed) staging
# table took 16 s instead of 2 for one point, and tile queries pay it too. Off unless asked.
DB_JIT = env.bool("DB_JIT", default=False)
# Behind a pooler in transaction mode (PgBouncer's `pool_mode = transaction`), each transaction
# may run on another server connection: nothing may outlive a transaction on the server. So no
# server-side cursors (Django's `.iterator()` keeps one open across statements), no startup
# options (PgBouncer refuses them), no prepared tile SQL (PgBouncer < 1.21 cannot keep prepared
# statements; Debian 12 ships 1.18). Django never prepares statements itself (psycopg's
# prepare_threshold stays None). docs/operations.md, "PgBouncer".
DB_TRANSACTION_POOLING = env.bool("DB_TRANSACTION_POOLING", default=False)
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_TRANSACTION_POOLING
# Sent as startup options; behind a pooler that rejects them (PgBouncer), set them on the role
# instead (`ALTER ROLE … SET jit = off`) and turn these off with DB_STARTUP_OPTIONS=false.
DB_SESSION_SETTINGS = {"jit": "on" if DB_JIT else "off"}
if DB_CLIENT_CHECK_INTERVAL_MS:
    DB_SESSION_SETTINGS["client_connection_check_interval"] = str(DB_CLIENT_CHECK_INTERVAL_MS)
if env.bool("DB_STARTUP_OPTIONS", default=not DB_TRANSACTION_POOLING):
    DATABASES["default"]["OPTIONS"]["options"] = " ".join(
        f"-c {name}={value}" for name, value in DB_SESSION_SETTINGS.items()
    )
# Shown in pg_stat_activity, so a session can be traced to its process (web, worker, test).
DATABASES["default"]["OPTIONS"]["application_name"] = env.str(
    "DB_APPLICATION_NAME", default="mapserver"
)
# A streaming read replica of the same database (docs/operations.md, "Read replica"): the read
# endpoints (tiles, features, search, identify, OGC items) of requesters who did not just write
# read from it; everything else uses the primary (`mapserver/db_router.py`). Same options as
# the primary; not a test database of its own (it mirrors the primary's in tests).
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
# After any write (POST, PUT, PATCH, DELETE) a client reads from the primary for this long (a
# signed cookie), so it sees its own writes whatever the replica's lag.
DATABASE_REPLICA_PIN_S = env.int("DATABASE_REPLICA_PIN_S", default=15)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **DATABASES["default"],
        **env.db_url_config(DATABASE_REPLICA_URL),
        "ENGINE": DATABASES["default"]["ENGINE"],
        "OPTIONS": dict(DATABASES["default"]["OPTIONS"]),
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["mapserver.db_router.ReplicaRouter"]
    # It needs the requester (staff read the primary), so it comes after authentication.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "mapserver.db_router.ReplicaReadsMiddleware",
    )

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Queues are named `<prefix><kind>` (mapserver/celery.py): imports, tiles, exports, default.
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_PREFIX + "default"
# A task is acknowledged when it ends, and given back if its worker process dies, so a killed
# worker's import or chunk runs again (each claims its job, so a rerun is safe).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task at a time per process: a long seed chunk never holds an import it prefetched.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker process that grew past this (KiB) is replaced after its task: one huge file cannot
# keep the memory (docs/operations.md).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=1_000_000
)
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long Redis keeps an unacknowledged message before giving it to another worker: a task whose
# worker vanished (machine lost) runs again after this, matching the stale-chunk time of seeds.
CELERY_VISIBILITY_TIMEOUT_S = env.int("CELERY_VISIBILITY_TIMEOUT_S", default=900)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# Sending fails fast when the broker is down: the outbox (layers/queueing.py) keeps the task.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
# Job liveness (layers/jobs.py): a running job's worker writes a heartbeat every
# JOB_HEARTBEAT_S; a job whose worker process is gone (same host) or silent for JOB_STALE_S is
# swept: requeued while it has attempts left (IMPORT_MAX_ATTEMPTS), else failed.
JOB_HEARTBEAT_S = env.float("JOB_HEARTBEAT_S", default=10)
JOB_STALE_S = env.float("JOB_STALE_S", default=120)
IMPORT_MAX_ATTEMPTS = env.int("IMPORT_MAX_ATTEMPTS", default=2)
# celery beat reads its schedule from the database (django-celery-beat's DatabaseScheduler: the
# layer sources' schedules are set in the admin); the static entries below are loaded into it.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
JOB_SWEEP_EVERY_S = env.float("JOB_SWEEP_EVERY_S", default=60)
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "layers.tasks.jobs_sweep", "schedule": JOB_SWEEP_EVERY_S},
    "outbox-flush": {"task": "layers.tasks.outbox_flush", "schedule": JOB_SWEEP_EVERY_S},
    # Expired export files deleted (EXPORT_LINK_TTL below says when a file expires).
    "exports-cleanup": {
        "task": "layers.tasks.exports_cleanup",
        "schedule": env.float("EXPORTS_CLEANUP_EVERY_S", default=900),
    },
    # Observation partitions made months ahead, and the sensor layers' retention applied.
    "sensors-partitions": {
        "task": "sensors.tasks.partitions_maintain",
        "schedule": env.float("SENSORS_MAINTAIN_EVERY_S", default=3600),
    },
    # Stations silent past their layer's stale_after alerted; failed alert messages sent again.
    "sensors-stale-check": {
        "task": "sensors.tasks.stale_check",
        "schedule": env.float("SENSORS_STALE_CHECK_EVERY_S", default=60),
    },
    "sensors-notifications-retry": {
        "task": "sensors.tasks.notifications_retry",
        "schedule": env.float("SENSORS_STALE_CHECK_EVERY_S", default=60),
    },
}

# Vector tiles are written here; a front server (nginx) may serve public ones straight from disk.
TILE_CACHE_DIR = Path(env.str("TILE_CACHE_DIR", default=str(BASE_DIR / "var" / "tiles")))
# The tile cache's storage (layers/tiles/cache.py): a folder by default, object storage later.
TILE_CACHE_BACKEND = env.str("TILE_CACHE_BACKEND", default="layers.tiles.cache.FolderTileCache")
# Behind nginx (`manage.py nginxconf`), Django hands cached private tiles to nginx with
# X-Accel-Redirect to this internal location; empty when Django serves the bytes itself.
TILE_ACCEL_REDIRECT_PREFIX = env.str("TILE_ACCEL_REDIRECT_PREFIX", default="") or None
# How long proxies and browsers may keep a public tile; tile URLs carry the layer version anyway.
TILE_PUBLIC_MAX_AGE_S = env.int("TILE_PUBLIC_MAX_AGE_S", default=300)
# The tile SQL is prepared once per database connection (layers/tiles/render.py); off behind a
# pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
TILE_SQL_PREPARE = env.bool("TILE_SQL_PREPARE", default=not DB_TRANSACTION_POOLING)
# A seed prebuilds at most this many tiles: its depth is lowered until the plan fits, and deeper
# tiles are rendered on demand (docs/tiles.md, "Seeding").
TILE_SEED_BUDGET = env.int("TILE_SEED_BUDGET", default=50_000)
# The most bytes a tile may have before gzip: past it, the smallest features are dropped (500 KiB
# is the usual limit of vector tile tools; a tile over it is slow to decode on a phone).
TILE_MAX_BYTES = env.int("TILE_MAX_BYTES", default=500 * 1024)
# A seed chunk still running after this lost its worker: the sweep queues it again. The broker's
# visibility timeout, so a chunk and its unacknowledged message come back at the same time.
TILE_STALE_CHUNK_AFTER_S = CELERY_VISIBILITY_TIMEOUT_S
# A chunk whose worker died this many times fails its job (it may be what kills the worker).
TILE_CHUNK_MAX_ATTEMPTS = env.int("TILE_CHUNK_MAX_ATTEMPTS", default=3)
# The tile cache is "full" for /healthz below either limit; after a failed write for lack of
# space, cache writes pause for TILE_CACHE_FULL_PAUSE_S (tiles are still served, just not kept).
TILE_CACHE_MIN_FREE_BYTES = env.int("TILE_CACHE_MIN_FREE_BYTES", default=256 * 2**20)
TILE_CACHE_MIN_FREE_PERCENT = env.float("TILE_CACHE_MIN_FREE_PERCENT", default=1.0)
TILE_CACHE_FULL_PAUSE_S = env.float("TILE_CACHE_FULL_PAUSE_S", default=60)
# /healthz tells anonymous callers only "ok" or which checks fail; staff (or a monitor sending
# `Authorization: Bearer <HEALTH_DETAIL_TOKEN>`) also get errors, outbox and queue sizes.
HEALTH_DETAIL_TOKEN = env.str("HEALTH_DETAIL_TOKEN", default="")
# Seconds a client is told to wait (Retry-After) when the database does not answer.
DB_UNAVAILABLE_RETRY_AFTER_S = env.int("DB_UNAVAILABLE_RETRY_AFTER_S", default=10)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"
# Backups (`manage.py backup`/`restore`, docs/operations.md "Backups"): where an archive goes when
# no -o is given, and the one folder to take pg_dump/pg_restore from (empty: Debian's folder of the
# server's major version, /usr/lib/postgresql/<major>/bin, then any newer one, then PATH).
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups")))
BACKUP_PG_BIN_DIR = env.str("BACKUP_PG_BIN_DIR", default="")
# When the deployed backup timer runs (systemd calendar syntax; deploy/systemd, `deployconf`).
BACKUP_CALENDAR = env.str("BACKUP_CALENDAR", default="*-*-* 02:30:00")
# How many days the deployed backup timer keeps archives in BACKUP_DIR.
BACKUP_KEEP_DAYS = env.int("BACKUP_KEEP_DAYS", default=14)

# django-axes counts failed sign-ins (admin and /api/v1/auth/login/) and locks a username from an
# address after AXES_FAILURE_LIMIT of them, for AXES_COOLOFF_MINUTES (docs/security.md). By the
# pair, not the username alone: a stranger could otherwise lock the admin out of their own site.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "layers.api.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "layers.api.auth.client_ip"
# How many proxies (nginx: 1) stand in front and append to X-Forwarded-For; the client's address
# is read that far from its end. 0: REMOTE_ADDR, and a client's own X-Forwarded-For is ignored
# (trusting it would let anyone dodge the throttles and the lockout with a made-up address).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
AXES_HTTP_RESPONSE_CODE = 429
# Its start-up banner would open the output of every command and worker.
AXES_VERBOSE = False

# Django's cache on Redis: DRF's throttles count there, so every gunicorn process shares the counts.
# Its own database (1 by default), because `cache.clear()` flushes the whole database it is in.
# How long a filtered page's `numberMatched` is kept (per version of the layer's data, so an
# edit never shows an old count): paging through a filtered result counts once.
FEATURE_COUNT_CACHE_S = env.int("FEATURE_COUNT_CACHE_S", default=300)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str(
            "CACHE_URL", default=urlunsplit(urlsplit(REDIS_URL)._replace(path="/1"))
        ),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="mapserver"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="vi")
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Ho_Chi_Minh")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    # The token first: DRF answers a request with neither credential 401 with the first class's
    # scheme (WWW-Authenticate: Token); with the session first it would be a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "layers.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Anonymous callers of the heavy endpoints (features pages, search, identify, exports) are
    # throttled per address by scope (layers/api/throttles.py); signed-in users are not.
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "features": env.str("THROTTLE_ANON_FEATURES", default="120/min"),
        "search": env.str("THROTTLE_ANON_SEARCH", default="60/min"),
        "identify": env.str("THROTTLE_ANON_IDENTIFY", default="120/min"),
        "exports": env.str("THROTTLE_ANON_EXPORTS", default="10/min"),
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "maps": env.str("THROTTLE_ANON_MAPS", default="60/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# API tokens (django-rest-knox): stored as SHA-512 digests, expiring after API_TOKEN_TTL_HOURS,
# revoked by logout, logoutall and a change of the user's password (layers/api/auth.py).
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("API_TOKEN_TTL_HOURS", default=168)),
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=20),
    "AUTH_HEADER_PREFIX": "Token",
}

# The REST API's OpenAPI 3 schema (/api/schema/) and its docs (/api/docs/), whose Swagger UI files
# come from drf-spectacular-sidecar and are served as our own static files: no CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Map layers API",
    "DESCRIPTION": "Layers, features, search, identify and exports of the city's map server. "
    "The OGC API - Features is at /ogc/.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Layers and jobs both have a "status": name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "LayerStatusEnum": "layers.models.LayerStatus",
        "JobStatusEnum": "layers.models.JobStatus",
    },
}

# Exports (/api/v1/layers/{slug}/export.*): the most features one holds, and how long GDAL may take.
EXPORT_MAX_FEATURES = env.int("EXPORT_MAX_FEATURES", default=500_000)
EXPORT_TIMEOUT_S = env.int("EXPORT_TIMEOUT_S", default=300)
# Export jobs (docs/api.md, docs/operations.md): GeoJSON and CSV of at most
# EXPORT_INLINE_MAX_FEATURES stream in the request; larger ones and every GeoPackage and Shapefile
# are written by a worker (the `exports` queue). A finished file is downloadable for
# EXPORT_LINK_TTL_HOURS, then deleted by `exports_cleanup` (beat, every
# EXPORTS_CLEANUP_EVERY_S); a requester (user or address) has at
# most EXPORT_MAX_ACTIVE_JOBS queued or running at once.
EXPORT_INLINE_MAX_FEATURES = env.int("EXPORT_INLINE_MAX_FEATURES", default=10_000)
EXPORT_LINK_TTL = timedelta(hours=env.float("EXPORT_LINK_TTL_HOURS", default=24))
EXPORT_MAX_ACTIVE_JOBS = env.int("EXPORT_MAX_ACTIVE_JOBS", default=3)
# A download asked for before its export is done waits this long for it (a GIS client that
# follows the old export.gpkg URL gets the file of a small layer), then answers 202 with the job.
EXPORT_DOWNLOAD_WAIT_S = env.float("EXPORT_DOWNLOAD_WAIT_S", default=20)
# Attachments of features (layers/attachments.py, docs/api.md): the largest file accepted, the
# kinds accepted (of JPEG, PNG and PDF; the bytes decide the kind, the name's extension must
# agree), the most pixels an image may have (decoding one costs 4 bytes a pixel), the longest side
# of a thumbnail, and how long shared caches may keep an attachment of a public layer.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 2**20)
ATTACHMENT_TYPES = env.list(
    "ATTACHMENT_TYPES", default=["image/jpeg", "image/png", "application/pdf"]
)
ATTACHMENT_MAX_PIXELS = env.int("ATTACHMENT_MAX_PIXELS", default=50_000_000)
ATTACHMENT_THUMBNAIL_PX = env.int("ATTACHMENT_THUMBNAIL_PX", default=320)
ATTACHMENT_PUBLIC_MAX_AGE_S = env.int("ATTACHMENT_PUBLIC_MAX_AGE_S", default=3600)
# Search (layers/features/search.py): each search statement is stopped after this many
# milliseconds (SET LOCAL, so it holds behind PgBouncer's transaction pooling), and ranks at most
# SEARCH_MAX_CANDIDATES matching names per kind of match (exact, prefix, containing the words).
SEARCH_STATEMENT_TIMEOUT_MS = env.int("SEARCH_STATEMENT_TIMEOUT_MS", default=2000)
SEARCH_MAX_CANDIDATES = env.int("SEARCH_MAX_CANDIDATES", default=2000)
# The most vertices one API answer carries (features pages, a feature, identify with geometries):
# about 30 bytes each in GeoJSON, so 500,000 is ~15 MB. Pages stop early (with a `next` link);
# a single feature over it is a 413 pointing to the vector tiles and exports (docs/api.md).
API_MAX_VERTICES = env.int("API_MAX_VERTICES", default=500_000)

# The region the city's data must fall in (lon/lat): demo checks and import warnings use it.
CITY_NAME = env.str("CITY_NAME", default="Huế")
CITY_REGION_BBOX = tuple(
    env.list("CITY_REGION_BBOX", cast=float, default=[106.9, 15.9, 108.3, 16.9])
)
CITY_CENTER = tuple(env.list("CITY_CENTER", cast=float, default=[107.5905, 16.4637]))

# Feature history (docs/history.md). A replacing import keeps the layer's old features as an
# archive table, so the layer can be read and restored as it was before; False drops them (as
# before history existed: no time travel past the import). Only for measuring what history costs.
HISTORY_ARCHIVE_IMPORTS = env.bool("HISTORY_ARCHIVE_IMPORTS", default=True)

# The web map (frontend/, docs/webmap.md). The base map is drawn from our own layers, named here by
# slug (one composite tile request); the layers switched on when the map opens are the base layers
# plus the default ones. An external raster base map (an XYZ URL template) is off unless set.
# The boundaries are today's (the wards and the city from 1 July 2025); the pre-2025 ones are
# ordinary layers, for the time slider.
WEBMAP_BASE_LAYERS = env.list(
    "WEBMAP_BASE_LAYERS",
    default=[
        "hue_wards_2025", "cong-vien", "song-ho", "quoc-lo-tinh-lo", "duong-pho", "toa-nha",
        "hue_city_boundary_2025",
    ],
)  # fmt: skip
WEBMAP_DEFAULT_LAYERS = env.list("WEBMAP_DEFAULT_LAYERS", default=["di-tich", "khu-dat-dau-tu"])
WEBMAP_START_ZOOM = env.float("WEBMAP_START_ZOOM", default=13.0)
WEBMAP_BASEMAP_URL = env.str("WEBMAP_BASEMAP_URL", default="")
WEBMAP_BASEMAP_ATTRIBUTION = env.str("WEBMAP_BASEMAP_ATTRIBUTION", default="")
# The investor page lists the parcels of the visible polygon layers of this category.
WEBMAP_INVESTMENT_CATEGORY = env.str("WEBMAP_INVESTMENT_CATEGORY", default="investment")
# The projected coordinates the map shows beside WGS 84 and accepts in "go to": an SRID of PostGIS's
# spatial_ref_sys (its proj4text goes to the browser). 9214 is VN-2000 / TM-3 107-00, Huế's zone.
WEBMAP_VN2000_SRID = env.int("WEBMAP_VN2000_SRID", default=9214)
# How many saved maps (short links of the web map) one user may keep (maps/services.py).
SAVED_MAPS_PER_USER = env.int("SAVED_MAPS_PER_USER", default=500)

# Imports (docs/import.md): the largest upload accepted, what an archive may unpack to, where the
# worker unpacks (the system's temporary folder when empty), the category of layers an import
# creates without naming one, and whether uploads are kept once their job has finished.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=512 * 2**20)
IMPORT_MAX_UNPACKED_BYTES = env.int("IMPORT_MAX_UNPACKED_BYTES", default=2 * 2**30)
IMPORT_MAX_ARCHIVE_FILES = env.int("IMPORT_MAX_ARCHIVE_FILES", default=1000)
# An archive may unpack to at most this many times its own size (past 16 MiB): no zip bombs.
IMPORT_MAX_COMPRESSION_RATIO = env.int("IMPORT_MAX_COMPRESSION_RATIO", default=200)
IMPORT_WORK_DIR = env.str("IMPORT_WORK_DIR", default="") or None
IMPORT_DEFAULT_CATEGORY = env.str("IMPORT_DEFAULT_CATEGORY", default="other")
IMPORT_KEEP_UPLOADS = env.bool("IMPORT_KEEP_UPLOADS", default=False)
# Per-feature warnings kept on a job (repaired, skipped); past it, one line counts the rest.
IMPORT_MAX_FEATURE_MESSAGES = 100
# A replacing import builds its layer's indexes in bulk with this much memory (per import), then
# swaps its table in (layers/partitions.py): it asks for the feature table's lock for at most
# PARTITION_SWAP_LOCK_TIMEOUT_MS at a time (readers of every layer queue behind that request),
# and gives up after PARTITION_SWAP_WAIT_S of trying, leaving the layer as it was.
IMPORT_MAINTENANCE_WORK_MEM = env.str("IMPORT_MAINTENANCE_WORK_MEM", default="256MB")
# A create or replace import of at least IMPORT_SESSION_MIN_ROWS features fills and indexes its
# table on this many database sessions at once (one core of PostgreSQL each).
IMPORT_SESSIONS = env.int("IMPORT_SESSIONS", default=2)
IMPORT_SESSION_MIN_ROWS = env.int("IMPORT_SESSION_MIN_ROWS", default=50_000)
PARTITION_SWAP_LOCK_TIMEOUT_MS = env.int("PARTITION_SWAP_LOCK_TIMEOUT_MS", default=500)
PARTITION_SWAP_WAIT_S = env.int("PARTITION_SWAP_WAIT_S", default=120)

# The admin's map widgets open at the city's centre over its base layers (WEBMAP_BASE_LAYERS).
GIS_ADMIN_DEFAULT_ZOOM = 12

# Log lines (docs/operations.md, "Logs"): the message alone by default; LOG_FORMAT=json writes one
# JSON object per line, one line per request and per task, each with its request id. Secrets are
# removed from every line in both formats.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

# Prometheus metrics at /metrics (docs/operations.md, "Metrics"), for these addresses or
# networks, a bearer METRICS_TOKEN (empty: none accepted) or GIS staff. Job figures cover the
# jobs that ended in the last METRICS_JOB_WINDOW_S.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_JOB_WINDOW_S = env.int("METRICS_JOB_WINDOW_S", default=3600)

# Debian 12 ships GDAL 3.6, which cannot block file/network access from crafted spatial references.
# Only GIS staff may upload data; the importer validates the SRS it is given (see docs/security.md).
SILENCED_SYSTEM_CHECKS = ["gis.W001"]


def _basemap_origins(url: str) -> list[str]:
    """Return the CSP source of an external base map's XYZ URL ({s}.host becomes *.host)."""
    if "://" not in url:
        return []
    scheme, rest = url.split("://", 1)
    host = rest.split("/", 1)[0]
    if "{" in host:
        host = "*." + host.split(".", 1)[1]
    return [f"{scheme}://{host}"]


# Content-Security-Policy (django-csp; docs/security.md): scripts only from our own origin or
# inline with the request's nonce (the web map's import map, the admin's progress script), no
# plugins, no framing. Styles may be inline: the admin and Swagger UI use style attributes and a
# <style> block, and styles cannot run code. MapLibre runs its worker from a blob: URL and decodes
# images from blob:; Swagger UI's icons are data: URLs. An external base map's host is allowed.
CSP_BASEMAP_ORIGINS = _basemap_origins(env.str("WEBMAP_BASEMAP_URL", default=""))
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *CSP_BASEMAP_ORIGINS],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *CSP_BASEMAP_ORIGINS],
        "worker-src": ["'self'", "blob:"],
        "child-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Behind a TLS-terminating proxy (nginx sets X-Forwarded-Proto), BEHIND_TLS=true turns on what
# `manage.py check --deploy` asks for: HTTPS redirects, HSTS, cookies sent over HTTPS only.
BEHIND_TLS = env.bool("BEHIND_TLS", default=False)
if BEHIND_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # A monitor may ask the app server directly over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if not SECURE_HSTS_PRELOAD:
        # Asking browsers to preload the domain is the domain owner's choice and hard to undo
        # (hstspreload.org); HSTS itself is on. Set SECURE_HSTS_PRELOAD=true to opt in.
        SILENCED_SYSTEM_CHECKS.append("security.W021")
# The certificate (full chain) and private key of nginx's TLS site, as `manage.py deployconf`
# writes it (docs/operations.md, "Installing on a Debian server"); read by nginx, not by Django.
TLS_CERTIFICATE = env.str("TLS_CERTIFICATE", default="")
TLS_CERTIFICATE_KEY = env.str("TLS_CERTIFICATE_KEY", default="")

# Browser libraries installed from npm (package.json), copied to var/vendor by the set-up and served
# as static files: no CDN at run time.
STATICFILES_DIRS = [
    ("vendor", BASE_DIR / "var" / "vendor"),
    # The web map's label glyphs (SDF PBFs), built from a font by scripts/build_glyphs.py.
    ("glyphs", BASE_DIR / "var" / "glyphs"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Layer sources (sources/, docs/sources.md): layers fed from other systems on a schedule.
# A source that fails this many runs in a row pauses itself (staff resume it in the admin).
SOURCES_MAX_FAILURES = env.int("SOURCES_MAX_FAILURES", default=3)
# Each HTTP request of a sync (GDAL's and ours): connect and whole-request timeouts, in seconds.
SOURCES_HTTP_CONNECT_TIMEOUT_S = env.int("SOURCES_HTTP_CONNECT_TIMEOUT_S", default=10)
SOURCES_HTTP_TIMEOUT_S = env.int("SOURCES_HTTP_TIMEOUT_S", default=120)
# The most bytes one sync may read from the network (all pages together); past it the run fails.
SOURCES_MAX_BYTES = env.int("SOURCES_MAX_BYTES", default=512 * 2**20)
# Where a source may point. Refused always: schemes other than http/https. Refused unless listed
# in SOURCES_ALLOWED_NETWORKS: loopback, link-local (169.254.0.0/16, fe80::/10, the cloud
# metadata addresses among them), unspecified, multicast and reserved addresses. Private networks
# (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: a city's own systems live there.
# SOURCES_ALLOWED_HOSTS, when set, restricts sources to these host names (".example.vn" matches
# its subdomains) and networks (CIDR).
SOURCES_ALLOWED_NETWORKS = env.list("SOURCES_ALLOWED_NETWORKS", default=[])
SOURCES_ALLOWED_HOSTS = env.list("SOURCES_ALLOWED_HOSTS", default=[])
# E-mail (Django's mail settings): failed source runs are mailed to ADMINS ("Name <a@b.vn>" or
# addresses) and SOURCES_NOTIFY_EMAILS.
ADMINS = [(address, address) for address in env.list("ADMINS", default=[])]
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="mapserver@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Staff are told of a failed run by e-mail (Django's mail settings) at these addresses, besides
# ADMINS; empty: ADMINS only.
SOURCES_NOTIFY_EMAILS = env.list("SOURCES_NOTIFY_EMAILS", default=[])
# The runs kept per source (older ones are deleted as new ones finish).
SOURCES_KEEP_RUNS = env.int("SOURCES_KEEP_RUNS", default=200)

# Sensor layers (sensors/, docs/sensors.md). The MQTT broker the subscriber reads
# (`manage.py sensors_subscribe`, started by scripts/serve.sh when set), e.g.
# mqtt://user:password@127.0.0.1:1883; empty: no subscriber. Topics: <prefix>/<source>/<station>.
SENSORS_MQTT_URL = env.str("SENSORS_MQTT_URL", default="")
SENSORS_MQTT_TOPIC = env.str("SENSORS_MQTT_TOPIC", default="hue/sensors/+/+")
# The subscriber writes what arrived every this many seconds or this many messages, whichever first.
SENSORS_MQTT_FLUSH_S = env.float("SENSORS_MQTT_FLUSH_S", default=0.5)
SENSORS_MQTT_FLUSH_MESSAGES = env.int("SENSORS_MQTT_FLUSH_MESSAGES", default=2000)
# The subscriber's MQTT client id: with one, the broker keeps its session and queues the readings
# published while it is down (sensors/mqtt.py); empty: a clean session, which loses them. One per
# host by default, so two hosts' subscribers never take each other's session.
SENSORS_MQTT_CLIENT_ID = env.str(
    "SENSORS_MQTT_CLIENT_ID", default=f"mapserver-sensors-{socket.gethostname()}"[:128]
)
# The most records one HTTP batch may hold, and the most points one series answer holds.
SENSORS_MAX_BATCH = env.int("SENSORS_MAX_BATCH", default=10_000)
SENSORS_SERIES_MAX_POINTS = env.int("SENSORS_SERIES_MAX_POINTS", default=20_000)
# A reading this far ahead of the server's clock is refused (a wrong station clock would else
# hold the latest value in the future).
SENSORS_MAX_FUTURE_S = env.int("SENSORS_MAX_FUTURE_S", default=600)
# How many months of observation partitions are made ahead of now.
SENSORS_PARTITIONS_AHEAD_MONTHS = env.int("SENSORS_PARTITIONS_AHEAD_MONTHS", default=3)
# How long proxies and browsers may keep a latest-values or series answer (seconds).
SENSORS_LATEST_MAX_AGE_S = env.int("SENSORS_LATEST_MAX_AGE_S", default=5)
# Alerts (sensors/notifications.py, docs/sensor-alerts.md): e-mailed to these addresses (empty:
# the active staff with an address) and POSTed as JSON to the webhook URL when set, signed with
# HMAC-SHA256 when a secret is set. A failed message is retried after SENSORS_ALERT_RETRY_S,
# doubling, up to SENSORS_ALERT_MAX_ATTEMPTS. Events older than SENSORS_ALERT_NOTIFY_MAX_AGE_S
# (a history evaluated late) open and close alerts without a message.
SENSORS_ALERT_EMAILS = env.list("SENSORS_ALERT_EMAILS", default=[])
SENSORS_ALERT_WEBHOOK_URL = env.str("SENSORS_ALERT_WEBHOOK_URL", default="")
SENSORS_ALERT_WEBHOOK_SECRET = env.str("SENSORS_ALERT_WEBHOOK_SECRET", default="")
SENSORS_ALERT_WEBHOOK_TIMEOUT_S = env.float("SENSORS_ALERT_WEBHOOK_TIMEOUT_S", default=5)
SENSORS_ALERT_RETRY_S = env.float("SENSORS_ALERT_RETRY_S", default=60)
SENSORS_ALERT_MAX_ATTEMPTS = env.int("SENSORS_ALERT_MAX_ATTEMPTS", default=6)
SENSORS_ALERT_NOTIFY_MAX_AGE_S = env.int("SENSORS_ALERT_NOTIFY_MAX_AGE_S", default=3600)
# Anomaly detector parameters per property code, over sensors/detectors.py's PROPERTY_PARAMS,
# e.g. {"water_level": {"spike_threshold": 8}} (JSON in the environment).
SENSORS_DETECTORS = env.json("SENSORS_DETECTORS", default={})
