"""The gateway against the sandbox over HTTPS, through the official client (never mocked)."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from apps.clusters.gateway import Gateway, errors
from tests.support.sandbox import START, start_sandbox


def test_it_reads_version_nodes_and_pods(gateway, sandbox):
    version = gateway.version()
    assert version.git_version.startswith("v1.31")
    assert version.server_time == sandbox.sandbox.now  # the cluster's own clock
    nodes = gateway.nodes()
    assert [n.name for n in nodes] == ["node-1", "node-2", "node-3"]
    assert all(n.ready and not n.unschedulable for n in nodes)
    assert nodes[0].allocatable_cpu_m == 7900 and nodes[0].allocatable_memory > 30 * 2**30
    pods = gateway.pods("shop")
    web = [p for p in pods if p.labels.get("app") == "web"]
    assert len(web) == 3 and all(p.ready and p.phase == "Running" for p in web)
    c = web[0].containers[0]
    assert (c.request_cpu_m, c.limit_cpu_m) == (200, 1000)
    assert (c.request_memory, c.limit_memory) == (256 * 2**20, 512 * 2**20)
    assert web[0].owner.kind == "ReplicaSet" and web[0].node.startswith("node-")


def test_it_reads_workloads_events_budgets_claims_and_autoscalers(gateway):
    deployments = {d.name: d for d in gateway.deployments()}
    assert deployments["web"].revision == 1 and deployments["web"].ready_replicas == 3
    rs = [r for r in gateway.replica_sets("shop") if r.owner.name == "web"]
    assert len(rs) == 1 and rs[0].revision == 1
    events = gateway.events(since=START)
    assert {"Scheduled", "Started", "SuccessfulCreate"} <= {e.reason for e in events}
    assert gateway.events(since=START + timedelta(days=1)) == []
    (pdb,) = gateway.pdbs()
    assert (pdb.name, pdb.min_available, pdb.disruptions_allowed) == ("web", 2, 1)
    (pvc,) = gateway.pvcs()
    assert pvc.phase == "Bound" and pvc.mounted and len(pvc.mounted_by) == 2
    (hpa,) = gateway.hpas()
    assert (hpa.target_name, hpa.max_replicas, hpa.target_cpu_utilization) == ("api", 8, 70)


def test_it_reads_jobs_and_how_they_failed(tmp_path):
    server = start_sandbox(tmp_path, "failed-job")
    try:
        gw = Gateway.from_kubeconfig(server.kubeconfig, "sandbox")
        assert gw.jobs() == []  # the export starts at minute 5
        server.sandbox.advance(8 * 60)
        (job,) = gw.jobs()
        assert (job.namespace, job.name, job.owner) == ("reports", "nightly-export", "")
        assert (job.failed, job.backoff_limit, job.succeeded, job.active) == (3, 2, 0, 0)
        assert job.failed_reason == "BackoffLimitExceeded" and "backoff limit" in job.failed_message
        assert job.started_at < job.failed_at <= server.sandbox.now
        assert job.image == "registry.local/reports/export:3.2.0-failing"
        gw.close()
    finally:
        server.stop()


def test_it_reads_usage_from_the_metrics_api(gateway):
    nodes = gateway.node_usage()
    assert len(nodes) == 3 and all(n.cpu_m > 0 and n.memory > 0 for n in nodes)
    usage = gateway.pod_usage()
    web = [u for u in usage if u.pod.startswith("web-")]
    assert len(web) == 3 and all(0 < u.cpu_m < 1000 for u in web)


def test_it_deletes_exactly_the_pod_it_saw(gateway, sandbox):
    pod = gateway.pods("shop", label_selector="app=web")[0]
    with pytest.raises(errors.Conflict, match="Precondition failed"):
        gateway.delete_pod("shop", pod.name, uid="00000000-0000-0000-0000-000000000000")
    gateway.delete_pod("shop", pod.name, uid=pod.uid)
    with pytest.raises(errors.NotFound):
        gateway.delete_pod("shop", pod.name, uid=pod.uid)  # already gone: nothing twice
    sandbox.sandbox.advance(30)
    after = gateway.pods("shop", label_selector="app=web")
    assert len(after) == 3 and pod.name not in {p.name for p in after}
    assert sandbox.sandbox.mutations["delete pods"] == 1


def test_it_evicts_until_the_budget_says_no(gateway, sandbox):
    pods = gateway.pods("shop", label_selector="app=web")
    gateway.evict_pod("shop", pods[0].name)  # 3 healthy, 2 required: one may go
    with pytest.raises(errors.PDBBlocked) as exc:
        gateway.evict_pod("shop", pods[1].name)
    assert exc.value.status == 429 and exc.value.retryable
    sandbox.sandbox.advance(60)  # the replacement becomes ready: budget allows again
    gateway.evict_pod("shop", pods[1].name)


def test_it_scales_restarts_and_undoes_rollouts(gateway, sandbox):
    gateway.scale("shop", "web", replicas=5)
    gateway.scale("shop", "web", replicas=5)  # absolute: the same call twice is one change
    sandbox.sandbox.advance(60)
    assert gateway.deployment("shop", "web").ready_replicas == 5
    with pytest.raises(errors.Invalid):
        gateway.scale("shop", "web", replicas=-1)
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    gateway.rollout_restart("shop", "web", at=at)
    sandbox.sandbox.advance(180)
    dep = gateway.deployment("shop", "web")
    assert dep.revision == 2 and dep.updated_replicas == 5 and dep.ready_replicas == 5
    gateway.rollout_undo("shop", "web", revision=1)
    sandbox.sandbox.advance(180)
    assert gateway.deployment("shop", "web").revision == 3  # revision 1's template, renumbered
    with pytest.raises(errors.NotFound, match="no revision 9"):
        gateway.rollout_undo("shop", "web", revision=9)


def test_it_patches_resources_and_refuses_bad_quantities(gateway, sandbox):
    gateway.patch_resources("shop", "web", container="web", limits={"memory": "600Mi"})
    sandbox.sandbox.advance(180)
    pod = gateway.pods("shop", label_selector="app=web")[0]
    assert pod.containers[0].limit_memory == 600 * 2**20
    assert pod.containers[0].limit_cpu_m == 1000  # the other values stay
    with pytest.raises(errors.Invalid, match=r"limits\.memory"):
        gateway.patch_resources("shop", "web", container="web", limits={"memory": "lots"})


def test_it_cordons_and_uncordons(gateway):
    gateway.cordon("node-2")
    assert [n.unschedulable for n in gateway.nodes()] == [False, True, False]
    gateway.uncordon("node-2")
    assert not any(n.unschedulable for n in gateway.nodes())


def test_it_creates_and_deletes_chaos_mesh_objects(gateway, sandbox):
    before = {p.name for p in gateway.pods("shop", label_selector="app=api")}
    obj = gateway.create_chaos(
        "PodChaos",
        "shop",
        "kill-one",
        {
            "action": "pod-kill",
            "mode": "one",
            "duration": "30s",
            "selector": {"labelSelectors": {"app": "api"}},
        },
    )
    assert obj["status"]["experiment"]["desiredPhase"] == "Run"
    after = {p.name for p in gateway.pods("shop", label_selector="app=api")}
    assert len(before - after) == 1  # one pod killed
    assert gateway.get_chaos("PodChaos", "shop", "kill-one")["kind"] == "PodChaos"
    gateway.delete_chaos("PodChaos", "shop", "kill-one")
    with pytest.raises(errors.NotFound):
        gateway.get_chaos("PodChaos", "shop", "kill-one")
    with pytest.raises(errors.Invalid, match="unknown chaos kind"):
        gateway.create_chaos("TimeChaos", "shop", "x", {})


def test_it_types_rbac_refusals(sandbox):
    viewer = Gateway.from_kubeconfig(sandbox.kubeconfig, "sandbox-viewer")
    assert len(viewer.pods()) > 0  # reading is allowed
    with pytest.raises(errors.Forbidden, match="cannot patch"):
        viewer.cordon("node-1")
    nobody = Gateway.from_kubeconfig(sandbox.kubeconfig, "sandbox-nobody")
    with pytest.raises(errors.Forbidden):
        nobody.pods()
    assert sandbox.sandbox.mutations == {}


def test_it_types_bad_credentials_and_bad_kubeconfigs(sandbox, tmp_path):
    doc = yaml.safe_load(sandbox.kubeconfig.read_text())
    doc["users"][0]["user"]["token"] = "wrong"
    bad = tmp_path / "bad-token"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(errors.Unauthorized):
        Gateway.from_kubeconfig(bad, "sandbox").nodes()
    with pytest.raises(errors.ConfigInvalid, match="not found"):
        Gateway.from_kubeconfig(tmp_path / "missing", "sandbox")
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [this is: not a kubeconfig")
    with pytest.raises(errors.ConfigInvalid):
        Gateway.from_kubeconfig(garbage, "sandbox")
    with pytest.raises(errors.ConfigInvalid):
        Gateway.from_kubeconfig(sandbox.kubeconfig, "no-such-context")


def test_it_says_unreachable_with_a_timeout_and_never_hangs(tmp_path):
    server = start_sandbox(tmp_path)
    gw = Gateway.from_kubeconfig(server.kubeconfig, "sandbox", timeout=2)
    assert gw.nodes()
    server.stop()
    with pytest.raises(errors.Unreachable) as exc:
        gw.nodes()
    assert exc.value.retryable


def test_it_reports_a_missing_metrics_api_as_not_found(tmp_path):
    server = start_sandbox(tmp_path, metrics_api=False)
    try:
        gw = Gateway.from_kubeconfig(server.kubeconfig, "sandbox")
        with pytest.raises(errors.NotFound):
            gw.node_usage()
        assert len(gw.nodes()) == 3
    finally:
        server.stop()


def test_an_undo_by_template_hash_is_idempotent(gateway, sandbox):
    gateway.rollout_restart("shop", "web", at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    sandbox.sandbox.advance(180)
    original = gateway.replica_set_hash("shop", "web", 1)
    gateway.rollout_undo("shop", "web", template_hash=original)
    sandbox.sandbox.advance(180)
    patches = sandbox.sandbox.mutations["patch apps/deployments"]
    gateway.rollout_undo("shop", "web", template_hash=original)  # a retried delivery
    assert sandbox.sandbox.mutations["patch apps/deployments"] == patches  # no second change
    with pytest.raises(errors.NotFound):
        gateway.rollout_undo("shop", "web", revision=1)  # renumbered: why undo takes a hash
    assert gateway.deployment("shop", "web").ready_replicas == 3


def test_a_memory_limit_below_usage_gets_the_new_pods_oom_killed(gateway, sandbox):
    low = {"memory": "64Mi"}  # web uses about 180Mi
    gateway.patch_resources("shop", "web", container="web", requests=low, limits=low)
    sandbox.sandbox.advance(240)
    new = [p for p in gateway.pods("shop", label_selector="app=web") if p.containers[0].restarts]
    assert new, "no web pod restarted"
    assert all(p.containers[0].last_terminated_reason == "OOMKilled" for p in new)
