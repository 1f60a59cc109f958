"""A healthy sandbox cluster with about 70 simulated minutes of collected history: enough for
rightsizing (1 hour, 30 samples), not for confidence."""

import pytest

from tests.support.sandbox import collect_through


@pytest.fixture
def collected(live, cluster):
    """The sandbox registered as cluster `sandbox`, collected every 2 minutes for 70 minutes."""
    collect_through(live, cluster, 70, step=120)
    return cluster
