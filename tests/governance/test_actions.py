"""Actions end to end on the service level: proposal, the approval policy, the guards, and
the executor changing the sandbox over HTTPS (called directly, as a task would)."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.core.errors import ApplicationError, Conflict, NotFound, RoleRequired, ValidationFailed
from apps.core.models import AuditEvent, Notification
from apps.core.services import safety_mode_set, safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Action, Status
from apps.governance.actions import (
    action_approve,
    action_propose,
    action_reject,
    action_update_parameters,
    actions_expire_due,
    policy_active,
)
from apps.governance.models import Policy
from tests.support.users import persona

# `live` (and `cluster`, registered): a sandbox moving at 30x, so rollouts finish while the
# executor verifies.
pytestmark = [pytest.mark.django_db, pytest.mark.scenario("healthy", speed=30)]


@pytest.fixture
def fast_policy(db):
    p = policy_active()
    Policy.objects.filter(pk=p.pk).update(rules={**p.rules, "verify_timeout_seconds": 20})


def _scale(cluster, who, replicas=4, **kw):
    return action_propose(
        actor=who,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_name="web",
        parameters={"replicas": replicas},
        reason="traffic",
        **kw,
    )


def test_it_proposes_approves_executes_and_verifies(cluster, live, olivia, alice, fast_policy):
    action = _scale(cluster, olivia)
    assert action.status == Status.PROPOSED and action.required_approvals == 1
    assert action.target_uid and action.workload == "web"
    action = action_approve(approver=alice, action=action, reason="ok")
    assert action.status == Status.QUEUED
    assert executor.execute(action.pk) == Status.SUCCEEDED
    action.refresh_from_db()
    assert action.snapshot["replicas"] == 3 and "4/4 ready" in action.status_reason
    assert live.sandbox.mutations["scale apps/deployments"] == 1
    verbs = list(
        AuditEvent.objects.filter(target_type="action")
        .order_by("seq")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "action.proposed",
        "action.approved",
        "action.queued",
        "action.running",
        "action.succeeded",
    ]
    assert executor.execute(action.pk) == "skipped"  # delivered again: nothing happens
    assert live.sandbox.mutations["scale apps/deployments"] == 1


def test_nobody_approves_their_own_action(cluster, adam):
    action = _scale(cluster, adam)
    with pytest.raises(ApplicationError, match="four eyes"):
        action_approve(approver=adam, action=action)
    assert Action.objects.get(pk=action.pk).status == Status.PROPOSED


@pytest.mark.parametrize(
    ("who", "allowed"), [("vic", False), ("olivia", False), ("alice", True), ("adam", True)]
)
def test_only_approvers_and_admins_approve(cluster, who, allowed, request, olivia):
    action = _scale(cluster, olivia)
    user = request.getfixturevalue(who)
    if allowed:
        assert action_approve(approver=user, action=action).status == Status.QUEUED
    else:
        with pytest.raises(RoleRequired):
            action_approve(approver=user, action=action)


def test_p1_needs_two_different_approvers(cluster, olivia, alice, bob):
    action = _scale(cluster, olivia, severity="P1")
    assert action.required_approvals == 2
    action = action_approve(approver=alice, action=action)
    assert action.status == Status.PROPOSED
    with pytest.raises(Conflict, match="already decided"):
        action_approve(approver=alice, action=action)
    assert action_approve(approver=bob, action=action).status == Status.QUEUED


def test_a_rejection_is_final(cluster, olivia, alice, bob):
    action = _scale(cluster, olivia)
    with pytest.raises(ValidationFailed):
        action_reject(approver=alice, action=action, reason="")
    action = action_reject(approver=alice, action=action, reason="not now")
    assert action.status == Status.REJECTED
    with pytest.raises(Conflict):
        action_approve(approver=bob, action=action)


def test_an_expired_proposal_is_never_approved_or_run(cluster, olivia, alice):
    action = _scale(cluster, olivia)
    Action.objects.filter(pk=action.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="expired"):
        action_approve(approver=alice, action=Action.objects.get(pk=action.pk))
    assert actions_expire_due() == 1
    assert Action.objects.get(pk=action.pk).status == Status.EXPIRED
    assert executor.execute(action.pk) == "skipped"


def test_changed_parameters_void_earlier_approvals(cluster, live, olivia, alice, bob, adam):
    action = _scale(cluster, olivia, severity="P1")
    action_approve(approver=alice, action=action)
    action = action_update_parameters(
        actor=olivia, action=action, parameters={"replicas": 5}, reason="more"
    )
    action = action_approve(approver=bob, action=action)
    assert action.status == Status.PROPOSED  # alice approved other parameters
    action = action_approve(approver=adam, action=action)
    assert action.status == Status.QUEUED
    # Tampering after approval: the executor refuses.
    Action.objects.filter(pk=action.pk).update(fingerprint="0" * 64)
    assert executor.execute(action.pk) == Status.BLOCKED
    assert live.sandbox.mutations == {}


def test_approving_what_changed_since_it_was_shown_is_refused_and_writes_nothing(
    cluster, olivia, alice
):
    action = _scale(cluster, olivia, replicas=4)
    shown = action.fingerprint  # what alice's page showed
    action_update_parameters(actor=olivia, action=action, parameters={"replicas": 0}, reason="x")
    events = AuditEvent.objects.count()

    with pytest.raises(Conflict) as refused:
        action_approve(approver=alice, action=action, reason="ok", expected_fingerprint=shown)

    assert refused.value.field == "fingerprint" and refused.value.status == 409
    assert f"action #{action.pk} changed since it was shown" in refused.value.message
    assert refused.value.as_dict()["current_url"] == f"/api/actions/{action.pk}"
    action.refresh_from_db()
    assert action.status == Status.PROPOSED and not action.approvals.exists()
    assert AuditEvent.objects.count() == events  # no approval, no event
    approved = action_approve(
        approver=alice, action=action, expected_fingerprint=action.fingerprint
    )
    assert approved.status == Status.QUEUED  # the same approver, now having seen it


def test_a_revoked_approver_blocks_execution(cluster, live, olivia, alice):
    action = action_approve(approver=alice, action=_scale(cluster, olivia))
    alice.groups.remove(Group.objects.get(name="approver"))
    assert executor.execute(action.pk) == Status.BLOCKED
    assert "no longer holds the approver role" in Action.objects.get(pk=action.pk).status_reason
    assert live.sandbox.mutations == {}


@pytest.mark.parametrize(
    ("mode", "status"), [("halted", Status.CANCELLED), ("dry_run", Status.BLOCKED)]
)
def test_halted_and_dry_run_change_nothing(cluster, live, olivia, alice, adam, mode, status):
    safety_mode_set(actor=adam, mode=mode, reason="test")
    action = action_approve(approver=alice, action=_scale(cluster, olivia))
    assert action.status == status
    if mode == "dry_run":
        assert action.result["plan"]["parameters"] == {"replicas": 4}
    assert executor.execute(action.pk) == "skipped"
    assert live.sandbox.mutations == {}
    assert (
        AuditEvent.objects.filter(
            target_id=str(action.pk), verb__in=["action.cancelled", "action.blocked"]
        ).count()
        == 1
    )


def test_a_mode_engaged_after_approval_stops_the_executor(cluster, live, olivia, alice, adam):
    action = action_approve(approver=alice, action=_scale(cluster, olivia))
    safety_mode_set(actor=adam, mode="dry_run", reason="rehearsal")  # no cancel, but no run
    assert executor.execute(action.pk) == Status.BLOCKED
    assert "dry_run" in Action.objects.get(pk=action.pk).status_reason
    second = action_approve(approver=alice, action=_scale(cluster, olivia, replicas=5))
    assert second.status == Status.BLOCKED  # dry run: the plan is recorded at approval
    safety_mode_set(actor=adam, mode="supervised", reason="done")
    third = action_approve(approver=alice, action=_scale(cluster, olivia, replicas=6))
    safety_mode_set(actor=adam, mode="halted", reason="incident")  # cancels it in place
    assert Action.objects.get(pk=third.pk).status == Status.CANCELLED
    assert executor.execute(third.pk) == "skipped"
    assert live.sandbox.mutations == {}


def test_autonomous_mode_auto_approves_low_risk_low_severity(cluster, live, adam, fast_policy):
    safety_mode_set(actor=adam, mode="autonomous", reason="test")
    action = _scale(cluster, "policy:runbook@1", severity="P4", risk="low", source="healing")
    assert action.status == Status.PROPOSED  # the switch is off
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="t")
    action = _scale(cluster, "policy:runbook@1", severity="P4", risk="low", source="healing")
    assert action.status == Status.QUEUED
    approval = action.approvals.get()
    assert approval.approver == "policy:default@1"
    assert _scale(cluster, "policy:runbook@1", severity="P2", risk="low").status == (
        Status.PROPOSED
    )  # P2 always needs a person
    assert executor.execute(action.pk) == Status.SUCCEEDED


def test_supervised_mode_never_auto_approves(cluster, adam):
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="t")
    action = _scale(cluster, "policy:runbook@1", severity="P4", risk="low")
    assert action.status == Status.PROPOSED


def test_protected_namespaces_need_the_override(cluster, live, olivia, alice, adam):
    action = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="rollout_restart",
        namespace="kube-system",
        target_name="coredns",
        reason="dns",
    )
    action = action_approve(approver=alice, action=action)
    assert action.status == Status.BLOCKED and "protected" in action.status_reason
    safety_switch_set(actor=adam, name="allow_protected_namespaces", enabled=True, reason="dns")
    action = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="rollout_restart",
        namespace="kube-system",
        target_name="coredns",
        reason="dns",
    )
    assert action_approve(approver=alice, action=action).status == Status.QUEUED


def test_blast_radius_allows_one_pod_of_a_small_workload_at_a_time(cluster, live, olivia, alice):
    pods = sorted(
        n
        for (ns, n) in live.sandbox.store._objects["pods"]
        if ns == "shop" and n.startswith("web-")
    )
    first = action_approve(
        approver=alice,
        action=action_propose(
            actor=olivia,
            cluster=cluster,
            kind="restart_pod",
            namespace="shop",
            target_name=pods[0],
            reason="stuck",
        ),
    )
    assert first.status == Status.QUEUED
    second = action_approve(
        approver=alice,
        action=action_propose(
            actor=olivia,
            cluster=cluster,
            kind="restart_pod",
            namespace="shop",
            target_name=pods[1],
            reason="stuck",
        ),
    )
    assert second.status == Status.BLOCKED and "at most 1 of 3" in second.status_reason


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("scale", {"replicas": -1}, "parameters.replicas"),
        ("scale", {"replicas": 10_000}, "parameters.replicas"),
        ("scale", {"replicas": "3"}, "parameters.replicas"),
        ("reboot", {}, "kind"),
        (
            "patch_resources",
            {"container": "web", "limits": {"memory": "lots"}},
            "parameters.limits.memory",
        ),
        ("rollout_undo", {"revision": 0}, "parameters.revision"),
    ],
)
def test_bad_input_names_the_problem_and_writes_nothing(cluster, olivia, kind, params, field):
    with pytest.raises(ValidationFailed) as exc:
        action_propose(
            actor=olivia,
            cluster=cluster,
            kind=kind,
            namespace="shop",
            target_name="web",
            parameters=params,
            reason="x",
        )
    assert exc.value.field == field
    assert not Action.objects.exists()
    assert not AuditEvent.objects.filter(verb="action.proposed").exists()


def test_a_target_that_does_not_exist_is_refused(cluster, olivia):
    with pytest.raises(NotFound) as exc:
        action_propose(
            actor=olivia,
            cluster=cluster,
            kind="scale",
            namespace="shop",
            target_name="nope",
            parameters={"replicas": 1},
            reason="x",
        )
    assert exc.value.field == "target_name"
    assert not Action.objects.exists()


def test_a_failed_verification_rolls_back(cluster, live, olivia, alice):
    p = policy_active()
    Policy.objects.filter(pk=p.pk).update(rules={**p.rules, "verify_timeout_seconds": 3})
    # 200 replicas of 200m do not fit on three 8-core nodes: never all ready.
    action = action_approve(approver=alice, action=_scale(cluster, olivia, replicas=200))
    assert executor.execute(action.pk) == Status.ROLLED_BACK
    action.refresh_from_db()
    assert "scaled back to 3" in action.status_reason
    assert live.sandbox.store.get("apps/deployments", "shop", "web")["spec"]["replicas"] == 3
    told = Notification.objects.get(event="action.failed", action_id=action.pk)
    assert told.title.startswith(f"Action #{action.pk} rolled back") and told.severity <= "P2"


def test_the_storm_brake_halts_a_cluster_after_repeated_failures(cluster, live, olivia, alice):
    for _ in range(3):
        a = _scale(cluster, olivia)
        Action.objects.filter(pk=a.pk).update(status=Status.FAILED, finished_at=timezone.now())
    action = action_approve(approver=alice, action=_scale(cluster, olivia))
    assert action.status == Status.BLOCKED and "storm brake" in action.status_reason
    from apps.core.selectors import safety_state_get

    assert safety_state_get(scope=f"cluster:{cluster.pk}").mode == "halted"
    assert AuditEvent.objects.filter(verb="safety.storm_brake").count() == 1
    assert safety_state_get().mode == "supervised"  # only that cluster


def test_the_sweeper_finds_lost_tasks_and_dead_workers(cluster, olivia, alice):
    from apps.governance.selectors import lost_action_ids

    queued = action_approve(approver=alice, action=_scale(cluster, olivia))
    assert lost_action_ids() == []
    Action.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(minutes=3))
    assert lost_action_ids() == [queued.pk]
    Action.objects.filter(pk=queued.pk).update(
        status=Status.RUNNING, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert lost_action_ids() == [queued.pk]  # its worker died: the lease ran out


def test_a_resumed_action_repeats_its_idempotent_call_once(
    cluster, live, olivia, alice, fast_policy
):
    """A worker died after claiming: the next delivery takes over after the lease and the
    restart (stamped with the approval time) is still one rollout."""
    action = action_approve(
        approver=alice,
        action=action_propose(
            actor=olivia,
            cluster=cluster,
            kind="rollout_restart",
            namespace="shop",
            target_name="web",
            reason="stale config",
        ),
    )
    Action.objects.filter(pk=action.pk).update(
        status=Status.RUNNING, attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert executor.execute(action.pk) == Status.SUCCEEDED
    dep = live.sandbox.store.get("apps/deployments", "shop", "web")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert Action.objects.get(pk=action.pk).attempts == 2
    assert AuditEvent.objects.filter(
        verb="action.running", reason="resumed after an interrupted attempt"
    ).exists()


def test_engaging_halted_cancels_queued_actions_at_once(cluster, olivia, alice, adam):
    queued = action_approve(approver=alice, action=_scale(cluster, olivia))
    assert queued.status == Status.QUEUED
    safety_mode_set(actor=adam, mode="halted", reason="incident 7")
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED and "incident 7" in queued.status_reason
    ev = AuditEvent.objects.get(verb="action.cancelled", target_id=str(queued.pk))
    assert ev.actor == "system:emergency-stop"
    assert executor.execute(queued.pk) == "skipped"


def test_a_cluster_halted_by_the_storm_brake_shows_on_every_page(
    client, cluster, olivia, alice, vic
):
    for _ in range(3):
        a = _scale(cluster, olivia)
        Action.objects.filter(pk=a.pk).update(status=Status.FAILED, finished_at=timezone.now())
    action_approve(approver=alice, action=_scale(cluster, olivia))  # trips the brake
    client.force_login(vic)
    for url in ("/", "/clusters/", "/approvals/"):
        html = client.get(url).content.decode()
        assert 'data-testid="halted-sandbox"' in html and "by the storm brake" in html, url


@pytest.mark.parametrize("severity", ["P1", "P2", "P3", "P4"])
@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "admin"])
def test_the_role_and_severity_matrix_for_approval(cluster, olivia, severity, role):
    action = _scale(cluster, olivia, severity=severity)
    user = persona(f"{role}-x", role)
    if role in ("viewer", "operator"):
        with pytest.raises(RoleRequired):
            action_approve(approver=user, action=action)
        assert Action.objects.get(pk=action.pk).status == Status.PROPOSED
        return
    after = action_approve(approver=user, action=action)
    # P1 waits for a second, different approver; the others are queued at once.
    assert after.status == (Status.PROPOSED if severity == "P1" else Status.QUEUED)
    assert after.approvals.count() == 1


def _nodes_by_coredns(live) -> tuple[str, str | None]:
    """A node that runs a coredns pod (kube-system is protected) and one that runs none."""
    pods = live.sandbox.store._objects["pods"].values()
    with_dns = {
        p["spec"].get("nodeName") for p in pods if p["metadata"]["namespace"] == "kube-system"
    }
    nodes = sorted(live.sandbox.store._objects["nodes"])
    return sorted(n for (_, n) in nodes if n in with_dns)[0], next(
        (n for (_, n) in nodes if n not in with_dns), None
    )


def _drain(cluster, who, node):
    return action_propose(
        actor=who, cluster=cluster, kind="drain_node", target_name=node, reason="kernel patch"
    )


def test_a_drain_that_would_evict_protected_pods_needs_the_override(
    cluster, live, olivia, alice, adam
):
    dns_node, free_node = _nodes_by_coredns(live)
    blocked = action_approve(approver=alice, action=_drain(cluster, olivia, dns_node))
    assert blocked.status == Status.BLOCKED
    assert "kube-system/coredns-" in blocked.status_reason
    assert "allow_protected_namespaces" in blocked.status_reason
    if free_node:
        assert action_approve(approver=alice, action=_drain(cluster, olivia, free_node)).status == (
            Status.QUEUED
        )
    safety_switch_set(actor=adam, name="allow_protected_namespaces", enabled=True, reason="patch")
    assert action_approve(approver=alice, action=_drain(cluster, olivia, dns_node)).status == (
        Status.QUEUED
    )


def test_protected_pods_found_after_the_cordon_stop_the_drain_and_uncordon(
    cluster, live, olivia, alice, adam
):
    """The guard looked before the cordon; whatever it missed is caught before any eviction."""
    dns_node, _ = _nodes_by_coredns(live)
    safety_switch_set(actor=adam, name="allow_protected_namespaces", enabled=True, reason="patch")
    action = action_approve(approver=alice, action=_drain(cluster, olivia, dns_node))
    assert action.status == Status.QUEUED
    safety_switch_set(actor=adam, name="allow_protected_namespaces", enabled=False, reason="done")
    before = dict(live.sandbox.mutations)
    action.refresh_from_db()
    from apps.clusters.connect import gateway_for

    gw = gateway_for(cluster)
    try:
        Action.objects.filter(pk=action.pk).update(status=Status.RUNNING, started_at=timezone.now())
        action.refresh_from_db()
        assert executor._run(action, gw, policy_active().rules) == Status.BLOCKED
    finally:
        gw.close()
    action.refresh_from_db()
    assert "appeared on" in action.status_reason and "uncordon" in action.status_reason
    made = {k: n - before.get(k, 0) for k, n in live.sandbox.mutations.items()}
    assert not any("eviction" in k for k, n in made.items() if n), made
    assert any(n for n in made.values()), "the cordon and the uncordon reached the sandbox"
    node = live.sandbox.store._objects["nodes"][("", dns_node)]
    assert not node["spec"].get("unschedulable")


def test_a_drain_of_a_lost_node_succeeds_with_its_pods_left_terminating(
    cluster, live, olivia, alice, adam, fast_policy
):
    """No kubelet confirms the end of the evicted pods, so they stay Terminating on the node;
    the drain is done once nothing else is left there and their replacements run elsewhere."""
    from apps.clusters.sandbox import controllers

    node, _ = _nodes_by_coredns(live)
    safety_switch_set(actor=adam, name="allow_protected_namespaces", enabled=True, reason="dns")
    sb = live.sandbox
    with sb.lock:
        controllers.node_status(sb, sb.store.get("nodes", "", node), ready=False)
        on_node = {
            p["metadata"]["name"]
            for p in sb.store.list("pods")
            if p["spec"].get("nodeName") == node
        }
    assert on_node
    action = action_approve(approver=alice, action=_drain(cluster, olivia, node))
    assert executor.execute(action.pk) == Status.SUCCEEDED
    action.refresh_from_db()
    assert "unschedulable=True" in action.status_reason and "left" not in action.status_reason
    with sb.lock:
        left = [p for p in sb.store.list("pods") if p["spec"].get("nodeName") == node]
        assert {p["metadata"]["name"] for p in left} == on_node
        assert all(p["metadata"].get("deletionTimestamp") for p in left)
        assert sb.mutations["create pods/eviction"] == len(on_node)

    def replaced():
        with sb.lock:
            return all(
                d["status"].get("readyReplicas") == d["spec"]["replicas"]
                for d in sb.store.list("apps/deployments")
            )

    deadline = time.monotonic() + 20  # 10 simulated minutes at 30x
    while not replaced() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert replaced(), "the evicted pods' replacements run on the other nodes"


def test_a_drain_leaves_daemonset_pods_and_is_not_refused_for_them(
    cluster, live, olivia, alice, fast_policy
):
    """Every real node runs kube-system DaemonSet pods (kube-proxy, the CNI): a drain leaves
    them, as `kubectl drain --ignore-daemonsets`, so they neither block it nor are evicted."""
    _, node = _nodes_by_coredns(live)
    assert node is not None
    core = k8s.CoreV1Api(k8s_config.new_client_from_config(str(live.kubeconfig), "sandbox"))
    proxy = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "kube-proxy-x1",
            "namespace": "kube-system",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "kube-proxy",
                    "uid": "0e5c8d8a-0000-4000-8000-000000000001",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.31.0"}],
        },
    }
    core.create_namespaced_pod("kube-system", proxy)
    action = action_approve(approver=alice, action=_drain(cluster, olivia, node))
    assert action.status == Status.QUEUED  # not blocked for kube-system/kube-proxy-x1
    assert executor.execute(action.pk) == Status.SUCCEEDED
    left = [
        p.metadata.name
        for p in core.list_namespaced_pod(
            "kube-system", field_selector=f"spec.nodeName={node}"
        ).items
    ]
    assert left == ["kube-proxy-x1"]


def test_zerotouchs_own_proposals_still_auto_approve_but_never_past_a_floor(
    cluster, live, adam, fast_policy
):
    """A runbook's low-risk judgement is auto-approved in autonomous mode; the same source
    judging a scale to zero low is not: removing every replica is high whoever proposes it."""
    safety_mode_set(actor=adam, mode="autonomous", reason="test")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="t")
    ok = _scale(cluster, "system:healing", judged=("P4", "low"), source="healing")
    assert ok.status == Status.QUEUED and ok.rating["judged"] == ["P4", "low"]
    zero = _scale(cluster, "system:costs", replicas=0, judged=("P4", "low"), source="costs")
    assert (zero.status, zero.risk) == (Status.PROPOSED, "high")
    assert "removes every replica" in zero.rating["why"]


def test_a_system_proposal_from_a_person_facing_source_is_never_auto_approved(
    cluster, adam, fast_policy
):
    safety_mode_set(actor=adam, mode="autonomous", reason="test")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="t")
    for source in ("manual", "api"):
        action = _scale(cluster, "system:script", judged=("P4", "low"), source=source)
        assert action.status == Status.PROPOSED


def test_changed_parameters_are_rated_again(cluster, olivia):
    action = _scale(cluster, olivia, replicas=4)
    assert action.risk == "low" and action.required_approvals == 1
    action = action_update_parameters(
        actor=olivia, action=action, parameters={"replicas": 0}, reason="idle"
    )
    assert (action.severity, action.risk) == ("P3", "high")
    changed = AuditEvent.objects.filter(verb="action.parameters_changed").get()
    assert changed.before["risk"] == "low" and changed.after["risk"] == "high"


def test_a_patch_for_a_container_the_deployment_lacks_is_refused(cluster, olivia):
    with pytest.raises(ValidationFailed) as exc:
        action_propose(
            actor=olivia,
            cluster=cluster,
            kind="patch_resources",
            namespace="shop",
            target_name="web",
            parameters={"container": "nope", "limits": {"memory": "1Gi"}},
            reason="x",
        )
    assert exc.value.field == "parameters.container" and "web" in exc.value.message
    assert not Action.objects.exists()


def test_it_records_what_the_change_replaces_and_shows_old_to_new(cluster, olivia, alice):
    """A proposal keeps the values its parameters replace, as the cluster had them; the
    Approvals inbox and the action's page show each change as old -> new."""
    scale = _scale(cluster, olivia, replicas=5)
    assert scale.before == {"replicas": 3}
    patch = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="patch_resources",
        namespace="shop",
        target_name="web",
        parameters={"container": "web", "limits": {"memory": "1Gi"}},
        reason="room to grow",
    )
    assert patch.before["limits"]["memory"] and patch.before["requests"]
    old = patch.before["limits"]["memory"]
    proposed = AuditEvent.objects.get(verb="action.proposed", target_id=str(patch.pk))
    assert proposed.after["before"] == patch.before
    c = Client()
    c.force_login(alice)
    inbox = c.get("/approvals/").content.decode()
    assert "replicas: 3 → 5" in inbox and f"limits.memory: {old} → 1Gi" in inbox
    assert "container: web" in inbox
    detail = c.get(f"/actions/{patch.pk}/").content.decode()
    assert f"limits.memory: {old} → 1Gi" in detail
