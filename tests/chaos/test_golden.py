"""The golden signals: the sandbox serves them in /metrics, a real Prometheus (Debian's) scrapes
them, and chaos probes read them back; a network delay that breaks the latency probe aborts
the run at the first watch that sees it, and the fault object is gone."""

import os
from datetime import UTC, datetime

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos import runs
from apps.chaos.models import Run
from apps.chaos.probes import evaluate
from apps.chaos.services import inject, plan
from apps.clusters.connect import gateway_for
from apps.clusters.labels import CHAOS_OPT_IN
from apps.clusters.services import cluster_create
from apps.core.services import safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Status
from apps.governance.actions import action_approve
from tests.support.prometheus import PROMETHEUS, scraping
from tests.support.sandbox import start_sandbox
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not os.path.exists(PROMETHEUS) and os.environ.get("REQUIRE_SERVICES") != "1",
        reason="needs Debian's prometheus package (apt-get install prometheus)",
    ),
]
GOLDEN = [
    {"kind": "request_rate", "min": 1, "window": "10s"},
    {"kind": "error_ratio", "max": 0.01, "window": "10s"},
    {"kind": "latency_p95", "max_seconds": 0.5, "window": "10s"},
]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """A real-time sandbox whose shop namespace opted in, scraped every second."""
    tmp_path = tmp_path_factory.mktemp("golden")
    server = start_sandbox(
        tmp_path, speed=1, start=datetime.now(UTC).replace(microsecond=0), warmup=0
    )
    server.sandbox.advance(60)  # pods up, then real time
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(server.kubeconfig)).configuration)
    k8s.CoreV1Api(api).patch_namespace(
        "shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}}
    )
    try:
        with scraping(server, tmp_path, history=12) as url:
            yield server, url
    finally:
        server.stop()


@pytest.fixture
def cluster(db, scraped):
    server, url = scraped
    return cluster_create(
        actor="system:test",
        name="sandbox",
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context="sandbox",
        prometheus_url=url,
    )


def read(cluster, probes, workload="web"):
    gw = gateway_for(cluster)
    try:
        return evaluate(
            gw,
            cluster=cluster,
            namespace="shop",
            workload=workload,
            selector={"app": workload},
            probes=probes,
            baseline={},
        )
    finally:
        gw.close()


def test_the_golden_signals_of_a_healthy_workload_hold_through_prometheus(cluster):
    rate, errors, p95 = read(cluster, GOLDEN)
    assert rate["ok"] and 20 < rate["value"] < 200, rate  # 3 replicas x 20 rps, daily cycle
    assert errors["ok"] and errors["value"] == 0, errors
    assert p95["ok"] and 0.05 < p95["value"] < 0.5, p95


def test_a_network_delay_that_breaks_the_latency_probe_aborts_at_the_first_watch(
    cluster, scraped, settings, olivia, alice, adam
):
    server, _ = scraped
    settings.CHAOS_SETTLE_SECONDS = 0
    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")
    run = inject(
        actor=olivia,
        plan=plan(
            actor=olivia,
            cluster=cluster,
            namespace="shop",
            target="web",
            fault="network-delay",
            duration_seconds=300,
            parameters={"latency": "1s"},
            probes_given=GOLDEN,
            grace_seconds=0,
        ),
    )
    assert all(r["ok"] for r in Run.objects.get(pk=run.pk).steady_before)
    action_approve(approver=alice, action=run.action, reason="game day")
    assert executor.execute(run.action_id) == Status.SUCCEEDED  # as the task would

    watches = []

    def aborted():
        watches.append(runs.runs_watch())
        return Run.objects.get(pk=run.pk).phase == Run.Phase.ABORTED

    wait_for(aborted, timeout=60, what="the latency probe to break", interval=1)
    run = Run.objects.get(pk=run.pk)
    broke = [e for e in run.timeline if e["kind"] == "probe"]
    [abort] = [e for e in run.timeline if e["kind"] == "abort"]
    # grace 0: the watch that first saw the broken probe aborted the run
    assert len(broke) == 1 and broke[0]["at"] == abort["at"]
    assert "latency_p95 <= 0.5 s" in run.end_reason
    assert sum(w["aborted"] for w in watches) == 1
    assert executor.chaos_stop(run.action_id, actor="test", reason="clean-up").endswith("deleted")
    assert server.sandbox.latency_extra["shop/web"] == pytest.approx(0)
