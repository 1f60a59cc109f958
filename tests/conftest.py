import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from apps.predictions import training
from apps.predictions.training import BaseSpec

ROOT = Path(__file__).resolve().parent.parent
REAL_SERVICES = os.environ.get("ZT_TEST_REAL_SERVICES") == "1"
VAR = Path(os.environ["ZEROTOUCH_VAR_DIR"])  # this run's (and xdist worker's) own, services.py


def _persona(username: str, *roles: str) -> User:
    user = User.objects.create_user(username=username, password=f"{username}-pass")
    # get_or_create: transactional tests empty every table, the migration's groups included.
    user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
    return user


# The cold-start base model, small: trained once per session on sandbox histories (the same
# path the product's cold start takes).
SMALL = BaseSpec(
    scenarios=("memory-leak", "cpu-saturation", "node-not-ready", "healthy"),
    train_seeds=(1, 2),
    holdout_seeds=(101,),
    hours=1.5,
)


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


# Personas: vic (viewer), olivia (operator), alice and bob (approvers), adam (admin).
@pytest.fixture
def vic(db):
    return _persona("vic", "viewer")


@pytest.fixture
def olivia(db):
    return _persona("olivia", "operator")


@pytest.fixture
def alice(db):
    return _persona("alice", "approver")


@pytest.fixture
def bob(db):
    return _persona("bob", "approver")


@pytest.fixture
def adam(db):
    return _persona("adam", "admin")


@pytest.fixture
def nobody(db):
    """Logged in, but holds no role at all."""
    return _persona("nobody")


def login(client, user):
    client.force_login(user)
    return client


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
        wait_for(lambda: _worker_seen(), timeout=60, what="the worker's first heartbeat")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


WORKER_MODEL_DIR = VAR / "models"


def _worker_seen() -> bool:
    from apps.core.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(hostname__startswith="test-worker@").exists()


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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


def sandbox_cluster(server, *, name: str = "sandbox"):
    """Register a running sandbox server as a cluster, the way an admin adds one."""
    from apps.clusters.services import cluster_create

    return cluster_create(
        actor="system:test",
        name=name,
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context="sandbox",
    )


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher(django_test_environment):
    """Tests create hundreds of users; the production hasher costs ~0.27 s each. Passwords in
    tests protect nothing, so a fast hasher (through override_settings, which clears Django's
    cached hasher list) is safe here and only here."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield
