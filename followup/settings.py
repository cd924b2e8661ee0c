"""One settings module, driven by environment variables.

Every value has a safe default for local use; a value that is set but cannot be
understood stops the process with a message naming the variable, rather than
being silently replaced by a default.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import available_timezones

import dj_database_url
import pghistory
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from .beat import BEAT_SCHEDULE
from .env import env_bool, env_int, env_list, env_str, env_url, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

# The embedded servers of followup/ops/embedded.py, used when nothing else is configured.
EMBEDDED_PG_DIR = VAR_DIR / "pg"
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6390)
EMBEDDED_DATABASE_URL = f"postgresql://postgres@{quote(str(EMBEDDED_PG_DIR), safe='')}/followup"
EMBEDDED_REDIS_URL = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key(VAR_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}").rstrip("/")
# The base of the FHIR code systems, extensions and identifier systems this service names
# (docs/fhir.md): set it once, to a URL the organisation owns, and never change it after,
# since every stored copy of a resource keeps the systems it was sent with.
FHIR_CANONICAL_BASE = env_url("FHIR_CANONICAL_BASE", f"{SITE_URL}/fhir/")

INSTALLED_APPS = [
    "followup.apps.FollowupAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "patients",
    "imaging",
    "followup",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL in a query string is a 400 before anything reads it (PostgreSQL refuses it).
    "patients.base.middleware.RefuseNulInQueryString",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Opens the audit context (who, which URL) around every request.
    "pghistory.middleware.HistoryMiddleware",
    "patients.base.middleware.ApiRequestLogMiddleware",
    # Locks the admin login after repeated failures (last, as django-axes asks).
    "axes.middleware.AxesMiddleware",
    # Calls the view itself (once more after a deadlock; 503, not 500, after two): after
    # every other middleware's process_view, CSRF's above all. Axes has none.
    "followup.transient.RetryTransientErrors",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
# Failures are counted per address and per username, separately: one address trying
# many usernames is locked out, and so is one username tried from many addresses. The
# address is the client's, as the trusted proxies in front of the service saw it
# (TRUSTED_PROXY_COUNT, patients.base.middleware.client_address), never one for everybody.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "patients.base.middleware.client_address"
# How many proxies of ours stand in front (a TLS proxy: 1). Each appends the address it
# was connected from to X-Forwarded-For, so the client is that many entries from the
# right; what the client itself put there is ignored. 0: REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more")
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Argon2 first: new and re-hashed passwords use it; older hashes still verify.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

ROOT_URLCONF = "followup.urls"
WSGI_APPLICATION = "followup.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "followup" / "templates"],
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

try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", EMBEDDED_DATABASE_URL),
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
# One request, one transaction: a request that fails writes nothing.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgresql://...)")

REDIS_URL = env_str("REDIS_URL", EMBEDDED_REDIS_URL)
if not REDIS_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis:// or rediss://")
# A Redis that hangs (stopped, partitioned) instead of refusing must not hold a request:
# kombu waits forever by default, redis-py 5 s. Nothing waits for Redis: a nudge not
# sent is done by the sweep, a rate limit not checked lets the request through. Redis
# answers in a millisecond; a request meets this timeout up to three times (the rate
# limit, then the nudge and its one retry). Workers wait for messages with BRPOP read
# only when the socket is readable, so the timeout never cuts a wait for work.
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT_MS", 500) / 1000  # seconds
if REDIS_SOCKET_TIMEOUT <= 0:
    raise ImproperlyConfigured("REDIS_SOCKET_TIMEOUT_MS must be more than 0")
# /healthz/deep for a monitor (staff may read it with their session); empty: staff only.
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
if TIME_ZONE not in available_timezones():
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not an IANA time zone")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Security: safe by default, HTTPS-only when told the service is behind TLS.
SECURE_HTTPS = env_bool("SECURE_HTTPS", False)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = 31536000 if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_HTTPS else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Everything is served from here: no script, style or image from elsewhere. The
# admin's pictures are inline SVG; its templates use a few style attributes.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)

# E-mail: configured from the environment with Django's standard EMAIL_* names,
# given to Django 6.1's MAILERS (the EMAIL_* settings themselves are deprecated).
_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_BACKEND_NAME = env_str("EMAIL_BACKEND", _SMTP_BACKEND)
MAILERS = {
    "default": {
        "BACKEND": EMAIL_BACKEND_NAME,
        "OPTIONS": {
            "host": env_str("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 1025),
            "username": env_str("EMAIL_HOST_USER", ""),
            "password": env_str("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
            "timeout": env_int("EMAIL_TIMEOUT", 30),
        }
        if EMAIL_BACKEND_NAME == _SMTP_BACKEND
        else {},
    }
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "followup@localhost")

# The patient's own questionnaires (docs/proms.md): reminders this many days after the
# invitation went, while the answers have not arrived and the window is open.
PROM_REMINDER_DAYS = [int(day) for day in env_list("PROM_REMINDER_DAYS", ["3", "7"])]
if (
    any(day <= 0 for day in PROM_REMINDER_DAYS)
    or sorted(set(PROM_REMINDER_DAYS)) != PROM_REMINDER_DAYS
):
    raise ImproperlyConfigured("PROM_REMINDER_DAYS: distinct positive days, in order (3,7)")
# Openings of a questionnaire link per client address and 10 minutes: a guessing run is
# cut short (the tokens are 256 random bits: this is about load and noise).
PROM_LINK_RATE = env_int("PROM_LINK_RATE", 30)
# Answers posted per client address and 10 minutes (one screen each: the longest
# questionnaire has about 15, with going back and forth): a script posting in a loop is cut.
PROM_ANSWER_RATE = env_int("PROM_ANSWER_RATE", 120)
# The memory each sort or hash of an outcomes report may use, in MB (PostgreSQL's work_mem,
# for the report's transaction only): the reports of many clinics at once sort hundreds of
# thousands of rows, which the server's default (4 MB) writes to disk.
REPORT_WORK_MEM_MB = env_int("REPORT_WORK_MEM_MB", 64, minimum=4)
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "followup" / "locale"]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "followup",
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "patients.base.api.authentication.ApiClientTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "patients.base.api.permissions.HasClinicAccess",
        "patients.base.api.permissions.HasScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["patients.base.api.throttling.ClientRateThrottle"],
    # DRF's parsers, refusing what the database cannot store (patients/base/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "patients.base.api.parsers.JSONParser",
        "patients.base.api.parsers.FormParser",
        "patients.base.api.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "patients.base.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "patients.base.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Spine surgery follow-up API",
    "DESCRIPTION": "Surgeries, imaging exams and their follow-up, scoped to one clinic per token.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI from the installed package, not a CDN (offline, and inside the CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"Modality": "imaging.models.Modality"},
    "PREPROCESSING_HOOKS": ["patients.base.api.schema.only_rest_api"],
}

# SMART Backend Services (patients/base/smart/, docs/fhir.md "SMART"): how long an access
# token lives. Short: a stolen one is soon worthless, and revoking the client ends them all.
SMART_ACCESS_TOKEN_SECONDS = env_int("SMART_ACCESS_TOKEN_SECONDS", 300)
# Token requests per client address and minute: a backend asks for a token every few
# minutes; a loop of assertions (guessing, or a client gone wrong) is cut short.
SMART_TOKEN_RATE = env_int("SMART_TOKEN_RATE", 60)

# Outbound requests (followup/outbound.py; docs/security.md "Outbound requests"): https
# only, and public addresses only, unless told otherwise (`make run` and the tests' own
# receivers on 127.0.0.1 turn both on). WEBHOOK_TIMEOUT is one request's total deadline.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10)  # seconds, connect to status line
# One delivery run stops taking new deliveries when less than WEBHOOK_TIMEOUT is left of
# this (beat starts one a minute, expiring after 50 s).
WEBHOOK_TASK_BUDGET = env_int("WEBHOOK_TASK_BUDGET", 40)  # seconds
# An endpoint's circuit opens after this many failures in a row; it is tried again (one
# event, half-open) after at least the cool-down.
WEBHOOK_BREAKER_THRESHOLD = env_int("WEBHOOK_BREAKER_THRESHOLD", 5)
WEBHOOK_BREAKER_COOLDOWN = timedelta(minutes=env_int("WEBHOOK_BREAKER_COOLDOWN_MINUTES", 10))

# Celery: Redis is only a nudge; the database is the source of truth.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
# One queue per kind of work, named after the default queue: followup.urgent,
# followup.refresh, followup.delivery (followup/celery.py). Tests run their own worker
# on a family of their own (tests/worker.py).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "followup")
CELERY_TASK_ROUTES = ["followup.celery.route_task"]
CELERY_RESULT_EXPIRES = 3600
# The longest budget (a refresh); each task declares its own (followup/tasks.py).
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
# Above the longest task, so that a slow task is not delivered a second time while it runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * 60 * 60,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE  # followup/beat.py

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # pynetdicom logs datasets' contents (patients' names) at DEBUG: never below WARNING.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pynetdicom": {"level": "WARNING"},
    },
}

# Audit: every insert, update and delete of a tracked model is recorded by a
# Postgres trigger, with the user or API client of the request as context.
PGHISTORY_DEFAULT_TRACKERS = (
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
)
PGHISTORY_MIDDLEWARE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PGHISTORY_ADMIN_MODEL = "pghistory.MiddlewareEvents"
PGHISTORY_ADMIN_CLASS = "patients.base.audit.AuditEventsAdmin"

# The audit of reads (patients.RecordRead: who saw which patients, through the API, FHIR
# or the admin) is kept this many days, then deleted by the sweep; 0 keeps it forever.
# A year answers "who saw my record this year" and an annual access review
# (docs/security.md); set more where a rule asks for longer (six years: 2190).
READ_AUDIT_RETENTION_DAYS = env_int("READ_AUDIT_RETENTION_DAYS", 365, minimum=0)

# The hospital feeds' settings (HL7 v2, DICOM, their monitoring): followup/feed_settings.py.
from .feed_settings import *  # noqa: E402, F403
