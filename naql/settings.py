"""Naql settings: one module, driven by environment variables.

With no environment at all Naql runs on the embedded default: SQLite, files under
``NAQL_DATA_DIR`` (default ``./data``), and a filesystem Celery broker whose worker
``manage.py run`` starts. ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``NAQL_STORAGE=s3``
switch to PostgreSQL, Redis and S3-compatible storage; nothing else changes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DATA_DIR = Path(env.str("NAQL_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="naql-embedded-default-not-secret-change-me-in-service-mode")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "archive",
    "provenance",
    "apitokens",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "naql.middleware.RefuseNulMiddleware",
    "archive.replay.replay.ReplayHostMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "provenance.visibility.CurrentRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "naql.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "naql.wsgi.application"

# --- database ---------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'naql.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the embedded worker process write while the web process reads;
    # IMMEDIATE transactions make "claim a job" atomic without lock upgrades.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-naql.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- storage ----------------------------------------------------------------------------
NAQL_STORAGE = env.str("NAQL_STORAGE", default="file")
if NAQL_STORAGE == "s3":
    _warc_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("NAQL_S3_BUCKET"),
            "endpoint_url": env.str("NAQL_S3_ENDPOINT_URL", default=None),
            "access_key": env.str("NAQL_S3_ACCESS_KEY", default=None),
            "secret_key": env.str("NAQL_S3_SECRET_KEY", default=None),
            "location": env.str("NAQL_S3_PREFIX", default="warcs"),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _warc_storage = {
        "BACKEND": "archive.store.warcstore.ImmutableFileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "warcs"), "base_url": None},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(DATA_DIR / "media")}},
    "warcs": _warc_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
NAQL_TMP_DIR = Path(env.str("NAQL_TMP_DIR", default=str(DATA_DIR / "tmp")))

# --- capture ----------------------------------------------------------------------------
NAQL_CAPTURE_PROXY = env.str("NAQL_CAPTURE_PROXY", default="") or None
# With a proxy: also resolve names locally and refuse internal answers (on by default). Networks
# whose only way out is the proxy (no local DNS) turn this off; IP literals are always checked.
NAQL_CAPTURE_PROXY_LOCAL_DNS = env.bool("NAQL_CAPTURE_PROXY_LOCAL_DNS", default=True)
# Test-only: CIDRs exempt from the SSRF guard. Empty in every real deployment.
NAQL_CAPTURE_ALLOWED_NETWORKS = env.list("NAQL_CAPTURE_ALLOWED_NETWORKS", default=[])
NAQL_CAPTURE_CONNECT_TIMEOUT = env.float("NAQL_CAPTURE_CONNECT_TIMEOUT", default=10.0)
NAQL_CAPTURE_READ_TIMEOUT = env.float("NAQL_CAPTURE_READ_TIMEOUT", default=30.0)
NAQL_CAPTURE_TOTAL_TIMEOUT = env.float("NAQL_CAPTURE_TOTAL_TIMEOUT", default=120.0)
NAQL_CAPTURE_MAX_BODY = env.int("NAQL_CAPTURE_MAX_BODY", default=50 * 1024 * 1024)
# Imports: no record block over NAQL_CAPTURE_MAX_BODY (plus room for HTTP headers), and no gzip member
# inflating more than NAQL_IMPORT_MAX_RATIO times its compressed size once past NAQL_IMPORT_RATIO_FLOOR bytes.
NAQL_IMPORT_MAX_RATIO = env.int("NAQL_IMPORT_MAX_RATIO", default=200)
NAQL_IMPORT_RATIO_FLOOR = env.int("NAQL_IMPORT_RATIO_FLOOR", default=8 * 1024 * 1024)
NAQL_CAPTURE_MAX_REDIRECTS = env.int("NAQL_CAPTURE_MAX_REDIRECTS", default=10)
NAQL_CAPTURE_MAX_REQUISITES = env.int("NAQL_CAPTURE_MAX_REQUISITES", default=60)
NAQL_CAPTURE_MAX_REQUISITE_BYTES = env.int("NAQL_CAPTURE_MAX_REQUISITE_BYTES", default=30 * 1024 * 1024)
# A page requisite fetched again and found identical (URL, status 200, payload digest) to its
# latest capture made less than this many seconds ago is not recorded again: the capture's
# metadata record and the page's ``requisites_reused`` name the snapshot that holds it (issue 19,
# storage of unchanged recaptures). 0: every requisite is recorded (as a revisit when unchanged).
NAQL_CAPTURE_REQUISITE_REUSE_SECONDS = env.int("NAQL_CAPTURE_REQUISITE_REUSE_SECONDS", default=24 * 3600)
# Commit first, derive later: a capture is done when its bytes are written, fsynced, checksummed
# and indexed; text extraction then runs in the archive.tasks.analyse_snapshot task. True runs
# it right after the capture's commit in the capturing process instead (tests, scripts).
NAQL_ANALYSE_INLINE = env.bool("NAQL_ANALYSE_INLINE", default=False)
NAQL_CAPTURE_MAX_ATTEMPTS = env.int("NAQL_CAPTURE_MAX_ATTEMPTS", default=3)
# Browser captures (archive/capture/browser.py): Chromium behind Naql's recording proxy.
NAQL_BROWSER_EXECUTABLE = env.str("NAQL_BROWSER_EXECUTABLE", default="/usr/bin/chromium")
NAQL_BROWSER_PAGE_TIMEOUT = env.float("NAQL_BROWSER_PAGE_TIMEOUT", default=45.0)
NAQL_BROWSER_SETTLE_MAX = env.float("NAQL_BROWSER_SETTLE_MAX", default=8.0)
NAQL_BROWSER_SCROLL_STEPS = env.int("NAQL_BROWSER_SCROLL_STEPS", default=12)
NAQL_BROWSER_MAX_REQUESTS = env.int("NAQL_BROWSER_MAX_REQUESTS", default=300)
NAQL_BROWSER_MAX_BYTES = env.int("NAQL_BROWSER_MAX_BYTES", default=80 * 1024 * 1024)
NAQL_BROWSER_VIEWPORT = env.str("NAQL_BROWSER_VIEWPORT", default="1280x900")
# Capture mode when a request names none: raw (Naql's fetch client), browser, or auto (raw first,
# browser when the raw page has no article text). Hosts listed here (and their subdomains)
# default to the browser: their pages are empty shells filled in by scripts.
NAQL_CAPTURE_DEFAULT_MODE = env.str("NAQL_CAPTURE_DEFAULT_MODE", default="raw")
NAQL_CAPTURE_BROWSER_DOMAINS = env.list("NAQL_CAPTURE_BROWSER_DOMAINS",
                                        default=["x.com", "twitter.com", "facebook.com", "t.me"])
NAQL_JOB_STALE_AFTER = timedelta(seconds=env.int("NAQL_JOB_STALE_AFTER", default=15 * 60))
# Seconds between sweeps (stale running jobs back to pending; due pending jobs re-enqueued, which
# also re-sends jobs whose broker message was lost), and the base of a failed attempt's back-off.
NAQL_SWEEP_INTERVAL = env.int("NAQL_SWEEP_INTERVAL", default=300)
NAQL_JOB_RETRY_BACKOFF = env.int("NAQL_JOB_RETRY_BACKOFF", default=30)

# --- trace (provenance.trace: one URL in, its chain captured within these bounds) ---------
NAQL_TRACE_DEPTH = env.int("NAQL_TRACE_DEPTH", default=4)  # hops upstream from the starting URL
NAQL_TRACE_MAX_DOCUMENTS = env.int("NAQL_TRACE_MAX_DOCUMENTS", default=25)  # URLs captured or reused
NAQL_TRACE_TIME_BUDGET = env.float("NAQL_TRACE_TIME_BUDGET", default=300.0)  # seconds; checked between captures
NAQL_TRACE_REUSE_AGE = env.int("NAQL_TRACE_REUSE_AGE", default=24 * 3600)  # reuse captures younger than this (s)

# --- replay -----------------------------------------------------------------------------
# Origin that serves archived content (a separate origin keeps archived scripts away from
# Naql's cookies). Empty: replay responses are served with a CSP sandbox instead.
NAQL_REPLAY_HOST = env.str("NAQL_REPLAY_HOST", default="")
# Origin that citations, permalinks and PROV identifiers name (e.g. https://naql.example.org).
# Empty: the host each request came to (archive.uri.public_origin).
NAQL_PUBLIC_URL = env.str("NAQL_PUBLIC_URL", default="")
# Where `manage.py run` (and scripts/demo) listen when no address is given.
NAQL_ADDR = env.str("NAQL_ADDR", default="127.0.0.1:8000")

# --- WACZ packages, signing ---------------------------------------------------------------
# Built packages, cached by content (a package is rebuilt only when what goes in changes).
NAQL_PACKAGE_DIR = Path(env.str("NAQL_PACKAGE_DIR", default=str(DATA_DIR / "packages")))
# The instance's ECDSA P-256 signing key (PKCS#8 PEM); generated there on first use.
NAQL_SIGNING_KEY = Path(env.str("NAQL_SIGNING_KEY", default=str(DATA_DIR / "signing" / "naql-signing-key.pem")))
# RFC 3161 time-stamping authority; empty: packages are signed and say they are untimestamped.
NAQL_TSA_URL = env.str("NAQL_TSA_URL", default="")
# PEM file of the TSA's published certificate chain (intermediates and root), added to each package.
NAQL_TSA_CERTS = env.str("NAQL_TSA_CERTS", default="")
NAQL_TSA_TIMEOUT = env.float("NAQL_TSA_TIMEOUT", default=20.0)
# Packages of more snapshots than this are built by a worker; smaller ones in the request.
NAQL_PACKAGE_INLINE_MAX = env.int("NAQL_PACKAGE_INLINE_MAX", default=10)

# --- celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or None
NAQL_EMBEDDED_QUEUE = CELERY_BROKER_URL is None
if NAQL_EMBEDDED_QUEUE:
    _broker_dir = DATA_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {"task": "archive.tasks.sweep_stale_jobs", "schedule": float(NAQL_SWEEP_INTERVAL)},
    "run-due-watches": {"task": "archive.tasks.run_due_watches", "schedule": 60.0},
    "sweep-stale-traces": {"task": "provenance.trace_tasks.sweep_stale_traces", "schedule": 300.0},
}
CELERY_TIMEZONE = "UTC"
# Browser jobs (mode browser/auto) go to their own queue: a worker without Chromium does not
# consume it (naql/celery.py), so they wait for one that has it.
CELERY_TASK_DEFAULT_QUEUE = "celery"
NAQL_BROWSER_QUEUE = "browser"
# Derived work (a page's text analysis, an import's analysis, the provenance follow-up of a capture,
# relation re-detection, package builds) goes to a queue of its own, so it never waits in front of
# captures: a deployment can run capture workers (``-Q celery``) and analysis workers
# (``-Q derived``) separately (docs/operations.md). A worker started without ``-Q`` (the one
# ``manage.py run`` starts on the embedded default, and ``celery -A naql worker``) consumes every
# queue below, so one worker still does it all. Set it to "celery" to keep a single queue.
# ``manage.py capture URL...`` writes up to this many raw-mode pages into one WARC file indexed in
# one durable commit (archive/capture/batch.py): the fsyncs and the commit are paid once per batch;
# a page is archived when its batch commits. 1: one page per file. (API and admin jobs stay one
# message each, so that several workers capture them side by side.)
NAQL_CAPTURE_BATCH_SIZE = env.int("NAQL_CAPTURE_BATCH_SIZE", default=25)
NAQL_DERIVED_QUEUE = env.str("NAQL_DERIVED_QUEUE", default="derived")
NAQL_DERIVED_TASKS = (
    "archive.tasks.analyse_snapshot",
    "archive.tasks.analyse_snapshots",
    "archive.tasks.analyse_imported",
    "provenance.tasks.after_capture",
    "provenance.tasks.after_capture_many",
    "provenance.tasks.detect_document_relations",
    "provenance.tasks.build_document_package",
)
CELERY_TASK_QUEUES = {q: {"exchange": q, "routing_key": q}
                      for q in dict.fromkeys((CELERY_TASK_DEFAULT_QUEUE, NAQL_DERIVED_QUEUE, NAQL_BROWSER_QUEUE))}
CELERY_TASK_ROUTES = {name: {"queue": NAQL_DERIVED_QUEUE} for name in NAQL_DERIVED_TASKS}

# --- auth, i18n, static -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# The interface in the researchers' languages, chosen by the browser's Accept-Language or the
# switch on every page (a cookie); the archived text itself is never translated.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

# Behind a reverse proxy: which peers may tell us the client's address in X-Forwarded-For (for
# rate limits). NAQL_TRUSTED_PROXIES: addresses or CIDRs of your proxies (preferred);
# NAQL_NUM_PROXIES: how many proxies append to the header. Neither set: the header is ignored.
NAQL_TRUSTED_PROXIES = env.list("NAQL_TRUSTED_PROXIES", default=[])
NAQL_NUM_PROXIES = env.int("NAQL_NUM_PROXIES", default=0)

# Largest number of URLs in one capture request, and of links in one bulk review.
NAQL_API_MAX_BATCH = env.int("NAQL_API_MAX_BATCH", default=100)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apitokens.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer",
                                 "rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["naql.api_base.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["naql.api_base.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "naql.api_base.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["naql.api_base.AnonThrottle", "naql.api_base.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("NAQL_API_RATE_ANON", default="120/min"),
        "user": env.str("NAQL_API_RATE_USER", default="1200/min"),
        "capture": env.str("NAQL_API_RATE_CAPTURE", default="600/hour"),  # URLs submitted per user
    },
    "EXCEPTION_HANDLER": "naql.api.exception_handler",
    "NUM_PROXIES": NAQL_NUM_PROXIES,  # DRF's own use of it; Naql's throttles use naql.api_base.client_ip
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Naql API",
    "DESCRIPTION": (
        "Web archive and provenance: capture jobs, snapshots, TimeMaps, documents, publishers, relations, "
        "claims, claim links, chains (JSON and PROV-JSON) and the history of every provenance object.\n\n"
        "Authentication: `Authorization: Token <key>` (or `Bearer <key>`) with a key from the admin, or the "
        "browser session. Reading public data needs no login; capturing and editing need a user. "
        "Errors are always `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ReviewStatusEnum": "provenance.models.ReviewStatus",
        "CaptureJobStateEnum": "archive.models.CaptureJob.State",
        "PublisherKindEnum": "provenance.models.Publisher.Kind",
        "DocumentKindEnum": "provenance.models.Document.Kind",
        "ClaimKindEnum": "provenance.models.Claim.Kind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "naql.api.postprocess_schema",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("NAQL_LOG_LEVEL", default="INFO")},
}
