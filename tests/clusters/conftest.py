"""The cluster tests' own fixture: the official client's gateway to the shared `sandbox`
(tests/support/fixtures.py)."""

import pytest

from apps.clusters.gateway import Gateway


@pytest.fixture
def gateway(sandbox):
    gw = Gateway.from_kubeconfig(sandbox.kubeconfig, "sandbox")
    yield gw
    gw.close()
