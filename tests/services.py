"""Loaded with `-p tests.services` before Django is configured: finds PostgreSQL and Redis and
points the suite at them. Without them (a laptop) it falls back to SQLite and an in-memory
broker and says so; with REQUIRE_SERVICES=1 a missing service fails the run instead."""

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zerotouch")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"


def _postgres_error() -> str | None:
    import psycopg

    # The probe connects to the maintenance database; Django creates test_<name> itself.
    probe = PG_URL.rsplit("/", 1)[0] + "/postgres"
    try:
        psycopg.connect(probe, connect_timeout=3).close()
    except Exception as exc:  # any failure to connect means "not available"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def _redis_error() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
    except (OSError, redis.RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _configure() -> tuple[bool, list[str]]:
    # Each xdist worker gets its own var dir (logs, models, checkpoints) and database.
    var = ROOT / "var" / "test" / os.environ.get("PYTEST_XDIST_WORKER", "main")
    var.mkdir(parents=True, exist_ok=True)
    defaults = {
        "DEBUG": "0",
        "HTTPS": "0",  # the test client and live server speak plain HTTP
        "SECRET_KEY": "test-only-secret-key-not-for-production-" + "x" * 20,
        "ZEROTOUCH_VAR_DIR": str(var),
        "STATIC_MANIFEST": "0",
        "WHITENOISE_USE_FINDERS": "1",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "true",  # Playwright's sync API runs an event loop
        # A queue of this run's own: overlapping runs on one Redis never take each other's
        # tasks (the worker processes inherit it).
        "CELERY_QUEUE_PREFIX": f"zt-test-{os.getpid()}.",
        # Tests write sandbox kubeconfigs into pytest's temporary directories.
        "KUBECONFIG_DIRS": f"{var},{tempfile.gettempdir()}",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # An xdist worker inherits the controller's environment: its own var dir and queue
        # must replace the controller's, or two workers would share logs, models and tasks.
        os.environ["ZEROTOUCH_VAR_DIR"] = str(var)
        os.environ["CELERY_QUEUE_PREFIX"] = f"zt-test-{os.getpid()}."
        os.environ["KUBECONFIG_DIRS"] = f"{var},{tempfile.gettempdir()}"
    pg, rd = _postgres_error(), _redis_error()
    notes = []
    if pg is None:
        os.environ["DATABASE_URL"] = PG_URL
        notes.append(f"database: PostgreSQL at {PG_URL.split('@')[-1]}")
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{var / 'fallback.sqlite3'}"
        notes.append(f"database: FALLBACK to SQLite — PostgreSQL unavailable ({pg})")
    if rd is None:
        os.environ["CELERY_BROKER_URL"] = REDIS_URL
        notes.append(f"broker: Redis at {REDIS_URL}")
    else:
        os.environ["CELERY_BROKER_URL"] = "memory://"
        notes.append(
            f"broker: FALLBACK to in-memory — Redis unavailable ({rd}); worker tests are skipped"
        )
    real = pg is None and rd is None
    os.environ["ZT_TEST_REAL_SERVICES"] = "1" if real else "0"
    if REQUIRED and not real:
        missing = "; ".join(n for n in notes if "FALLBACK" in n)
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but a service is missing: {missing}")
    return real, notes


REAL_SERVICES, NOTES = _configure()


def pytest_report_header(config):
    return ["zerotouch services: " + n for n in NOTES]


def pytest_terminal_summary(terminalreporter):
    if not REAL_SERVICES:
        terminalreporter.write_line(
            "NOTE: this run used fallbacks (SQLite and/or in-memory broker), not the real "
            "services; set REQUIRE_SERVICES=1 to make that an error.",
            yellow=True,
        )
