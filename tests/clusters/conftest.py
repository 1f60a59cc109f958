"""The sandbox cluster, served over HTTPS in this process, reached through the official client
(and kubectl) exactly as a real cluster would be."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.clusters.gateway import Gateway
from apps.clusters.sandbox import scenario
from apps.clusters.sandbox.server import SandboxServer
from apps.clusters.sandbox.sim import Sandbox

# A fixed start keeps runs comparable (daily cycles, timestamps); 09:00 UTC on a Monday.
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def start_sandbox(
    tmp_path: Path,
    name: str = "healthy",
    *,
    seed: int = 1,
    speed: float = 0,
    warmup: float = 60,
    start: datetime = START,
    **server_kw,
) -> SandboxServer:
    sb = Sandbox(scenario.load(name), seed=seed, start=start)
    sb.advance(warmup)  # pods scheduled, started and ready
    server = SandboxServer(sb, speed=speed, **server_kw).start()
    server.kubeconfig = server.write_kubeconfig(tmp_path / "sandbox.kubeconfig")
    return server


@pytest.fixture
def sandbox(tmp_path):
    """A paused sandbox (speed 0): time moves only with sandbox.sandbox.advance(seconds)."""
    server = start_sandbox(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def gateway(sandbox):
    gw = Gateway.from_kubeconfig(sandbox.kubeconfig, "sandbox")
    yield gw
    gw.close()
