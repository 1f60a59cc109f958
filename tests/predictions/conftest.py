"""Shared set-up for the prediction tests: sandboxes and clusters (the small base model is in
tests/conftest.py: the soak uses it too)."""

import pytest

from tests.conftest import sandbox_cluster


@pytest.fixture
def sandbox(tmp_path):
    """A paused healthy sandbox over HTTPS: time moves with sandbox.sandbox.advance()."""
    from tests.clusters.conftest import start_sandbox

    server = start_sandbox(tmp_path)
    yield server
    server.stop()


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
