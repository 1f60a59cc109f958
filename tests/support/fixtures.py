"""The suite's shared fixtures, a pytest plugin that tests/conftest.py registers once
(`pytest_plugins`). Helpers that tests call are in the plain modules beside this one.

The sandbox fixtures (`live`, `sandbox`, `cluster`) start the healthy scenario, paused, unless the
test's closest `scenario` marker says otherwise; its arguments are start_sandbox's:

    pytestmark = pytest.mark.scenario("memory-leak")       # the whole module
    @pytest.mark.scenario("healthy", speed=30)              # one test (or class)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.predictions import training
from tests.support.base_model import SMALL
from tests.support.browser import CHROMIUM
from tests.support.paths import REAL_SERVICES, ROOT, VAR, WORKER_MODEL_DIR
from tests.support.sandbox import sandbox_cluster, start_sandbox
from tests.support.users import persona
from tests.support.waiting import wait_for

# --- The run: its own databases, a fast password hasher ------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """TEST_DB_SUFFIX=x gives this run its own test database, so runs can overlap."""
    from django.conf import settings

    suffix = os.environ.get("TEST_DB_SUFFIX")
    if suffix:
        db = settings.DATABASES["default"]
        xdist = os.environ.get("PYTEST_XDIST_WORKER")  # each xdist worker its own database
        name = f"test_{db['NAME']}_{suffix}" + (f"_{xdist}" if xdist else "")
        db.setdefault("TEST", {})["NAME"] = name


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher(django_test_environment):
    """Tests create hundreds of users; the production hasher costs ~0.27 s each. Passwords in
    tests protect nothing, so a fast hasher (through override_settings, which clears Django's
    cached hasher list) is safe here and only here."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


# --- Personas: vic (viewer), olivia (operator), alice and bob (approvers), adam (admin) ------


@pytest.fixture
def vic(db):
    return persona("vic", "viewer")


@pytest.fixture
def olivia(db):
    return persona("olivia", "operator")


@pytest.fixture
def alice(db):
    return persona("alice", "approver")


@pytest.fixture
def bob(db):
    return persona("bob", "approver")


@pytest.fixture
def adam(db):
    return persona("adam", "admin")


@pytest.fixture
def nobody(db):
    """Logged in, but holds no role at all."""
    return persona("nobody")


# --- The sandbox: a server, and the same server registered as a cluster ----------------------


@pytest.fixture
def live(request, tmp_path):
    """A sandbox server over HTTPS, by default the healthy scenario paused (time moves with
    live.sandbox.advance()); `@pytest.mark.scenario(name, **start_sandbox options)` on the test,
    its class or its module chooses another. Stops after the test."""
    marker = request.node.get_closest_marker("scenario")
    args, options = (marker.args, marker.kwargs) if marker else ((), {})
    server = start_sandbox(tmp_path, *args, **options)
    yield server
    server.stop()


@pytest.fixture
def sandbox(live):
    """`live` under the name the cluster and prediction tests give the server."""
    return live


@pytest.fixture
def cluster(db, live):
    """`live` registered as the cluster `sandbox`, the way an admin adds one."""
    return sandbox_cluster(live)


# --- Models: the small base model, and where models are written ------------------------------


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    return settings.MODEL_DIR


@pytest.fixture(scope="session")
def small_base_data():
    """(train, hold-out) datasets from SMALL: simulated once per session."""
    return (
        training.simulated(SMALL, SMALL.train_seeds),
        training.simulated(SMALL, SMALL.holdout_seeds),
    )


@pytest.fixture(scope="session")
def small_model(small_base_data):
    """The FailureModel the small base spec trains (as the product fits it), once a session."""
    train, _ = small_base_data
    return training.fit_failure(train)


@pytest.fixture
def base_model(db, model_dir, small_model, small_base_data):
    """That model as the serving champion (the rows and artifact base_model_ensure writes)."""
    from django.db import transaction

    from apps.predictions import artifacts, dataset, services
    from apps.predictions.models import ModelVersion

    v = ModelVersion(kind="failure", version=1, source="sandbox-base", low_confidence=True)
    v.figures = dataset.score(small_model, small_base_data[1])
    v.artifact, v.artifact_sha256 = artifacts.write(model_dir, "failure-v1.pkl", small_model)
    with transaction.atomic():
        services.make_champion(v, "system:test", "test base model")
    return v


# --- A real Celery worker ---------------------------------------------------------------------


@pytest.fixture
def celery_worker_process(transactional_db, django_db_blocker):
    """A real `celery worker` process on the test database and the Redis broker."""
    if not REAL_SERVICES:
        pytest.skip("needs PostgreSQL and Redis (fallback run)")
    from django.db import connection

    from aiops_site.celery import app

    app.control.purge()  # this run's queue only
    s = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
        "WORKER_HEARTBEAT_SECONDS": "1",
        # Models the worker reads and writes; tests that share them point MODEL_DIR here too.
        "MODEL_DIR": str(WORKER_MODEL_DIR),
        # Training is started by tests that want it, not by every collection.
        "PREDICTION_AUTO_TRAIN": "0",
        # Two failure episodes (one each side of the hold-out cut) are enough in tests.
        "PREDICTION_MIN_FAILURES": "2",
    }
    log = open(VAR / "worker.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "aiops_site",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--hostname=test-worker@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(_worker_seen, timeout=60, what="the worker's first heartbeat")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _worker_seen() -> bool:
    from apps.core.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(hostname__startswith="test-worker@").exists()


# --- The browser: headless Chromium through Playwright ----------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors
    yield pg
    context.close()
