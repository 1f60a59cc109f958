"""The sandbox cluster, served over HTTPS in this process and reached through the official client
(and kubectl) exactly as a real cluster would be; registered as a cluster the way an admin adds
one, and collected by the collector's own code."""

from datetime import UTC, datetime
from pathlib import Path

from apps.clusters.sandbox import scenario
from apps.clusters.sandbox.server import SandboxServer
from apps.clusters.sandbox.sim import Sandbox
from apps.clusters.services import cluster_collect, cluster_create

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
    """A running sandbox server for scenario `name` (speed 0: paused, time moves only with
    server.sandbox.advance(seconds)); its kubeconfig is written into tmp_path."""
    sb = Sandbox(scenario.load(name), seed=seed, start=start)
    sb.advance(warmup)  # pods scheduled, started and ready
    server = SandboxServer(sb, speed=speed, **server_kw).start()
    server.kubeconfig = server.write_kubeconfig(tmp_path / "sandbox.kubeconfig")
    return server


def sandbox_cluster(server, *, name: str = "sandbox"):
    """Register a running sandbox server as a cluster, the way an admin adds one."""
    return cluster_create(
        actor="system:test",
        name=name,
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context="sandbox",
    )


def collect_through(live, cluster, minutes: float, step: int = 30) -> None:
    """Advance the paused sandbox `minutes` in `step`s, collecting after each step."""
    for _ in range(int(minutes * 60 / step)):
        live.sandbox.advance(step)
        assert cluster_collect(cluster=cluster).ok
        cluster.refresh_from_db()
