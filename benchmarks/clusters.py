"""Sandbox and collector at scale: the `large` scenario (50 nodes, 2,000 pods).

- a full pod list through the official client (target < 300 ms)
- one collection cycle into PostgreSQL (target < 2 s) and the collecting process's peak RSS
  (target < 500 MB)
- a simulated day fast-forwarded (target < 60 s)
The sandbox runs in its own process, as in production the API server is elsewhere.
"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fast_forward() -> None:
    from apps.clusters.sandbox import scenario
    from apps.clusters.sandbox.sim import Sandbox

    t = time.perf_counter()
    sb = Sandbox(scenario.load("large"), seed=1)
    sb.advance(120)
    built = time.perf_counter() - t
    t = time.perf_counter()
    sb.advance(24 * 3600)
    day = time.perf_counter() - t
    print(
        f"sandbox build + warm-up:  {built:6.2f} s ({sb.store.count('pods')} pods, "
        f"{sb.store.count('nodes')} nodes)"
    )
    print(f"fast-forward 24 h:        {day:6.2f} s (target < 60 s)")


def run() -> None:
    from benchmarks.support import drop_database, free_port, scratch_database

    url = scratch_database()
    if url:
        os.environ["DATABASE_URL"] = url
    tmp = Path(tempfile.mkdtemp())
    os.environ["KUBECONFIG_DIRS"] = str(tmp)  # the product reads kubeconfigs only from there
    import django

    django.setup()
    _fast_forward()
    kubeconfig, port = tmp / "large.kubeconfig", free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aiops_site.settings"}
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "sandbox",
            "--scenario",
            "large",
            "--speed",
            "0",
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        _measure(kubeconfig, url)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if url:
            drop_database(url)


def _measure(kubeconfig: Path, url: str) -> None:
    from apps.clusters.gateway import Gateway

    gw = Gateway.from_kubeconfig(kubeconfig, "sandbox", timeout=30)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        pods = gw.pods()
        times.append(time.perf_counter() - t)
    print(
        f"pod list (official client): median {statistics.median(times) * 1000:6.0f} ms, "
        f"p max {max(times) * 1000:.0f} ms over {len(pods)} pods (target < 300 ms)"
    )
    gw.close()
    if not url:
        print("collection: skipped (PostgreSQL unavailable)")
        return
    from django.core.management import call_command
    from django.db import connection

    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")

    from apps.clusters.models import ContainerSample
    from apps.clusters.services import cluster_collect, cluster_create

    call_command("migrate", verbosity=0)
    cluster = cluster_create(
        actor="system:bench",
        name="large",
        connection="sandbox",
        kubeconfig_path=str(kubeconfig),
        context="sandbox",
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cycles = []
    for _ in range(3):
        cluster.refresh_from_db()
        t = time.perf_counter()
        result = cluster_collect(cluster=cluster)
        cycles.append(time.perf_counter() - t)
        assert result.ok, result.message
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"collection cycle (PG):    median {statistics.median(cycles):6.2f} s for "
        f"{result.pods} pods, {ContainerSample.objects.count()} samples stored "
        f"(target < 2 s)"
    )
    print(
        f"collector peak RSS:       {peak:6.0f} MB (before collecting {rss_before:.0f} MB; "
        "target < 500 MB)"
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    os.environ.setdefault("HTTPS", "0")
    run()
