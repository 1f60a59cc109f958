"""The closed loop on a real Celery worker, the sandbox in fast-forward (30 simulated seconds
per second; the leak 20): collection -> scoring -> healing cycle -> Action -> governance ->
the sandbox changes -> verification -> resolved. Per safety mode: autonomous heals a
low-severity incident with no human; supervised changes nothing until an approver clicks
Approve in Chromium; halted touches nothing; an image that cannot be pulled escalates and
changes nothing."""

import time
from datetime import datetime
from pathlib import Path

import pytest
from django.test import Client
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.clusters.models import Cluster
from apps.clusters.tasks import collect
from apps.core.models import AuditEvent
from apps.core.services import safety_mode_set, safety_switch_set
from apps.governance.action_models import Action
from apps.healing.models import Incident, Status
from tests.support.browser import SHOTS, browser_login
from tests.support.paths import WORKER_MODEL_DIR
from tests.support.sandbox import sandbox_cluster, start_sandbox
from tests.support.users import login

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
MUTATING = ("patch", "scale", "delete", "create", "evict", "undo", "cordon")


@pytest.fixture
def fast(tmp_path, settings):
    """scenario -> (server, cluster), the sandbox running at 30x."""
    settings.MODEL_DIR = WORKER_MODEL_DIR
    servers = []

    def start(name: str, speed: float = 30):
        """`name`: a sandbox scenario or the path of a scenario file."""
        stem = Path(name).stem
        server = start_sandbox(tmp_path / stem, name, speed=speed)
        servers.append(server)
        return server, sandbox_cluster(server, name=stem)

    yield start
    for s in servers:
        s.stop()


def _run_until(cluster, predicate, *, timeout: float, what: str):
    """Queue a collection about every second (what beat does for a 1 s interval), one at a
    time, until `predicate` holds; each collection is followed on the worker by scoring and a
    healing cycle."""
    deadline = time.monotonic() + timeout
    queued, last = 0.0, None
    while time.monotonic() < deadline:
        # One collection at a time: a busy worker gets the next when it has done the last
        # (or after 5 s), not a backlog that it then runs back to back, bunching the samples.
        now = Cluster.objects.filter(pk=cluster.pk).values_list("last_collected_at", flat=True)
        seen = now.first()
        if seen != last or time.monotonic() - queued > 5:
            collect.delay(cluster.pk)
            queued, last = time.monotonic(), seen
        result = predicate()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _cycles_pass(cluster, incident, cycles: int) -> None:
    """Wait (no fixed sleep) until the worker's healing cycles have seen the incident again
    `cycles` more times: the loop had every chance to act."""
    seen = {incident.last_seen_at}

    def more() -> bool:
        seen.add(Incident.objects.get(pk=incident.pk).last_seen_at)
        return len(seen) > cycles

    _run_until(cluster, more, timeout=60, what=f"{cycles} more healing cycles")


def _incident(cluster, status=None):
    qs = Incident.objects.filter(cluster=cluster)
    if status:
        qs = qs.filter(status=status)
    return qs.first()


def _mutations(server) -> int:
    return sum(n for k, n in server.sandbox.mutations.items() if k.split()[0] in MUTATING)


def _memory_limit(server) -> str:
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(str(server.kubeconfig), "sandbox"))
    dep = api.read_namespaced_deployment("api", "shop")
    return dep.spec.template.spec.containers[0].resources.limits["memory"]


def test_autonomous_heals_a_memory_leak_with_no_human(celery_worker_process, fast, adam):
    safety_mode_set(actor=adam, mode="autonomous", reason="test: let it heal")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="test")
    # 20x: a leak's run between restarts needs samples enough to show its steady climb
    # (healing.selectors.MIN_TREND_POINTS) even when the worker shares a busy machine.
    server, cluster = fast("memory-leak", speed=20)
    resolved = _run_until(
        cluster,
        lambda: _incident(cluster, Status.RESOLVED),
        timeout=240,
        what="the leak's incident to be healed and verified",
    )
    assert resolved.cause == "memory_leak" and resolved.severity in ("P3", "P4")
    assert resolved.healed_by_zerotouch and not resolved.human_involved
    action = Action.objects.get(pk=resolved.action_id)
    assert action.status == "succeeded" and action.kind == "patch_resources"
    # Service was back when the executor saw the target healthy (on the cluster's clock), if
    # that was after the last cycle that saw the problem; else at the first that did not.
    verified = datetime.fromisoformat(action.result["verified_at"])
    first_clear = resolved.timeline.get(kind="recovered").at
    expected = verified if resolved.last_seen_at <= verified <= first_clear else first_clear
    assert resolved.recovered_at == expected
    assert action.approvals.get().approver.startswith("policy:")
    assert _memory_limit(server) == action.parameters["limits"]["memory"]
    kinds = list(resolved.timeline.values_list("kind", flat=True))
    assert kinds[:3] == ["started", "detected", "proposed"]
    assert {"approved", "verifying", "resolved"} <= set(kinds)
    assert resolved.mttd_seconds <= 120 and resolved.mttr_seconds is not None
    for verb in ("incident.opened", "incident.resolved"):
        assert AuditEvent.objects.filter(verb=verb, target_id=str(resolved.pk)).exists()
    overview = login(Client(), adam).get("/").content.decode()
    healed = overview.split('data-testid="overview-healed"')[1].split("</ul>")[0]
    assert f"#{resolved.pk} " in healed and "no human needed" in healed


def _crash_loop(tmp_path) -> str:
    """The memory-leak cluster with a config change that makes every new api pod crash from
    minute 15 (the sandbox has no crash-loop scenario file of its own)."""
    import yaml

    from apps.clusters.sandbox import scenario as sc

    doc = yaml.safe_load((sc.SCENARIO_DIR / "memory-leak.yaml").read_text())
    doc["name"] = "crash-loop"
    doc["faults"] = [
        {
            "at": "15m",
            "kind": "crash_loop",
            "target": "shop/api",
            "params": {"config": "broken"},
            "expect": ["CrashLoopBackOff"],
        }
    ]
    path = tmp_path / "crash-loop.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize(
    ("name", "cause", "kind", "ends"),
    [
        ("crash-loop", "bad_rollout", "rollout_undo", Status.RESOLVED),
        ("cpu-saturation", "saturation", "scale", Status.RESOLVED),
        # Mitigated: the node's workloads run elsewhere; the node waits for a person.
        ("node-not-ready", "node_failure", "drain_node", Status.ESCALATED),
    ],
)
def test_autonomous_fixes_each_kind_with_no_human(
    celery_worker_process, fast, adam, tmp_path, name, cause, kind, ends
):
    safety_mode_set(actor=adam, mode="autonomous", reason="test: let it heal")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="test")
    server, cluster = fast(_crash_loop(tmp_path) if name == "crash-loop" else name)
    done = _run_until(
        cluster,
        lambda: (i := _incident(cluster)) and i.recovered_at and i.status == ends and i,
        timeout=300,
        what=f"{name}: the fix to restore service",
    )
    assert done.cause == cause and not done.human_involved
    action = Action.objects.get(pk=done.action_id)
    assert action.kind == kind and action.status == "succeeded"
    assert action.approvals.get().approver.startswith("policy:")
    assert done.mttr_seconds is not None
    if kind == "drain_node":
        # Drained before the 300 s toleration ran out: every pod left the node by eviction,
        # none by the taint manager; they stay Terminating there (no kubelet confirms their
        # end) while their replacements serve from the other nodes.
        sb = server.sandbox
        with sb.lock:
            reasons = {e["reason"] for e in sb.store.list("events")}
            left = [p for p in sb.store.list("pods") if p["spec"].get("nodeName") == "node-2"]
            ready = [
                (d["status"].get("readyReplicas"), d["spec"]["replicas"])
                for d in sb.store.list("apps/deployments")
            ]
        assert "Evicted" in reasons and "TaintManagerEviction" not in reasons
        assert left and all(p["metadata"].get("deletionTimestamp") for p in left)
        assert all(have == want for have, want in ready), ready


def test_halted_touches_nothing(celery_worker_process, fast, adam):
    safety_mode_set(actor=adam, mode="halted", reason="test: emergency stop")
    server, cluster = fast("memory-leak")
    incident = _run_until(
        cluster, lambda: _incident(cluster), timeout=120, what="the leak's incident"
    )
    _cycles_pass(cluster, incident, 3)
    incident.refresh_from_db()
    assert incident.status == Status.OPEN
    assert Action.objects.get(pk=incident.action_id).status == "proposed"  # never approved
    assert _mutations(server) == 0


def test_an_image_that_cannot_be_pulled_escalates_and_changes_nothing(
    celery_worker_process, fast, adam
):
    safety_mode_set(actor=adam, mode="autonomous", reason="test")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="test")
    server, cluster = fast("image-pull-failure")
    escalated = _run_until(
        cluster,
        lambda: _incident(cluster, Status.ESCALATED),
        timeout=120,
        what="the pull failure's escalation",
    )
    assert escalated.cause == "image_pull" and "registry" in escalated.resolution
    assert not Action.objects.filter(cluster=cluster).exists()
    assert _mutations(server) == 0


@pytest.mark.browser
def test_supervised_waits_for_an_approval_in_the_browser_then_heals(
    celery_worker_process,
    fast,
    page,
    live_server,
    alice,
):
    server, cluster = fast("bad-rollout")
    incident = _run_until(
        cluster,
        lambda: (i := _incident(cluster)) and i.action_id and i,
        timeout=150,
        what="the bad rollout's proposal",
    )
    assert incident.cause == "bad_rollout"
    before = _mutations(server)
    _cycles_pass(cluster, incident, 2)
    assert _mutations(server) == before  # supervised: nothing happens on its own
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/healing/")
    page.wait_for_selector("[data-testid=incident-row]")
    page.click(f"text=#{incident.pk}")
    page.wait_for_selector("[data-testid=hypothesis]")
    assert "rollout of revision 2" in page.inner_text("[data-testid=hypothesis]")
    page.wait_for_selector("[data-testid=incident-chart] .main-svg", timeout=15000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "incident.png"), full_page=True)
    page.fill("form:has([data-testid=approve]) input[name=reason]", "roll it back")
    page.click("[data-testid=approve]")
    page.wait_for_url(f"{live_server.url}/healing/{incident.pk}/")
    healed = _run_until(
        cluster,
        lambda: _incident(cluster, Status.RESOLVED),
        timeout=180,
        what="the rollback to be verified",
    )
    assert healed.healed_by_zerotouch and healed.human_involved
    assert Action.objects.get(pk=healed.action_id).status == "succeeded"
    page.goto(f"{live_server.url}/healing/")
    page.select_option("select[name=status]", "")
    page.wait_for_selector("[data-testid=incident-row][data-status=resolved]")
    page.screenshot(path=str(SHOTS / "incidents.png"), full_page=True)
    assert page.console_errors == []
