"""Sandbox scenarios for healing: paused servers moved forward by the tests, collected in
process (the collector's own code) so a cycle sees what production would see."""

from pathlib import Path

import pytest

from tests.support.sandbox import sandbox_cluster, start_sandbox


def scenario_cluster(tmp_path, name: str, **kw):
    """`name` is a scenario of the sandbox or the path of a scenario file."""
    server = start_sandbox(tmp_path, name, **kw)
    return server, sandbox_cluster(server, name=Path(name).stem.replace("_", "-"))


@pytest.fixture
def scenario(tmp_path, db):
    """scenario("memory-leak") -> (server, cluster); servers stop after the test."""
    servers = []

    def start(name: str, **kw):
        server, cluster = scenario_cluster(tmp_path / Path(name).stem, name, **kw)
        servers.append(server)
        return server, cluster

    yield start
    for s in servers:
        s.stop()
