"""The simulation's behaviour, seen through the official client where it matters."""

import json
import ssl
import urllib.request

import pytest
from kubernetes.client.exceptions import ApiException

from apps.clusters.gateway import Gateway
from apps.clusters.sandbox import scenario
from apps.clusters.sandbox.sim import Sandbox
from tests.support.sandbox import START, start_sandbox


def _fingerprint(sb: Sandbox) -> str:
    pods = [
        (
            p["metadata"]["name"],
            p["spec"].get("nodeName"),
            p["status"].get("phase"),
            [c.get("restartCount") for c in p["status"].get("containerStatuses", [])],
        )
        for p in sb.store.list("pods")
    ]
    return json.dumps([pods, sb.failures], sort_keys=True)


def test_it_is_deterministic_for_a_seed():
    runs = []
    for seed in (7, 7, 8):
        sb = Sandbox(scenario.load("busy-day"), seed=seed, start=START)
        sb.advance(3 * 3600)
        runs.append(_fingerprint(sb))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_a_quiet_day_has_no_failures():
    sb = Sandbox(scenario.load("healthy"), seed=1, start=START)
    sb.advance(24 * 3600)
    assert sb.failures == []
    assert all(
        d["status"]["readyReplicas"] == d["spec"]["replicas"]
        for d in sb.store.list("apps/deployments")
    )


def _gw(tmp_path, name, seconds):
    server = start_sandbox(tmp_path, name)
    server.sandbox.advance(seconds)
    return server, Gateway.from_kubeconfig(server.kubeconfig, "sandbox")


def test_a_memory_leak_ends_in_oom_kills_and_crash_loop_back_off(tmp_path):
    server, gw = _gw(tmp_path, "memory-leak", 10 * 60)
    try:
        usage_before = {u.pod: u.memory for u in gw.pod_usage("shop") if u.pod.startswith("api")}
        server.sandbox.advance(5 * 60)
        usage_after = {u.pod: u.memory for u in gw.pod_usage("shop") if u.pod.startswith("api")}
        assert all(usage_after[p] > usage_before[p] for p in usage_before)  # it grows
        server.sandbox.advance(40 * 60)
        api = gw.pods("shop", label_selector="app=api")
        assert any(c.oom_killed and c.restarts >= 2 for p in api for c in p.containers)
        kinds = [f["kind"] for f in server.sandbox.failures]
        assert "OOMKilled" in kinds and "CrashLoopBackOff" in kinds
        first = min(f["time"] for f in server.sandbox.failures)
        assert first > "2026-01-05T09:11:00Z"  # not before the fault at minute 10
        reasons = {e.reason for e in gw.events()}
        assert {"OOMKilling", "BackOff"} <= reasons
    finally:
        server.stop()


def test_a_bad_rollout_crashes_and_undo_recovers(tmp_path):
    server, gw = _gw(tmp_path, "bad-rollout", 17 * 60)
    try:
        web = gw.pods("shop", label_selector="app=web")
        broken = [p for p in web if "broken" in p.containers[0].image]
        assert broken and all(not p.ready for p in broken)
        healthy = [p for p in web if "broken" not in p.containers[0].image]
        assert sum(p.ready for p in healthy) >= 2  # old pods keep serving during the rollout
        server.sandbox.advance(15 * 60)
        dep = gw.deployment("shop", "web")
        progressing = next(c for c in dep.conditions if c.type == "Progressing")
        assert progressing.reason == "ProgressDeadlineExceeded"
        assert any(
            c.waiting_reason == "CrashLoopBackOff"
            for p in gw.pods("shop", label_selector="app=web")
            for c in p.containers
        )
        gw.rollout_undo("shop", "web", revision=1)
        server.sandbox.advance(5 * 60)
        web = gw.pods("shop", label_selector="app=web")
        assert len(web) == 3 and all(p.ready and "broken" not in p.containers[0].image for p in web)
        assert gw.deployment("shop", "web").ready_replicas == 3
    finally:
        server.stop()


def test_a_node_that_stops_reporting_loses_its_pods_after_the_toleration(tmp_path):
    server, gw = _gw(tmp_path, "node-not-ready", 20 * 60 + 30)
    try:
        node = next(n for n in gw.nodes() if n.name == "node-2")
        assert not node.ready
        on_node = [p for p in gw.pods() if p.node == "node-2"]
        assert on_node and not any(p.ready for p in on_node)
        # The Deployments see it at once: each with a pod there is short of ready replicas.
        short = {d.name for d in gw.deployments() if d.ready_replicas < d.replicas}
        assert short and short == {p.owner.name.rsplit("-", 1)[0] for p in on_node}
        server.sandbox.advance(310)  # past the 300 s toleration
        # Marked for deletion, but no kubelet confirms it: Terminating, and replaced elsewhere.
        stranded = [p for p in gw.pods() if p.node == "node-2"]
        assert {p.name for p in stranded} == {p.name for p in on_node}
        assert all(p.terminating for p in stranded)
        assert all(d.ready_replicas == d.replicas for d in gw.deployments())
        assert "NodeNotReady" in {e.reason for e in gw.events()}
        assert "TaintManagerEviction" in {e.reason for e in gw.events()}
        server.sandbox.advance(30 * 60)
        assert next(n for n in gw.nodes() if n.name == "node-2").ready  # back after 30 min
        assert not [p for p in gw.pods() if p.node == "node-2"]  # its kubelet ended them
    finally:
        server.stop()


def test_draining_a_lost_node_has_its_pods_replaced_before_the_toleration(tmp_path):
    server, gw = _gw(tmp_path, "node-not-ready", 21 * 60)
    try:
        on_node = [p for p in gw.pods() if p.node == "node-2"]
        assert on_node and not any(p.ready for p in on_node)
        gw.cordon("node-2")
        for p in on_node:  # not ready, so the budgets let them go (IfHealthyBudget)
            gw.evict_pod(p.namespace, p.name)
        gw.evict_pod(on_node[0].namespace, on_node[0].name)  # already going: still a success
        server.sandbox.advance(60)  # well before the 300 s toleration
        stranded = [p for p in gw.pods() if p.node == "node-2"]
        assert {p.name for p in stranded} == {p.name for p in on_node}
        assert all(p.terminating and not p.ready for p in stranded)
        assert all(d.ready_replicas == d.replicas for d in gw.deployments())
        assert "TaintManagerEviction" not in {e.reason for e in gw.events()}
        # A force delete ends one at once; a negative grace period is refused by name.
        gw.core.delete_namespaced_pod(
            stranded[0].name, stranded[0].namespace, grace_period_seconds=0
        )
        assert stranded[0].name not in {p.name for p in gw.pods() if p.node == "node-2"}
        with pytest.raises(ApiException) as err:
            gw.core.delete_namespaced_pod(
                stranded[1].name, stranded[1].namespace, grace_period_seconds=-5
            )
        assert err.value.status == 422 and "gracePeriodSeconds" in err.value.body
    finally:
        server.stop()


def test_an_eviction_that_would_break_a_healthy_budget_is_refused(sandbox, gateway):
    from apps.clusters.gateway import errors

    web = gateway.pods("shop", label_selector="app=web")
    assert all(p.ready for p in web)  # minAvailable 2 of 3: one may go, not two
    gateway.evict_pod("shop", web[0].name)
    with pytest.raises(errors.PDBBlocked):
        gateway.evict_pod("shop", web[1].name)


def test_an_image_that_cannot_be_pulled_backs_off(tmp_path):
    server, gw = _gw(tmp_path, "image-pull-failure", 12 * 60)
    try:
        reasons = {
            c.waiting_reason
            for p in gw.pods("shop", label_selector="app=worker")
            for c in p.containers
        }
        assert reasons & {"ErrImagePull", "ImagePullBackOff"}
        assert gw.deployment("shop", "worker").ready_replicas >= 1  # old pods still serve
    finally:
        server.stop()


def test_a_claim_that_cannot_bind_keeps_pods_pending(tmp_path):
    server, gw = _gw(tmp_path, "unbound-pvc", 12 * 60)
    try:
        pending = [p for p in gw.pods("payments") if not p.node]
        assert pending and all(p.phase == "Pending" for p in pending)
        messages = [
            e.message for e in gw.events(namespace="payments") if e.reason == "FailedScheduling"
        ]
        assert any("unbound immediate PersistentVolumeClaims" in m for m in messages)
        claims = {c.name: c for c in gw.pvcs()}
        assert claims["ledger-data-v2"].phase == "Pending"
    finally:
        server.stop()


def test_cpu_saturation_is_throttled_at_the_limit_and_latency_rises(tmp_path):
    server, gw = _gw(tmp_path, "cpu-saturation", 5 * 60)
    try:
        latency_before = _latency(server, "api")
        server.sandbox.advance(45 * 60)
        api = [u for u in gw.pod_usage("shop") if u.pod.startswith("api")]
        assert all(u.cpu_m <= 1000 for u in api)  # limit 1 core: throttled, never above
        assert max(u.cpu_m for u in api) > 900
        assert _latency(server, "api") > 3 * latency_before
        assert "Saturated" in [f["kind"] for f in server.sandbox.failures]
    finally:
        server.stop()


def _metrics(server) -> str:
    ctx = ssl.create_default_context(cadata=server.ca_pem.decode())
    with urllib.request.urlopen(f"{server.url}/metrics", context=ctx, timeout=10) as r:
        return r.read().decode()


def _latency(server, deployment: str) -> float:
    for line in _metrics(server).splitlines():
        if (
            line.startswith("sandbox_request_latency_seconds")
            and f'deployment="{deployment}"' in line
        ):
            return float(line.split()[1])
    raise AssertionError(f"no latency for {deployment}")


def test_it_serves_prometheus_metrics_with_kube_state_metrics_and_cadvisor_names(sandbox):
    text = _metrics(sandbox)
    for name in (
        "kube_pod_container_status_restarts_total",
        "kube_pod_status_phase",
        "kube_deployment_status_replicas_available",
        "kube_node_status_condition",
        "kube_pod_container_resource_limits",
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    ):
        assert f"# TYPE {name}" in text
        assert any(line.startswith(name + "{") for line in text.splitlines()), name
    line = next(x for x in text.splitlines() if x.startswith("container_memory_working_set"))
    assert 'namespace="' in line and 'pod="' in line and float(line.split()[1]) > 0


def test_stress_chaos_raises_usage_until_it_ends(sandbox, gateway):
    pod = gateway.pods("shop", label_selector="app=worker")[0]
    before = next(u.cpu_m for u in gateway.pod_usage("shop") if u.pod == pod.name)
    gateway.create_chaos(
        "StressChaos",
        "shop",
        "burn",
        {
            "mode": "all",
            "duration": "2m",
            "selector": {"labelSelectors": {"app": "worker"}},
            "stressors": {"cpu": {"workers": 2, "load": 100}},
        },
    )
    during = next(u.cpu_m for u in gateway.pod_usage("shop") if u.pod == pod.name)
    assert during > before + 1500
    sandbox.sandbox.advance(150)
    after = next(u.cpu_m for u in gateway.pod_usage("shop") if u.pod == pod.name)
    assert after < before + 500
    phase = gateway.get_chaos("StressChaos", "shop", "burn")["status"]["experiment"]
    assert phase["desiredPhase"] == "Stop"


def test_a_cordoned_node_takes_no_new_pods(sandbox, gateway):
    before = {p.name for p in gateway.pods("shop", label_selector="app=web")}
    gateway.cordon("node-1")
    gateway.scale("shop", "web", replicas=9)
    sandbox.sandbox.advance(60)
    pods = gateway.pods("shop", label_selector="app=web")
    assert len(pods) == 9
    new = [p for p in pods if p.name not in before]
    assert len(new) == 6 and all(p.node in ("node-2", "node-3") for p in new)


def test_a_node_back_within_the_toleration_keeps_its_pods_and_they_are_ready_again(tmp_path):
    from apps.clusters.sandbox import faults

    server, gw = _gw(tmp_path, "node-not-ready", 21 * 60)
    try:
        on_node = {p.name for p in gw.pods() if p.node == "node-2"}
        with server.sandbox.lock:
            faults.restore(server.sandbox, "node_not_ready", "node-2")
        server.sandbox.advance(30)
        back = [p for p in gw.pods() if p.node == "node-2"]
        assert {p.name for p in back} == on_node and all(p.ready for p in back)
        assert all(d.ready_replicas == d.replicas for d in gw.deployments())
        server.sandbox.advance(300)  # the eviction it had scheduled finds the node Ready
        assert {p.name for p in gw.pods() if p.node == "node-2"} == on_node
        assert "TaintManagerEviction" not in {e.reason for e in gw.events()}
    finally:
        server.stop()


def test_a_write_cannot_take_back_or_fake_a_deletion(tmp_path):
    server, gw = _gw(tmp_path, "node-not-ready", 21 * 60)
    try:
        [going, staying] = [p for p in gw.pods() if p.node == "node-2"][:2]
        gw.evict_pod(going.namespace, going.name)
        body = {"metadata": {"deletionTimestamp": None, "labels": {"x": "1"}}}
        gw.core.patch_namespaced_pod(going.name, going.namespace, body)
        fake = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}
        gw.core.patch_namespaced_pod(staying.name, staying.namespace, fake)
        pods = {p.name: p for p in gw.pods()}
        assert pods[going.name].terminating and pods[going.name].labels["x"] == "1"
        assert not pods[staying.name].terminating
    finally:
        server.stop()


def test_network_chaos_adds_and_takes_back_exactly_its_own_effect(sandbox, gateway):
    """Delay adds to the workload's latency; loss and a partition drop the hit pods' share of
    its packets. Each object's end takes back what its start added, even if its pod is gone."""
    sb = sandbox.sandbox
    web = len(gateway.pods("shop", label_selector="app=web"))
    base = {"selector": {"labelSelectors": {"app": "web"}}, "duration": "1m"}
    gateway.create_chaos(
        "NetworkChaos",
        "shop",
        "slow",
        {**base, "mode": "all", "action": "delay", "delay": {"latency": "300ms"}},
    )
    gateway.create_chaos(
        "NetworkChaos",
        "shop",
        "lossy",
        {**base, "mode": "one", "action": "loss", "loss": {"loss": "60"}},
    )
    gateway.create_chaos(
        "NetworkChaos", "shop", "cut", {**base, "mode": "one", "action": "partition"}
    )
    assert sb.latency_extra["shop/web"] == pytest.approx(0.3 * web)
    assert sb.packet_loss["shop/web"] == pytest.approx((0.6 + 1.0) / web)
    gateway.delete_chaos("NetworkChaos", "shop", "cut")  # ended early, as an abort does
    assert sb.packet_loss["shop/web"] == pytest.approx(0.6 / web)
    victim = gateway.pods("shop", label_selector="app=web")[0]
    gateway.delete_pod("shop", victim.name, uid=victim.uid)
    sb.advance(90)  # the rest end by themselves
    assert sb.latency_extra["shop/web"] == pytest.approx(0)
    assert sb.packet_loss["shop/web"] == pytest.approx(0)


def test_container_kill_kills_only_the_named_container_once(sandbox, gateway):
    pod = gateway.pods("shop", label_selector="app=web")[0]
    restarts = pod.restarts
    name = pod.containers[0].name
    gateway.create_chaos(
        "PodChaos",
        "shop",
        "kill",
        {
            "mode": "all",
            "duration": "5m",
            "action": "container-kill",
            "containerNames": ["not-" + name],
            "selector": {"labelSelectors": {"app": "web"}},
        },
    )
    sandbox.sandbox.advance(30)
    assert next(p for p in gateway.pods("shop") if p.name == pod.name).restarts == restarts
    gateway.create_chaos(
        "PodChaos",
        "shop",
        "kill-it",
        {
            "mode": "all",
            "duration": "5m",
            "action": "container-kill",
            "containerNames": [name],
            "selector": {"labelSelectors": {"app": "web"}},
        },
    )
    sandbox.sandbox.advance(60)
    again = next(p for p in gateway.pods("shop") if p.name == pod.name)
    assert again.restarts == restarts + 1 and again.ready  # restarted once, not held down


def test_pod_kill_chaos_has_its_pod_replaced(sandbox, gateway):
    before = {p.uid for p in gateway.pods("shop", label_selector="app=web")}
    gateway.create_chaos(
        "PodChaos",
        "shop",
        "kill-one",
        {
            "mode": "one",
            "duration": "30s",
            "action": "pod-kill",
            "selector": {"labelSelectors": {"app": "web"}},
        },
    )
    sandbox.sandbox.advance(30)
    after = {p.uid for p in gateway.pods("shop", label_selector="app=web") if p.ready}
    assert len(after) == len(before) and len(before - after) == 1


def test_node_chaos_takes_its_node_down_for_its_duration_and_never_a_node_already_down(
    sandbox, gateway
):
    ready = lambda name: next(n for n in gateway.nodes() if n.name == name).ready  # noqa: E731
    gateway.create_chaos("NodeChaos", "", "down", {"nodeName": "node-1", "duration": "60s"})
    assert not ready("node-1") and ready("node-2")
    assert gateway.list_chaos("NodeChaos")[0]["metadata"]["name"] == "down"
    # A second object on a node already down takes nothing and gives nothing back.
    gateway.create_chaos("NodeChaos", "", "again", {"nodeName": "node-1", "duration": "10s"})
    sandbox.sandbox.advance(15)
    assert not ready("node-1")  # "again" ended; the node stays down for "down"
    sandbox.sandbox.advance(50)
    assert ready("node-1")
    stopped = gateway.get_chaos("NodeChaos", "", "down")["status"]["experiment"]
    assert stopped["desiredPhase"] == "Stop"
    gateway.delete_chaos("NodeChaos", "", "down")
    assert [o["metadata"]["name"] for o in gateway.list_chaos("NodeChaos")] == ["again"]
