"""ZeroTouch settings: everything comes from the environment (see .env.example).

The defaults run the embedded demo: SQLite, a Celery broker on the filesystem (no server) and
the sandbox cluster. Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS
and leaves DEBUG off.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
import plotly
from csp.constants import NONE, SELF
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():  # real environment variables win over the file
    environ.Env.read_env(BASE_DIR / ".env")
VAR_DIR = Path(env.str("ZEROTOUCH_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# Serve over HTTPS only: secure cookies, HSTS, redirect. On unless DEBUG; a test run or a
# plain-HTTP lab install may turn it off explicitly.
HTTPS = env.bool("HTTPS", default=not DEBUG)


def _key(var: str, filename: str) -> str:
    """A key from the environment (`VAR`, or the file named by `VAR_FILE`: a mounted secret);
    otherwise one generated once and kept in var/<filename>."""
    key = env.str(var, default="")
    if key:
        return key
    secret_file = env.str(f"{var}_FILE", default="")
    if secret_file:
        return Path(secret_file).read_text().strip()
    path = VAR_DIR / filename
    try:  # created owner-only from the first byte; O_EXCL: two processes never both write
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = _key("SECRET_KEY", "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",
    "csp",
    "axes",
    "apps.core",
    "apps.governance",
    "apps.clusters",
    "apps.predictions",
    "apps.healing",
    "apps.chaos",
    "apps.costs",
]

MIDDLEWARE = [
    "apps.core.middleware.HealthProbeMiddleware",  # first: probes answer whatever the Host
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.ViewerTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.HtmxLoginRedirectMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the 429 page
]

ROOT_URLCONF = "aiops_site.urls"
WSGI_APPLICATION = "aiops_site.wsgi.application"
ASGI_APPLICATION = "aiops_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.safety_banner",
                "apps.clusters.context_processors.halted_clusters_banner",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL=postgres://user:pass@host:5432/name (psycopg 3). Default: SQLite under var/.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'zerotouch.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialise writers up front, so the audit chain stays linear and
    # the worker, beat and web server never trip over "database is locked" mid-transaction.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login protection (django-axes): after LOGIN_FAILURE_LIMIT failed sign-ins for one username,
# or from one client address, that account or address is locked for LOGIN_LOCKOUT_MINUTES.
# Failures and lock-outs are audited (core/receivers.py). Unlock early with
# `manage.py axes_reset_username <name>` or `axes_reset_ip <address>`. The client address is
# the audit log's (TRUSTED_PROXY_COUNT decides how much of X-Forwarded-For to believe).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lock ends on time, so does its audit
AXES_LOCKOUT_CALLABLE = "apps.core.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "apps.core.middleware.client_ip"
AXES_VERBOSE = False  # the audit log records failures and lock-outs
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # plotly.js is served from the copy bundled in the plotly package: no CDN, same version.
    ("plotly", Path(plotly.__file__).parent / "package_data"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", default=not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
if WHITENOISE_USE_FINDERS:  # served straight from the finders; collectstatic not needed
    Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)

# --- Security -------------------------------------------------------------------------------
# Bodies larger than this are refused with a 400 naming the body (the API is small JSON).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # container health checks speak plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Celery ---------------------------------------------------------------------------------
# Default: kombu's filesystem transport under var/broker (no server). Production: redis://.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than any action may run, so an unacked task is not redelivered while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_RESULT_BACKEND = None  # state users see lives in our own models
# Queues by kind of work, so a 30-minute training never sits in front of a remediation. A
# worker reads the queues its `-Q` names (all five without -Q); each kind gets workers of its own
# in production. A task not named here goes to `default`: beat's sweeps, expiries, pruning,
# rollups and audit checkpoints. CELERY_QUEUE_PREFIX keeps runs on one Redis apart (tests).
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
TASK_QUEUES = {
    "collect": ("clusters.collect",),
    # healing.logs_fetch: an incident's latest log lines, read with the score worker's
    # read-only account (web pods have no cluster token).
    "score": ("predictions.score", "healing.cycle", "healing.logs_fetch"),
    # Long batch work: trainings, and the hourly verification of the whole audit chain (which
    # must not hold up notifications and expiries on `default`).
    "train": (
        "predictions.fit_anomaly",
        "predictions.train_base",
        "predictions.retrain",
        "core.audit_verify",
    ),
    "act": ("governance.action_execute", "governance.chaos_stop", "chaos.*"),
    "default": (),
}
CELERY_TASK_QUEUES = [Queue(CELERY_QUEUE_PREFIX + name) for name in TASK_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_PREFIX + "default"
CELERY_TASK_ROUTES = {
    task: {"queue": CELERY_QUEUE_PREFIX + name}
    for name, tasks in TASK_QUEUES.items()
    for task in tasks
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Beat schedules only while it holds the beat lease (apps/core/beat.py): a second beat (two
# replicas during a rollout, a forgotten process) stands by and takes over when the holder has
# not renewed for BEAT_LEASE_SECONDS.
CELERY_BEAT_SCHEDULER = "apps.core.beat:LeasedScheduler"
BEAT_LEASE_SECONDS = env.int("BEAT_LEASE_SECONDS", default=30)
# Audit checkpoints (core/anchor.py): the chain's head signed with AUDIT_KEY (or the file
# AUDIT_KEY_FILE names: keep it where the database's writers cannot read it) and written to
# AUDIT_CHECKPOINT_SINKS outside the database; audit_verify checks the chain against them.
AUDIT_KEY = _key("AUDIT_KEY", "audit_key")
# Generated into var/ unless set: fine for the demo; `check --deploy` warns in production.
AUDIT_KEY_CONFIGURED = bool(
    env.str("AUDIT_KEY", default="") or env.str("AUDIT_KEY_FILE", default="")
)
AUDIT_CHECKPOINT_SINKS = env.str("AUDIT_CHECKPOINT_SINKS", default="") or (
    f"file://{VAR_DIR / 'audit-checkpoints.jsonl'}"
)
AUDIT_CHECKPOINT_SECONDS = env.int("AUDIT_CHECKPOINT_SECONDS", default=60)
AUDIT_VERIFY_SECONDS = env.int("AUDIT_VERIFY_SECONDS", default=3600)
# Chaos: how often running experiments' probes are read (an abort comes within one interval
# after the grace), and how long after a run's end steady state is checked again.
CHAOS_WATCH_SECONDS = env.int("CHAOS_WATCH_SECONDS", default=10)
CHAOS_SETTLE_SECONDS = env.int("CHAOS_SETTLE_SECONDS", default=30)
# Alertmanager in (docs/healing.md#alerts-from-alertmanager): a firing alert Alertmanager has
# not sent again for this long stops counting as a signal (it re-sends every repeat_interval,
# 4 h by default: keep this above yours).
ALERTMANAGER_ALERT_TTL_MINUTES = env.int("ALERTMANAGER_ALERT_TTL_MINUTES", default=300)
# Notifications out (docs/notifications.md): links in messages start at ZEROTOUCH_URL; a
# webhook that answers 5xx, 429 or not at all is retried NOTIFY_MAX_ATTEMPTS times in all, after
# NOTIFY_RETRY_SECONDS, then twice as long each time; low severity waits for the digest, sent
# every NOTIFY_DIGEST_MINUTES.
ZEROTOUCH_URL = env.str("ZEROTOUCH_URL", default="http://127.0.0.1:8000/")
# Unset in production, links would point at localhost: `check --deploy` warns (zerotouch.W002).
ZEROTOUCH_URL_CONFIGURED = bool(env.str("ZEROTOUCH_URL", default=""))
NOTIFY_TIMEOUT_SECONDS = env.float("NOTIFY_TIMEOUT_SECONDS", default=10.0)
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=6)
NOTIFY_RETRY_SECONDS = env.int("NOTIFY_RETRY_SECONDS", default=30)
NOTIFY_DIGEST_MINUTES = env.int("NOTIFY_DIGEST_MINUTES", default=60)
# Email channels go through Django's mail backend (SMTP unless EMAIL_BACKEND says otherwise).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="zerotouch@localhost")
CELERY_BEAT_SCHEDULE = {
    # Expired safety modes and override switches fall back by themselves (also checked on read).
    "safety-expire": {"task": "core.safety_expire_due", "schedule": 15.0},
    # Expire unapproved proposals; re-queue actions whose task was lost or worker died.
    "actions-sweep": {"task": "governance.actions_sweep", "schedule": 30.0},
    # Queue a collection for every cluster whose own interval has elapsed.
    "clusters-collect-due": {"task": "clusters.collect_due", "schedule": 5.0},
    # Retention: samples and events older than SAMPLE_RETENTION_DAYS go.
    "clusters-prune-samples": {"task": "clusters.prune_samples", "schedule": 3600.0},
    # Learning loop: train a challenger once a day; it serves only if it beats the champion.
    # (A challenger is also trained after PREDICTION_RETRAIN_AFTER_FAILURES new failures.)
    "predictions-retrain-daily": {"task": "predictions.retrain", "schedule": 86400.0},
    # Finished notifications, spent approval links, resolved alerts and log excerpts older
    # than SAMPLE_RETENTION_DAYS go (apps register what they prune: core's PRUNERS).
    "core-prune": {"task": "core.prune", "schedule": 3600.0},
    # Risk scores and anomalies older than SAMPLE_RETENTION_DAYS go.
    "predictions-prune": {"task": "predictions.prune", "schedule": 3600.0},
    # Hourly usage rollups for the cost plan and waste report, once each hour is complete.
    "costs-rollup-usage": {"task": "costs.rollup_usage", "schedule": 60.0},
    # Chaos: watch running experiments (probes, aborts, ends); sweep fault objects left behind.
    "chaos-watch": {"task": "chaos.runs_watch", "schedule": float(CHAOS_WATCH_SECONDS)},
    "chaos-sweep": {"task": "chaos.sweep", "schedule": 60.0},
    "chaos-schedules": {"task": "chaos.schedules_due", "schedule": 60.0},
    # Notifications: queue deliveries whose quiet hours ended or whose queueing was lost.
    "notifications-sweep": {"task": "core.notifications_sweep", "schedule": 60.0},
    # Notifications: one digest message per channel with the low-severity events batched.
    "notifications-digest": {
        "task": "core.notifications_digest",
        "schedule": NOTIFY_DIGEST_MINUTES * 60.0,
    },
    # Sign the audit chain's head and write it outside the database (when it moved).
    "audit-checkpoint": {
        "task": "core.audit_checkpoint",
        "schedule": float(AUDIT_CHECKPOINT_SECONDS),
    },
    # Verify the whole chain against its checkpoints; /metrics exposes the result.
    "audit-verify": {"task": "core.audit_verify", "schedule": float(AUDIT_VERIFY_SECONDS)},
}
# GET /metrics answers anyone (no API token) only when this is on: for installations where a
# NetworkPolicy lets only Prometheus reach it.
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)
# Workers write a heartbeat row this often; /ai/status counts workers seen in the last minute.
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=15)

# --- ZeroTouch ------------------------------------------------------------------------------
# Directories a cluster's kubeconfig may be read from (an admin cannot point ZeroTouch at any
# other file on the host). Mount kubeconfigs under var/kubeconfigs/ or list your own.
KUBECONFIG_DIRS = [
    Path(d).resolve() for d in env.list("KUBECONFIG_DIRS", default=[str(VAR_DIR / "kubeconfigs")])
]
# Days of samples and events kept for learning and charts.
SAMPLE_RETENTION_DAYS = env.int("SAMPLE_RETENTION_DAYS", default=14)
# With a cluster's Prometheus URL set, its first collection reads this much history.
PROMETHEUS_BACKFILL_DAYS = env.int("PROMETHEUS_BACKFILL_DAYS", default=14)
# Steps of history read from Prometheus per collection (a long backfill spans many cycles).
PROMETHEUS_SLICE_POINTS = env.int("PROMETHEUS_SLICE_POINTS", default=240)
# Failure prediction: "this workload/node fails within the next H minutes".
PREDICTION_HORIZON_MINUTES = env.int("PREDICTION_HORIZON_MINUTES", default=15)
# Minutes of samples read for one scoring run (features look back 10 minutes).
PREDICTION_WINDOW_MINUTES = env.int("PREDICTION_WINDOW_MINUTES", default=20)
# Observed failures since the last training that trigger a retrain.
PREDICTION_RETRAIN_AFTER_FAILURES = env.int("PREDICTION_RETRAIN_AFTER_FAILURES", default=20)
# A cluster's own model needs this many observed failures; until then the sandbox base model
# serves, marked low-confidence.
PREDICTION_MIN_FAILURES = env.int("PREDICTION_MIN_FAILURES", default=20)
# Train the base model on first start, and challengers daily and after new failures.
PREDICTION_AUTO_TRAIN = env.bool("PREDICTION_AUTO_TRAIN", default=True)
# Days of stored history a challenger learns from (the newest; bounded memory).
PREDICTION_TRAIN_DAYS = env.int("PREDICTION_TRAIN_DAYS", default=7)
# Where trained models are written (atomically; refused on a scikit-learn version mismatch).
MODEL_DIR = Path(env.str("MODEL_DIR", default=str(VAR_DIR / "models")))
# Cost allocation reads the raw samples of a range outside the cost rollups (its partial first
# hour, the time after the rollups' mark; all of it before they catch up): at most this many
# (about 1.8 GB at 175 bytes each); a larger range is refused with the range that fits.
COSTS_ALLOCATION_MAX_SAMPLES = env.int("COSTS_ALLOCATION_MAX_SAMPLES", default=10_000_000)
# Mode of a fresh install; supervised = humans approve everything (fail closed).
ZEROTOUCH_INITIAL_MODE = env.str("ZEROTOUCH_INITIAL_MODE", default="supervised")
# How long an API token stays valid when none is given (days).
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", default=90)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Every sign-in is INFO there; failures and lock-outs are in the audit log instead.
        "axes": {"level": "WARNING"},
    },
}

# Number of reverse proxies in front of the web server whose X-Forwarded-For is trusted for the
# client IP written to the audit log (0 = use the socket address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
