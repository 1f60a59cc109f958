"""The pure detectors, correlation and runbooks on hand-made cluster states with exact
answers: the node explains its pods, a rollout explains what fails right after it, a steady
climb to an OOM is a leak, pull errors escalate, and severity follows impact and environment."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.healing import runbooks
from apps.healing.diagnose import Cause, diagnose
from apps.healing.signals import (
    ClusterState,
    JobState,
    Kind,
    MemoryState,
    NodeState,
    PodState,
    RiskState,
    WorkloadState,
    detect,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MiB = 2**20


def pod(
    name,
    workload,
    node="n1",
    *,
    ready=True,
    phase="Running",
    created=NOW - timedelta(hours=1),
    waiting="",
    last="",
    restarts=0,
    recent=0,
    since=None,
    reason="",
):
    container = {
        "name": workload,
        "state": "waiting" if waiting else "running",
        "waiting_reason": waiting,
        "last_terminated_reason": last,
        "ready": ready,
        "image": f"registry.local/{workload}:1",
        "restarts": restarts,
    }
    restarted = NOW - timedelta(minutes=3) if recent else None
    return PodState(
        "shop",
        name,
        workload,
        node,
        phase,
        ready,
        restarts,
        reason,
        (container,),
        created,
        since,
        recent,
        restarted,
    )


def workload(name, replicas=3, available=3, revision=1, rollout=None, facing=False):
    return WorkloadState("shop", name, replicas, available, revision, (), rollout, facing)


def state(**kw) -> ClusterState:
    return ClusterState(now=NOW, **kw)


def test_a_notready_node_explains_the_failing_pods_on_it():
    s = state(
        environment="production",
        nodes=[
            NodeState("n1", False, (), False, NOW - timedelta(minutes=4)),
            NodeState("n2", True, (), False),
        ],
        workloads=[workload("web", facing=True), workload("api")],
        pods=[
            pod("web-1", "web", ready=False),
            pod("api-1", "api", ready=False),
            pod("web-2", "web", node="n2"),
        ],
    )
    found = diagnose(detect(s), s)
    assert [d.cause for d in found] == [Cause.NODE]
    node = found[0]
    assert node.name == "n1" and node.severity == "P1"  # production, user-facing pods on it
    assert {sig.kind for sig in node.signals} == {Kind.NODE_NOT_READY, Kind.READINESS}
    assert "shop/api, shop/web all run on it" in node.hypothesis
    plan = runbooks.plan(node)
    assert (plan.kind, plan.target, plan.runbook.risk) == ("drain_node", "n1", "low")
    # Drained no earlier than a minute into the outage: a restarting kubelet is back by then.
    assert plan.wait == runbooks.DRAIN_AFTER
    assert "restarting kubelet" in plan.wait_why


def test_a_drained_node_leaves_only_its_own_signal():
    """Drained pods stay Terminating on a lost node; they are going, not failing."""
    s = state(
        nodes=[
            NodeState("n1", False, (), True, NOW - timedelta(minutes=2)),
            NodeState("n2", True, (), False),
        ],
        workloads=[workload("web")],
        pods=[
            pod("web-1", "web", ready=False, reason="Terminating"),
            pod("web-4", "web", node="n2"),
        ],
    )
    found = diagnose(detect(s), s)
    assert [d.cause for d in found] == [Cause.NODE]
    assert [sig.kind for sig in found[0].signals] == [Kind.NODE_NOT_READY]
    assert "0 pods on it; 1 terminating (drained)" in found[0].signals[0].detail


def test_a_daemonset_pod_left_on_a_lost_node_is_not_a_failure_of_its_own():
    """A drain leaves DaemonSet pods (no workload of ours owns them); the node's signal says it."""
    s = state(
        nodes=[NodeState("n1", False, (), True, NOW - timedelta(minutes=2))],
        workloads=[workload("web")],
        pods=[
            pod("kube-proxy-x1", "kube-proxy", ready=False),
            pod("web-1", "web", ready=False, reason="Terminating"),
        ],
    )
    [d] = diagnose(detect(s), s)
    assert [sig.kind for sig in d.signals] == [Kind.NODE_NOT_READY]
    assert d.facts["short"] == []
    s2 = state(nodes=s.nodes, pods=s.pods, workloads=[workload("web", available=2)])
    [d2] = diagnose(detect(s2), s2)
    assert d2.facts["short"] == ["shop/web"]  # its replacement is not ready yet


def test_failures_right_after_a_rollout_blame_the_rollout_and_roll_it_back():
    s = state(
        workloads=[workload("web", revision=4, rollout=NOW - timedelta(minutes=6))],
        pods=[
            pod(
                "web-9",
                "web",
                ready=False,
                waiting="CrashLoopBackOff",
                since=NOW - timedelta(minutes=3),
            )
        ],
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.BAD_ROLLOUT and d.confidence == 0.85
    assert "3 min after the rollout of revision 4" in d.hypothesis
    plan = runbooks.plan(d)
    assert (plan.kind, plan.target, plan.parameters) == ("rollout_undo", "web", {"revision": 3})


def test_a_new_pod_caught_running_between_crashes_is_a_crash_loop_of_the_rollout():
    rolled = NOW - timedelta(minutes=1)
    crashing = pod("web-9", "web", created=rolled, last="Error", restarts=2)  # running again
    steady = pod("web-1", "web", last="Error", restarts=5)  # crashed long ago, fine since
    s = state(workloads=[workload("web", revision=4, rollout=rolled)], pods=[crashing, steady])
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.BAD_ROLLOUT and d.signals[0].pods == ("web-9",)
    assert "web exited with Error 2 times" in d.signals[0].detail
    once = pod("web-9", "web", created=rolled, last="Error", restarts=1)
    assert detect(state(workloads=[workload("web")], pods=[once])) == []


def test_a_pod_of_the_rollout_stamped_failing_just_before_it_still_blames_it():
    """A sample is stamped when its collection starts; a rollout landing during that
    collection makes its new pod look failing a second "before" the rollout. The pod was
    created by the rollout, so the rollout is still blamed."""
    rollout = NOW - timedelta(minutes=2)
    s = state(
        workloads=[workload("web", revision=2, rollout=rollout)],
        pods=[
            pod(
                "web-9",
                "web",
                ready=False,
                waiting="CrashLoopBackOff",
                created=rollout,
                since=rollout - timedelta(seconds=1),
            )
        ],
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.BAD_ROLLOUT
    assert runbooks.plan(d).parameters == {"revision": 1}


def test_a_crash_long_after_the_last_rollout_is_not_blamed_on_it():
    s = state(
        workloads=[workload("web", revision=4, rollout=NOW - timedelta(hours=3))],
        pods=[
            pod(
                "web-9",
                "web",
                ready=False,
                waiting="CrashLoopBackOff",
                since=NOW - timedelta(minutes=3),
            )
        ],
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.CRASH_LOOP
    assert runbooks.plan(d).kind == "rollout_restart"


@pytest.mark.parametrize(
    ("memory", "cause", "limit"),
    [
        # A leak of 6% of 768 MiB a minute (46.08 MiB) must be held for 30 min:
        # 700 + 1382.4 = 2082.4 -> 2112 MiB (64 MiB steps), under the cap of 768 x 4.
        (MemoryState(700 * MiB, 768 * MiB, 6.0, True, 46.08 * MiB), Cause.MEMORY_LEAK, "2112Mi"),
        # A steep leak is capped at the old limit x 4: it is not fed forever.
        (MemoryState(700 * MiB, 768 * MiB, 20.0, True, 153.6 * MiB), Cause.MEMORY_LEAK, "3072Mi"),
        # Peak 700 MiB x 1.5 = 1050 -> 1088 MiB (64 MiB steps); above 768 x 1.25 = 960.
        (MemoryState(700 * MiB, 768 * MiB, 0.2, False), Cause.MEMORY_UNDERSIZED, "1088Mi"),
        # A small peak: the old limit x 1.25 wins (1280 -> 1280 MiB).
        (MemoryState(300 * MiB, 1024 * MiB, 0.1, False), Cause.MEMORY_UNDERSIZED, "1280Mi"),
    ],
)
def test_an_oom_is_a_leak_when_memory_climbs_steadily_else_an_undersized_limit(
    memory, cause, limit
):
    s = state(
        workloads=[workload("api", replicas=4)],
        pods=[pod("api-1", "api", last="OOMKilled", restarts=2, recent=1)],
        memory={("shop", "api"): memory},
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == cause
    plan = runbooks.plan(d)
    assert plan.kind == "patch_resources"
    assert plan.parameters == {"container": "api", "limits": {"memory": limit}}


def test_an_old_oom_kill_that_did_not_restart_anything_lately_is_not_news():
    s = state(workloads=[workload("api")], pods=[pod("api-1", "api", last="OOMKilled", restarts=1)])
    assert detect(s) == []


def test_image_pull_errors_escalate_with_what_to_check_and_propose_nothing():
    s = state(
        workloads=[workload("worker", revision=2, rollout=NOW - timedelta(minutes=2))],
        pods=[
            pod(
                "worker-1",
                "worker",
                ready=False,
                waiting="ImagePullBackOff",
                since=NOW - timedelta(minutes=1),
            )
        ],
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.IMAGE_PULL and "since the rollout of revision 2" in d.hypothesis
    plan = runbooks.plan(d)
    assert plan.kind is None and any("registry" in c for c in plan.runbook.checks)


def test_several_workloads_failing_together_after_rollouts_blame_the_shared_change():
    rolled = NOW - timedelta(minutes=5)
    s = state(
        workloads=[
            workload("web", revision=3, rollout=rolled),
            workload("api", revision=7, rollout=rolled),
        ],
        pods=[
            pod("web-1", "web", ready=False, waiting="CrashLoopBackOff", since=rolled),
            pod(
                "api-1",
                "api",
                ready=False,
                waiting="CrashLoopBackOff",
                since=rolled + timedelta(minutes=2),
            ),
        ],
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.NAMESPACE_CHANGE and d.name == "shop"
    assert "api, web in shop started failing within 2 min" in d.hypothesis
    assert runbooks.plan(d).kind is None


@pytest.mark.parametrize(
    ("env", "available", "facing", "expected"),
    [
        ("production", 0, True, "P1"),  # an outage users see
        ("production", 0, False, "P2"),
        ("production", 1, True, "P2"),  # most replicas down
        ("production", 3, False, "P4"),  # one pod of four, others fine
        ("staging", 0, True, "P2"),
        ("development", 0, True, "P3"),
        ("development", 3, False, "P4"),
    ],
)
def test_severity_follows_impact_then_environment(env, available, facing, expected):
    s = state(
        environment=env,
        workloads=[workload("api", replicas=4, available=available, facing=facing)],
        pods=[pod("api-1", "api", ready=False, waiting="CrashLoopBackOff", since=NOW)],
    )
    (d,) = diagnose(detect(s), s)
    assert d.severity == expected


def test_a_predicted_oom_is_a_preventive_p3_even_in_production():
    s = state(
        environment="production",
        workloads=[workload("api", facing=True)],
        risks=[
            RiskState(
                "workload",
                "shop",
                "api",
                88,
                "critical",
                ("memory at 93% of limit, rising 4%/min",),
                6.0,
            )
        ],
        memory={("shop", "api"): MemoryState(714 * MiB, 768 * MiB, 4.0, True)},
    )
    (d,) = diagnose(detect(s), s)
    assert d.cause == Cause.PREDICTED_OOM and d.preventive and d.severity == "P3"
    assert runbooks.plan(d).kind == "patch_resources"


def test_a_pod_still_starting_is_not_a_readiness_failure():
    young = pod("web-1", "web", ready=False, created=NOW - timedelta(seconds=50))
    s = state(workloads=[workload("web")], pods=[young])
    assert detect(s) == []


def test_one_problem_keeps_one_fingerprint_and_two_targets_two():
    def dx(name):
        s = state(
            workloads=[workload(name)],
            pods=[pod(f"{name}-1", name, ready=False, waiting="CrashLoopBackOff", since=NOW)],
        )
        return diagnose(detect(s), s)[0]

    assert dx("web").fingerprint == dx("web").fingerprint != dx("api").fingerprint


def job(name, owner="", *, started, failed_reason="", succeeded=0):
    failed_at = started + timedelta(minutes=2) if failed_reason else None
    return JobState(
        "reports",
        name,
        owner,
        started,
        succeeded,
        3 if failed_reason else 0,
        2,
        failed_reason,
        "Job has reached the specified backoff limit" if failed_reason else "",
        failed_at,
        "registry.local/export:3.2.0",
    )


def test_a_job_that_gave_up_escalates_with_what_to_check_and_a_later_good_run_ends_it():
    night = NOW - timedelta(hours=3)
    failed = job("export-1", "export", started=night, failed_reason="BackoffLimitExceeded")
    s = state(environment="production", jobs=[failed, job("adhoc", started=night)])
    (d,) = diagnose(detect(s), s)
    assert (d.cause, d.scope, d.name, d.severity) == (Cause.JOB_FAILED, "job", "export", "P3")
    assert d.title == "CronJob reports/export failed" and d.since == night + timedelta(minutes=2)
    assert (
        "BackoffLimitExceeded" in d.hypothesis and "3 pods failed, backoffLimit 2" in d.hypothesis
    )
    plan = runbooks.plan(d)
    assert plan.kind is None and any("re-run" in c for c in plan.runbook.checks)
    # Two failed runs of one CronJob are one problem; a later successful run ends it.
    again = job(
        "export-2", "export", started=night + timedelta(hours=1), failed_reason="DeadlineExceeded"
    )
    assert len(detect(state(jobs=[failed, again]))) == 1
    fixed = job("export-3", "export", started=NOW - timedelta(minutes=5), succeeded=1)
    assert detect(state(jobs=[failed, fixed])) == []
    by_hand = job("backfill", started=night, failed_reason="BackoffLimitExceeded")
    (d,) = diagnose(detect(state(jobs=[by_hand])), state(jobs=[by_hand]))
    assert d.title == "Job reports/backfill failed" and d.severity == "P4"  # development


def _plan(kind, target="api", ns="shop", book="raise-memory-limit", **parameters):
    return runbooks.Plan(runbooks.runbook_named(book), kind, ns, target, parameters)


@pytest.mark.parametrize(
    ("proposed", "fresh", "why"),
    [
        # Less than a step (x1.25) more is not worth a new proposal; a step more is.
        (
            _plan("patch_resources", limits={"memory": "1088Mi"}),
            _plan("patch_resources", limits={"memory": "1344Mi"}),
            "",
        ),
        (
            _plan("patch_resources", limits={"memory": "1088Mi"}),
            _plan("patch_resources", limits={"memory": "1408Mi"}),
            "re-sized to 1408 Mi",
        ),
        (
            _plan("patch_resources", limits={"memory": "1088Mi"}),
            _plan("patch_resources", limits={"memory": "2112Mi"}),
            "now too small",
        ),
        # A bigger limit than the fresh one still holds.
        (
            _plan("patch_resources", limits={"memory": "2112Mi"}),
            _plan("patch_resources", limits={"memory": "1088Mi"}),
            "",
        ),
        # Scaled to 8 meanwhile: "scale to 6" would now take capacity away.
        (
            _plan("scale", book="scale-up", replicas=6),
            _plan("scale", book="scale-up", replicas=12),
            "replicas are needed now",
        ),
        (
            _plan("restart_pod", target="api-1", book="restart-pod"),
            _plan("restart_pod", target="api-2", book="restart-pod"),
            "target is now shop/api-2",
        ),
        (
            _plan("rollout_restart", book="rollout-restart"),
            _plan("rollout_undo", book="rollout-undo", revision=3),
            "runbook is now roll back",
        ),
        (
            _plan("rollout_undo", book="rollout-undo", revision=3),
            runbooks.Plan(runbooks.runbook_for(Cause.IMAGE_PULL), None),
            "no automatic fix",
        ),
    ],
)
def test_a_waiting_fix_is_stale_only_when_it_no_longer_fits(proposed, fresh, why):
    got = runbooks.stale(proposed, fresh)
    assert (why in got and got) if why else got == "", got


def test_every_runbook_proposes_an_action_kind_governance_knows():
    """Runbooks name their Action kind as a string (they stay free of Django); a typo would
    only show when governance refused the proposal."""
    from apps.governance.action_models import Kind
    from apps.healing.runbooks import RUNBOOKS

    kinds = {book.action for book in RUNBOOKS.values() if book.action}
    assert kinds and kinds <= set(Kind.values), kinds - set(Kind.values)
