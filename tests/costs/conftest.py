"""A healthy sandbox cluster with about 70 simulated minutes of collected history: enough for
rightsizing (1 hour, 30 samples), not for confidence."""

import pytest

from tests.clusters.conftest import start_sandbox
from tests.conftest import sandbox_cluster
from tests.predictions.conftest import collect_through


@pytest.fixture
def live(tmp_path):
    """A paused healthy sandbox over HTTPS: time moves with live.sandbox.advance()."""
    server = start_sandbox(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def collected(db, live):
    """The sandbox registered as cluster `sandbox`, collected every 2 minutes for 70 minutes."""
    cluster = sandbox_cluster(live)
    collect_through(live, cluster, 70, step=120)
    return cluster
