"""Settings, read from the environment with safe defaults for local use.

Environment variables:

- ``DATABASE_URL``: ``sqlite:///path`` (default: ``db.sqlite3`` beside ``manage.py``)
  or ``postgres://user:password@host:port/name``: the write side.
- ``READ_DATABASE_URL``: the read model's own PostgreSQL (unset: ``DATABASE_URL``'s).
- ``READ_REPLICA_URLS``: comma-separated hot standbys of the read database.
- ``ORDERS_DB_CONNECT_TIMEOUT``: seconds before a PostgreSQL connection gives up (2).
- ``ORDERS_REPLICA_MAX_LAG``: seconds a replica may be behind and still serve reads (5).
- ``ORDERS_AUTH_CACHE_SECONDS``: how long an authentication is remembered for reads
  while the write database is down (60; 0: off).
- ``SECRET_KEY``: required to serve with ``DEBUG`` off (the WSGI and ASGI entry points check).
- ``DEBUG``: ``1``/``true`` to enable; off by default.
- ``ALLOWED_HOSTS``: comma-separated (default ``127.0.0.1,localhost``).
- ``SECURE_SSL_REDIRECT``, ``SECURE_HSTS_SECONDS``, ``SECURE_HSTS_INCLUDE_SUBDOMAINS``,
  ``SECURE_HSTS_PRELOAD``, ``SESSION_COOKIE_SECURE``, ``CSRF_COOKIE_SECURE``: Django's
  settings of those names, all off by default (plain http on 127.0.0.1).
- ``SECURE_PROXY_SSL_HEADER``: the header a TLS-ending proxy sets to ``https``, e.g.
  ``X-Forwarded-Proto`` (unset: no header is trusted).
- ``CSRF_TRUSTED_ORIGINS``: comma-separated origins, e.g. ``https://orders.example.com``.
- ``ORDERS_INLINE_PROJECTION``: ``0`` to stop projecting events right after each
  commit (the catch-up path then keeps the read model current).
- ``ORDERS_INLINE_SYNCHRONOUS_COMMIT``: ``1`` to have the inline projection's
  transaction wait for its write-ahead log to reach the disk, as the command's does
  (default: it does not; catch-up repairs what a crash takes back).
- ``ORDERS_IDEMPOTENCY_KEY_TTL``: seconds an ``Idempotency-Key`` is remembered (86400).
- ``ORDERS_IDEMPOTENCY_WAIT_MS``: how long a request waits for a concurrent one with
  the same key before answering 409 (5000).
- ``ORDERS_MAX_WAITING_READS``: reads per process that may wait for the read model at
  once (2); past that a read answers at once, marked stale.
- ``LOG_FORMAT``: ``plain`` (default, for people) or ``json`` (one object per line).
- ``METRICS_BEARER_TOKEN``, ``METRICS_ALLOWED_IPS``: who may scrape ``/metrics`` (a
  token, or comma-separated addresses and networks); neither: loopback with ``DEBUG``,
  nobody without.
"""

import datetime
import ipaddress
import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.databases import database_settings, replica_aliases

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable (``1``, ``true``, ``yes``, ``on``)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def proxy_ssl_header(header: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto`` -> ``("HTTP_X_FORWARDED_PROTO", "https")``; "" -> None."""
    if not header.strip():
        return None
    return ("HTTP_" + header.strip().upper().replace("-", "_"), "https")


DEBUG = env_bool("DEBUG", default=False)

# The default key is for local use only: config/wsgi.py refuses to serve with it
# unless DEBUG is on, and `manage.py check --deploy` flags it.
SECRET_KEY = os.environ.get("SECRET_KEY") or "django-insecure-local-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default="127.0.0.1,localhost")

# HTTPS. Everything is off by default, so `make run` and `make serve` work over plain
# http on 127.0.0.1; behind TLS turn each on (`manage.py check --deploy` names any left
# off). HSTS is a promise browsers remember for SECURE_HSTS_SECONDS: start small.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=False)
# The header that tells Django the client came over https, for a proxy that ends TLS.
# Unset by default: only a proxy that sets (never passes on) the header may be trusted
# with it, or any client could claim https (deploy/nginx.conf sets X-Forwarded-Proto).
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))
# Origins (scheme and host) whose unsafe requests (the admin's forms) are trusted besides
# the request's own host, e.g. `https://orders.example.com` behind a proxy.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served locally (no CDN)
    "orders_write",
    "orders_read",
    "demo",  # seed_demo and the bulk loader: tooling, imported by neither side
]

MIDDLEWARE = [
    # First and last: HTTP requests counted and timed (Prometheus), whatever answers them.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Every response, even one another middleware makes, carries the request id.
    "common.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (STATIC_ROOT, from collectstatic) before anything else touches the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A page outside the API whose database cannot be reached: 503, naming the side.
    "common.views.DatabaseUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The write side, and optionally the read primary and its replicas (config/databases.py).
DATABASES = database_settings(os.environ, BASE_DIR)
DATABASE_ROUTERS = ["config.router.DatabaseRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# After logging in without a page to go back to.
LOGIN_REDIRECT_URL = "/dashboard/"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# collectstatic writes each file under a content-hashed name, gzipped beside it;
# WhiteNoise serves those with a cache lifetime of a year (the name changes with the file).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    # Token first: an anonymous API client gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, remembered for reads during a write-side outage (common/authentication.py).
        "common.authentication.CachedTokenAuthentication",
        "common.authentication.CachedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3 at /schema, Swagger UI at /docs (common/openapi.py describes the envelopes).
SPECTACULAR_SETTINGS = {
    "TITLE": "CQRS orders API",
    "DESCRIPTION": (
        "Commands (place, approve, cancel) and the dashboard read model. Every answer is "
        'an envelope: `{"success": true, "data": ...}` or `{"success": false, "error", '
        '"code", "details"?}`. See the README for the headers and guarantees.'
    ),
    "VERSION": "1.0.0",
    "TAGS": [
        {"name": "commands", "description": "Change orders (idempotent with a key)."},
        {"name": "dashboard", "description": "Read the read model."},
        {"name": "health", "description": "For load balancers."},
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "orders_write.statuses.OrderStatus"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.openapi.strip_trailing_slashes",
        "common.openapi.allow_empty_string_queries",
    ],
}

# The largest request body read (Django's setting; the largest valid order is a few
# kilobytes). A larger one is a 413 REQUEST_TOO_LARGE, read no further than this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Who gets /health's details (common/health.py): whoever may read the read model may see
# how fresh it is. A load balancer asks anonymously and gets the status alone: the
# event count and the projections' lag say how busy the business is.
HEALTH_DETAILS_PERMISSION = "orders_read.view_ordersummary"

# Project each committed event into the read model right after COMMIT.
ORDERS_INLINE_PROJECTION = env_bool("ORDERS_INLINE_PROJECTION", default=True)
# Whether that projection's COMMIT waits for the disk (PostgreSQL's synchronous_commit).
# Off by default: its rows are a head start on catch-up, which the durable event log
# repairs should a crash take the last moment's rows back (orders_read.engine.inline).
ORDERS_INLINE_SYNCHRONOUS_COMMIT = env_bool("ORDERS_INLINE_SYNCHRONOUS_COMMIT", default=False)

# How long an Idempotency-Key is remembered (Stripe: 24 hours); an expired key is new
# again, and `manage.py purge_idempotency_keys` deletes expired ones.
ORDERS_IDEMPOTENCY_KEY_TTL = datetime.timedelta(
    seconds=int(os.environ.get("ORDERS_IDEMPOTENCY_KEY_TTL", 24 * 60 * 60))
)
# How long a request waits for a concurrent one with the same key to finish (and then
# replays its answer) before answering 409 IDEMPOTENCY_KEY_IN_PROGRESS (PostgreSQL).
ORDERS_IDEMPOTENCY_WAIT_MS = int(os.environ.get("ORDERS_IDEMPOTENCY_WAIT_MS", 5000))
# How many reads per process may wait for the read model (``?min_version=N&wait=MS``) at
# once; each holds a server thread. Past that, a read answers at once, marked stale.
ORDERS_MAX_WAITING_READS = int(os.environ.get("ORDERS_MAX_WAITING_READS", 2))

# Who may scrape /metrics (common/metrics.py): a bearer token, or addresses and networks
# (the peer's address: behind a proxy, use the token). Neither: loopback with DEBUG on,
# nobody with it off.
METRICS_BEARER_TOKEN = os.environ.get("METRICS_BEARER_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", default="")
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as error:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {error}") from None

LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "common.request_id.RequestIdFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        # The same fields, then every field of the record (the access line's user,
        # command, outcome, duration...), as one JSON object per line.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
if LOG_FORMAT == "json":
    # Python's warnings (a missing STATIC_ROOT, a deprecation) go through logging too:
    # a bare warning line on stderr would break a stream of JSON objects.
    logging.captureWarnings(True)

# Hot standbys of the read database that dashboard reads may use (config/databases.py),
# and how far behind, in seconds, one may be before reads skip it for the read primary.
ORDERS_READ_REPLICAS = replica_aliases(DATABASES)
ORDERS_REPLICA_MAX_LAG = float(os.environ.get("ORDERS_REPLICA_MAX_LAG", 5))
# How long (seconds) a token or session that authenticated is remembered, for dashboard
# reads while the write database is down; 0 turns it off (common/authentication.py).
ORDERS_AUTH_CACHE_SECONDS = int(os.environ.get("ORDERS_AUTH_CACHE_SECONDS", 60))
