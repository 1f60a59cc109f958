"""Shared set-up for the prediction tests: a small base model trained once per session on
sandbox histories (the same path the product's cold start takes), and a sandbox cluster."""

import pytest

from apps.predictions import training
from apps.predictions.training import BaseSpec
from tests.conftest import sandbox_cluster

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


@pytest.fixture
def sandbox(tmp_path):
    """A paused healthy sandbox over HTTPS: time moves with sandbox.sandbox.advance()."""
    from tests.clusters.conftest import start_sandbox

    server = start_sandbox(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_model(small_base_data):
    """The FailureModel the small base spec trains, fitted once per session."""
    from apps.predictions import failure

    train, _ = small_base_data
    return failure.train(
        train.features, train.y, groups=train.group, times=train.features["ts"],
        minutes_to_failure=train.minutes_to_failure,
    )  # fmt: skip


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
        services._make_champion(v, "system:test", "test base model")
    return v


def collect_through(live, cluster, minutes: float, step: int = 30) -> None:
    """Advance the paused sandbox `minutes` in `step`s, collecting after each step."""
    from apps.clusters.services import cluster_collect

    for _ in range(int(minutes * 60 / step)):
        live.sandbox.advance(step)
        assert cluster_collect(cluster=cluster).ok
        cluster.refresh_from_db()


@pytest.fixture
def leak(tmp_path):
    """The memory-leak scenario, paused: the api leaks from minute 10, OOM at about 17."""
    from tests.clusters.conftest import start_sandbox

    server = start_sandbox(tmp_path, "memory-leak")
    yield server
    server.stop()


@pytest.fixture
def leak_cluster(leak):

    return sandbox_cluster(leak, name="leak")
