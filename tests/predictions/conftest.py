"""The prediction tests' own sandbox: the memory leak (the shared `sandbox`, `live` and the small
base model are in tests/support/fixtures.py: the soak and the other apps use them too)."""

import pytest

from tests.support.sandbox import sandbox_cluster, start_sandbox


@pytest.fixture
def leak(tmp_path):
    """The memory-leak scenario, paused: the api leaks from minute 10, OOM at about 17."""
    server = start_sandbox(tmp_path, "memory-leak")
    yield server
    server.stop()


@pytest.fixture
def leak_cluster(leak):

    return sandbox_cluster(leak, name="leak")
