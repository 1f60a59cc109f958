"""A chaos run's life: steady state before, the watcher's probes, an abort within one watch
when a probe breaks, the emergency stop, Abort, the end and the check after, and the sweeper —
against the sandbox over HTTPS, with the executor on a real Celery worker where it matters."""

import os
import signal

import pytest
from django.test import Client
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from aiops_site.celery import app as celery_app
from apps.chaos import runs
from apps.chaos.models import Run
from apps.chaos.selectors import run_state
from apps.chaos.services import inject, plan
from apps.chaos.tasks import runs_watch_task
from apps.clusters.connect import gateway_for
from apps.clusters.labels import CHAOS_OPT_IN
from apps.clusters.services import cluster_collect
from apps.core.errors import Conflict, ValidationFailed
from apps.core.models import AuditEvent, WorkerHeartbeat
from apps.core.services import safety_mode_set, safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Status
from apps.governance.actions import action_approve
from apps.healing.services import heal_cycle
from tests.support.paths import REAL_SERVICES
from tests.support.waiting import wait_for
from tests.support.workers import start_worker

pytestmark = pytest.mark.django_db(transaction=True)  # the worker reads what the test wrote


def kube(live):
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(live.kubeconfig)).configuration)
    return k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)


def chaos_objects(live, plural="podchaos", namespace="shop") -> list[str]:
    items = kube(live)[1].list_namespaced_custom_object(
        "chaos-mesh.org", "v1alpha1", namespace, plural
    )["items"]
    return [o["metadata"]["name"] for o in items]


@pytest.fixture
def opted(live, settings, adam):
    kube(live)[0].patch_namespace("shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}})
    settings.CHAOS_SETTLE_SECONDS = 0
    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")


def planned(cluster, olivia, **over):
    kw = {"namespace": "shop", "target": "web", "fault": "pod-kill", "duration_seconds": 60}
    kw.update(over)
    return plan(actor=olivia, cluster=cluster, **kw)


def start(cluster, olivia, **over) -> Run:
    return inject(actor=olivia, plan=planned(cluster, olivia, **over))


def approved(run: Run, alice) -> Run:
    action_approve(approver=alice, action=run.action, reason="game day")
    return Run.objects.select_related("action", "experiment__cluster").get(pk=run.pk)


def test_a_pod_kill_holds_steady_state_ends_and_is_checked_after(
    cluster, live, opted, olivia, alice
):
    run = approved(start(cluster, olivia), alice)
    assert executor.execute(run.action_id) == Status.SUCCEEDED  # as the task would
    run.refresh_from_db()
    assert run.steady_before == [
        {"probe": "availability >= 50%", "ok": True, "value": 100.0, "detail": "3/3 ready"}
    ]
    assert runs.runs_watch()["aborted"] == 0  # 2 of 3 ready is within the hypothesis
    for _ in range(2):  # ZeroTouch watches the cluster meanwhile, as it always does
        live.sandbox.advance(30)
        assert cluster_collect(cluster=cluster).ok
        cluster.refresh_from_db()
        heal_cycle(cluster=cluster)
        assert run_state(Run.objects.get(pk=run.pk)) == "running"
    live.sandbox.advance(1)  # the fault's own 60 s are over, on the cluster's clock
    watched = runs.runs_watch()
    assert watched["ended"] == 1
    run.refresh_from_db()
    assert run.phase == Run.Phase.ENDED and run_state(run) == "completed"
    assert executor.chaos_stop(run.action_id, actor="test", reason="clean-up") == (
        f"PodChaos zt-action-{run.action_id} deleted"
    )
    assert watched["checked_after"] == 1  # settled at once here (CHAOS_SETTLE_SECONDS 0)
    run.refresh_from_db()
    assert run.steady_after[0]["ok"] and run.steady_after[0]["detail"] == "3/3 ready"
    kinds = [e["kind"] for e in run.timeline]
    assert kinds == ["start", "action", "end", "after", "grade"]
    assert run.grade["score"] == 100 and run.grade["final"] and not run.grade["detected"]
    assert (
        "Kubernetes recovered by itself and ZeroTouch correctly did nothing"
        in (run.grade["verdict"])
    )
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"chaos.run.start", "chaos.run.end", "chaos.run.after", "action.chaos_stopped"} <= verbs


def test_it_refuses_to_start_when_steady_state_does_not_hold_before(cluster, live, opted, olivia):
    with pytest.raises(ValidationFailed) as e:
        start(
            cluster,
            olivia,
            probes_given=[{"kind": "promql", "query": "up", "op": ">", "threshold": 0}],
        )
    assert e.value.field == "probes" and "no Prometheus URL" in str(e.value)
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("probes_given", "field"),
    [
        ([{"kind": "vibes"}], "probes[0].kind"),
        ([{"kind": "availability", "min_percent": 0}], "probes[0].min_percent"),
        ([{"kind": "restarts", "max": -1}], "probes[0].max"),
        ([{"kind": "promql", "query": "up", "op": "=="}], "probes[0].op"),
        ([{"kind": "availability", "min_percent": 90, "extra": 1}], "probes[0].extra"),
    ],
)
def test_bad_probes_are_refused_naming_the_field(cluster, live, opted, olivia, probes_given, field):
    with pytest.raises(ValidationFailed) as e:
        start(cluster, olivia, probes_given=probes_given)
    assert e.value.field == field


def test_a_broken_probe_aborts_within_one_watch_and_the_fault_object_goes(
    celery_worker_process, cluster, live, opted, olivia, alice
):
    run = start(
        cluster,
        olivia,
        fault="pod-failure",
        duration_seconds=600,
        probes_given=[{"kind": "availability", "min_percent": 90}],
        grace_seconds=0,
    )
    approved(run, alice)  # the worker executes it
    wait_for(
        lambda: Run.objects.get(pk=run.pk).action.status == Status.SUCCEEDED,
        timeout=30,
        what="the worker to inject the fault",
    )
    live.sandbox.advance(5)  # the hit pod's containers fail: 2 of 3 ready
    runs_watch_task.delay()  # what beat sends every CHAOS_WATCH_SECONDS
    wait_for(
        lambda: Run.objects.get(pk=run.pk).phase == Run.Phase.ABORTED,
        timeout=30,
        what="the watcher to abort the run",
    )
    wait_for(lambda: chaos_objects(live) == [], timeout=30, what="the fault object to go")
    run = Run.objects.get(pk=run.pk)
    assert "availability >= 90%" in run.end_reason and "2/3 ready" in run.end_reason
    assert run_state(run) == "aborted"
    ev = AuditEvent.objects.get(verb="chaos.run.abort")
    assert ev.actor == "system:chaos-watch"
    assert AuditEvent.objects.filter(verb="action.chaos_stopped").exists()


def test_halted_aborts_every_running_run_at_once(
    celery_worker_process, cluster, live, opted, olivia, alice, adam
):
    web = approved(start(cluster, olivia, duration_seconds=600), alice)
    api = approved(
        start(cluster, olivia, target="api", fault="cpu-stress", duration_seconds=600), alice
    )
    wait_for(
        lambda: all(Run.objects.get(pk=r.pk).action.status == Status.SUCCEEDED for r in (web, api)),
        timeout=30,
        what="the worker to inject both faults",
    )
    assert chaos_objects(live) and chaos_objects(live, "stresschaos")
    safety_mode_set(actor=adam, mode="halted", reason="incident")
    for r in (web, api):  # in the transaction of the change, not at the next watch
        r = Run.objects.get(pk=r.pk)
        assert r.phase == Run.Phase.ABORTED and r.end_reason == "halted: incident"
    wait_for(
        lambda: chaos_objects(live) == [] and chaos_objects(live, "stresschaos") == [],
        timeout=30,
        what="the executor to take both faults away while halted",
    )


def test_abort_through_the_api_cancels_a_waiting_run_and_a_second_abort_is_409(
    cluster, live, opted, olivia, vic
):
    run = start(cluster, olivia)
    viewer = Client()
    viewer.force_login(vic)
    url = f"/chaos/runs/{run.pk}/abort"
    assert viewer.post(url, {"reason": "x"}, content_type="application/json").status_code == 403
    operator = Client()
    operator.force_login(olivia)
    r = operator.post(url, {"reason": "wrong target"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["state"] == "aborted"
    assert executor.chaos_stop(run.action_id, actor="olivia", reason="x") == (
        "cancelled before it ran"
    )  # as the queued task does
    run.action.refresh_from_db()
    assert run.action.status == Status.CANCELLED
    again = operator.post(url, {"reason": "again"}, content_type="application/json")
    assert again.status_code == 409
    with pytest.raises(Conflict):
        runs.run_abort(actor=olivia, run=run, reason="again")


def test_the_sweeper_takes_away_a_fault_whose_stop_was_lost(cluster, live, opted, olivia, alice):
    run = approved(start(cluster, olivia, duration_seconds=600), alice)
    assert executor.execute(run.action_id) == Status.SUCCEEDED
    runs.run_abort(actor=olivia, run=run, reason="enough")
    celery_app.control.purge()  # the queued stop is lost, as with a worker killed by -9
    assert chaos_objects(live) == [f"zt-action-{run.action_id}"]
    assert runs.chaos_sweep() == 1  # queued again ...
    celery_app.control.purge()
    assert executor.chaos_stop(run.action_id, actor="system:chaos-sweep", reason="sweep")
    assert chaos_objects(live) == []  # ... and gone once the executor ran it
    assert runs.chaos_sweep() == 0


@pytest.mark.scenario("healthy", speed=20)
def test_memory_stress_is_seen_named_fixed_and_graded_with_mttd_and_mttr(
    celery_worker_process, cluster, live, opted, olivia, alice, adam
):
    """The whole loop against a fault: OOM kills, an incident with the right cause, healing's
    fix auto-approved in autonomous mode and run by the worker, and the grade."""
    safety_mode_set(actor=adam, mode="autonomous", reason="game day")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="gd")
    run = start(
        cluster,
        olivia,
        target="api",
        fault="memory-stress",
        duration_seconds=300,
        parameters={"size": "600Mi"},  # api: 300Mi used of a 768Mi limit
        grace_seconds=120,
    )
    approved(run, alice)  # a person's chaos still needs an approver

    def one_cycle():  # what beat and the collector do, every 30 simulated seconds
        assert cluster_collect(cluster=cluster).ok
        cluster.refresh_from_db()
        heal_cycle(cluster=cluster)
        runs.runs_watch()
        grade = Run.objects.get(pk=run.pk).grade
        return grade if grade and grade["final"] else None

    grade = wait_for(one_cycle, timeout=120, what="the run to be graded", interval=1.5)
    assert grade["detected"] and grade["cause"] == "memory_undersized" and grade["right_cause"]
    assert grade["fix"]["kind"] == "patch_resources" and grade["fix"]["status"] == "succeeded"
    assert grade["fix"]["approved_by"][0].startswith("policy:")  # autonomous: nobody clicked
    assert grade["mttd_seconds"] is not None and grade["mttr_seconds"] is not None
    assert grade["recovered"] and grade["steady_state_held"] and grade["score"] == 100
    assert AuditEvent.objects.filter(verb="chaos.run.graded").count() == 1


def test_kill_9_of_the_worker_mid_run_leaves_no_fault_object_behind(
    cluster, live, opted, olivia, alice
):
    """The worker that injected a fault dies by kill -9 mid-run; the run is aborted meanwhile.
    The next worker takes the fault away, and the sweeper then finds nothing left."""
    if not REAL_SERVICES:
        pytest.skip("needs PostgreSQL and Redis (fallback run)")
    celery_app.control.purge()  # this run's queue only: nothing queued by earlier tests
    worker = start_worker("chaos-kill")
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=60, what="a worker")
        run = approved(start(cluster, olivia, duration_seconds=600), alice)
        wait_for(
            lambda: Run.objects.get(pk=run.pk).action.status == Status.SUCCEEDED,
            timeout=30,
            what="the worker to inject the fault",
        )
        assert chaos_objects(live) == [f"zt-action-{run.action_id}"]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        runs.run_abort(actor=olivia, run=run, reason="the worker died; stop it")
        assert chaos_objects(live)  # nobody to take it away yet
        worker = start_worker("chaos-kill")
        wait_for(lambda: chaos_objects(live) == [], timeout=60, what="the new worker to clean up")
        assert runs.chaos_sweep() == 0  # nothing left behind for the sweeper
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


@pytest.mark.scenario("healthy", speed=30)
def test_a_node_drain_is_undone_at_the_end_and_graded(cluster, live, opted, olivia, alice):
    p = plan(
        actor=olivia,
        cluster=cluster,
        namespace="shop",
        target="web",
        fault="node-drain",
        duration_seconds=60,
    )
    node = p.action_target
    assert p.action_kind == "drain_node" and p.chaos_spec["drain"] == node and p.hit == 1
    with pytest.raises(ValidationFailed) as e:
        plan(
            actor=olivia,
            cluster=cluster,
            namespace="shop",
            target="web",
            fault="node-drain",
            duration_seconds=60,
            mode="all",
        )
    assert e.value.field == "mode"
    run = approved(inject(actor=olivia, plan=p), alice)
    assert run.action.target_name == node and run.action.source == "chaos"
    assert executor.execute(run.action_id) == Status.SUCCEEDED  # cordoned and evicted
    gw = gateway_for(cluster)
    try:
        assert next(n for n in gw.nodes() if n.name == node).unschedulable
        wait_for(lambda: runs.runs_watch()["ended"] == 1, timeout=30, what="the drain's end")
        assert executor.chaos_stop(run.action_id, actor="test", reason="end") == (
            f"{node} uncordoned"
        )
        assert not next(n for n in gw.nodes() if n.name == node).unschedulable
    finally:
        gw.close()
    assert runs.chaos_sweep() == 0  # undone: nothing for the sweeper
    run.refresh_from_db()
    assert run.grade["final"] and "ZeroTouch correctly did nothing" in run.grade["verdict"]


def test_a_node_not_ready_is_seen_as_the_node_ended_by_its_object_and_graded(
    cluster, live, opted, olivia, alice
):
    p = planned(cluster, olivia, fault="node-not-ready")
    node = p.action_target
    assert (p.action_kind, p.chaos_kind) == ("chaos_node_not_ready", "NodeChaos")
    assert p.chaos_spec == {"nodeName": node, "duration": "60s"} and p.hit == 1
    run = approved(inject(actor=olivia, plan=p), alice)
    assert (run.action.target_name, run.action.namespace) == (node, "")
    assert run.action.risk == "high"  # every pod on the node turns unready
    assert executor.execute(run.action_id) == Status.SUCCEEDED
    core, custom = kube(live)
    objects = custom.list_cluster_custom_object("sandbox.zerotouch.dev", "v1", "nodechaos")
    assert [o["metadata"]["name"] for o in objects["items"]] == [f"zt-action-{run.action_id}"]
    ready = {c.type: c.status for c in core.read_node(node).status.conditions}["Ready"]
    assert ready == "Unknown"  # the kubelet stopped posting status
    for _ in range(2):  # ZeroTouch watches the cluster meanwhile, as it always does
        live.sandbox.advance(25)
        assert cluster_collect(cluster=cluster).ok
        cluster.refresh_from_db()
        heal_cycle(cluster=cluster)
    live.sandbox.advance(11)  # past the fault's own 60 s: the sandbox ends it by itself
    ready = {c.type: c.status for c in core.read_node(node).status.conditions}["Ready"]
    assert ready == "True"
    assert runs.runs_watch()["ended"] == 1
    assert executor.chaos_stop(run.action_id, actor="test", reason="clean-up") == (
        f"NodeChaos zt-action-{run.action_id} deleted"
    )
    assert (
        custom.list_cluster_custom_object("sandbox.zerotouch.dev", "v1", "nodechaos")["items"] == []
    )
    run.refresh_from_db()
    assert run.grade["detected"] and run.grade["right_cause"], run.grade


def test_a_node_not_ready_is_refused_off_the_sandbox_at_plan_and_at_the_gate(
    cluster, live, opted, olivia, alice
):
    p = planned(cluster, olivia, fault="node-not-ready")
    run = approved(inject(actor=olivia, plan=p), alice)
    cluster.connection = cluster.Connection.KUBECONFIG  # the same API, now a "real" cluster
    cluster.save(update_fields=["connection"])
    with pytest.raises(ValidationFailed) as e:
        planned(cluster, olivia, fault="node-not-ready")
    assert e.value.field == "fault" and "sandbox only" in str(e.value)
    # An Action already approved is stopped at the gate: nothing is created.
    assert executor.execute(run.action_id) == Status.BLOCKED
    run.action.refresh_from_db()
    assert "played by the sandbox only" in run.action.status_reason
    assert (
        kube(live)[1].list_cluster_custom_object("sandbox.zerotouch.dev", "v1", "nodechaos")[
            "items"
        ]
        == []
    )
