"""kubectl, the real binary, against the sandbox: what an operator types, and what it changes."""

import os
import re
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

from apps.clusters.quantity import cpu_millis
from tests.support.sandbox import start_sandbox

KUBECTL = Path(sys.executable).parent / "kubectl"


def kubectl_command(server, *args, context="sandbox"):
    env = {
        **os.environ,
        "KUBECONFIG": str(server.kubeconfig),
        "KUBECACHEDIR": str(server.kubeconfig.parent / "kube-cache"),
    }
    return [str(KUBECTL), "--context", context, *args], env


def kubectl(server, *args, context="sandbox", timeout=30, check=True):
    command, env = kubectl_command(server, *args, context=context)
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def table(output: str) -> tuple[list[str], list[list[str]]]:
    """kubectl's columns: the header split on runs of two or more spaces, and the rows."""
    lines = [line for line in output.splitlines() if line.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    return header, [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def stored(server, key, namespace, name):
    with server.sandbox.lock:
        return server.sandbox.store.get(key, namespace, name)


def pods(server, namespace=None, *, app=None, node=None) -> list[dict]:
    with server.sandbox.lock:
        return [
            p
            for p in server.sandbox.store.list("pods", namespace)
            if (app is None or p["metadata"]["labels"].get("app") == app)
            and (node is None or p["spec"].get("nodeName") == node)
        ]


# --- Reading ------------------------------------------------------------------------------


def test_it_lists_pods_in_all_namespaces(sandbox):
    header, rows = table(kubectl(sandbox, "get", "pods", "-A").stdout)
    assert header == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    expected = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods(sandbox))
    assert sorted((r[0], r[1]) for r in rows) == expected
    assert len(rows) == 13  # 3 web, 4 api, 2 worker, 2 ledger, 2 coredns
    assert {tuple(r[2:]) for r in rows} == {("1/1", "Running", "0", "1m")}


def test_it_lists_pods_wide_with_ip_and_node(sandbox):
    header, rows = table(kubectl(sandbox, "get", "pods", "-n", "shop", "-o", "wide").stdout)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert len(rows) == 9
    for row in rows:
        pod = stored(sandbox, "pods", "shop", row[0])
        assert row[5] == pod["status"]["podIP"]
        assert row[6] == pod["spec"]["nodeName"]


def test_it_lists_nodes(sandbox):
    header, rows = table(kubectl(sandbox, "get", "nodes").stdout)
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows == [[f"node-{i}", "Ready", "<none>", "1m", "v1.31.0-sandbox"] for i in (1, 2, 3)]


def test_it_lists_deployments_with_their_replica_counts(sandbox):
    header, rows = table(kubectl(sandbox, "get", "deploy", "-n", "shop").stdout)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows == [
        ["api", "4/4", "4", "4", "1m"],
        ["web", "3/3", "3", "3", "1m"],
        ["worker", "2/2", "2", "2", "1m"],
    ]
    sandbox.sandbox.advance(3600)
    header, rows = table(kubectl(sandbox, "get", "deploy", "web", "-n", "shop").stdout)
    assert rows == [["web", "3/3", "3", "3", "61m"]]


def test_it_describes_a_pod_with_its_events(sandbox):
    pod = pods(sandbox, "shop", app="web")[0]
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
    out = kubectl(sandbox, "describe", "pod", name, "-n", "shop").stdout
    assert re.search(rf"^Name:\s+{name}$", out, re.M)
    assert re.search(r"^Namespace:\s+shop$", out, re.M)
    assert re.search(rf"^Node:\s+{node}/{re.escape(pod['status']['hostIP'])}$", out, re.M)
    assert re.search(r"^Status:\s+Running$", out, re.M)
    rs = pod["metadata"]["ownerReferences"][0]["name"]
    assert re.search(rf"^Controlled By:\s+ReplicaSet/{rs}$", out, re.M)
    assert re.search(r"Image:\s+registry\.local/shop/web:1\.4\.2$", out, re.M)
    assert re.search(r"Limits:\s+cpu:\s+1\s+memory:\s+512Mi", out)
    assert re.search(r"Requests:\s+cpu:\s+200m\s+memory:\s+256Mi", out)
    assert re.search(r"^QoS Class:\s+Burstable$", out, re.M)
    events = out[out.index("\nEvents:") :]
    assert re.search(r"Type\s+Reason\s+Age\s+From\s+Message", events)
    assert re.search(
        rf"Normal\s+Scheduled\s+.+default-scheduler\s+Successfully assigned shop/{name} to {node}",
        events,
    )
    for reason in ("Pulling", "Pulled", "Created", "Started"):
        assert re.search(rf"Normal\s+{reason}\s+.+kubelet\s+", events), reason


def test_it_describes_the_ips_of_a_pod(sandbox):
    pod = pods(sandbox, "shop", app="web")[0]
    out = kubectl(sandbox, "describe", "pod", pod["metadata"]["name"], "-n", "shop").stdout
    ip = re.escape(pod["status"]["podIP"])
    assert re.search(rf"^IP:\s+{ip}$", out, re.M)
    assert re.search(rf"^IPs:\n\s+IP:\s+{ip}$", out, re.M)


def test_it_describes_a_node_with_its_pods_and_allocated_resources(sandbox):
    out = kubectl(sandbox, "describe", "node", "node-1").stdout
    on_node = pods(sandbox, node="node-1")
    assert re.search(r"^Name:\s+node-1$", out, re.M)
    assert re.search(r"^Unschedulable:\s+false$", out, re.M)
    assert re.search(r"Ready\s+True\s+.+KubeletReady", out)
    assert re.search(r"Allocatable:\s+cpu:\s+7900m", out)
    assert re.search(rf"^Non-terminated Pods:\s+\({len(on_node)} in total\)$", out, re.M)
    for pod in on_node:
        assert pod["metadata"]["name"] in out
    allocated = out[out.index("Allocated resources:") : out.index("\nEvents:")]
    cpu = re.search(r"^\s+cpu\s+(\S+) \((\d+)%\)\s+(\S+) \((\d+)%\)$", allocated, re.M)
    assert cpu, allocated
    requests = sum(
        cpu_millis(c["resources"]["requests"]["cpu"])
        for p in on_node
        for c in p["spec"]["containers"]
    )
    assert cpu_millis(cpu.group(1)) == requests
    assert int(cpu.group(2)) == requests * 100 // 7900
    assert re.search(r"^\s+memory\s+\S+ \(\d+%\)\s+\S+ \(\d+%\)$", allocated, re.M)
    assert re.search(r"^Events:\s+<none>$", out, re.M)


# --- Changing workloads -------------------------------------------------------------------


def test_it_deletes_a_pod_and_a_replacement_appears(sandbox):
    victim = pods(sandbox, "shop", app="web")[0]["metadata"]["name"]
    out = kubectl(sandbox, "delete", "pod", victim, "-n", "shop").stdout
    assert re.search(rf'pod "{victim}" deleted', out)
    assert stored(sandbox, "pods", "shop", victim) is None
    assert sandbox.sandbox.mutations["delete pods"] == 1

    _, rows = table(kubectl(sandbox, "get", "pods", "-n", "shop", "-l", "app=web").stdout)
    assert victim not in {r[0] for r in rows}
    assert len(rows) == 3
    fresh = [r for r in rows if r[4] == "0s"]
    assert len(fresh) == 1
    assert fresh[0][1:4] == ["0/1", "ContainerCreating", "0"]

    sandbox.sandbox.advance(30)
    _, rows = table(kubectl(sandbox, "get", "pods", "-n", "shop", "-l", "app=web").stdout)
    assert {tuple(r[1:4]) for r in rows} == {("1/1", "Running", "0")}
    assert (fresh[0][0], "30s") in {(r[0], r[4]) for r in rows}


def test_it_scales_a_deployment(sandbox):
    out = kubectl(sandbox, "scale", "deploy/web", "-n", "shop", "--replicas=5").stdout
    assert out.strip() == "deployment.apps/web scaled"
    assert stored(sandbox, "apps/deployments", "shop", "web")["spec"]["replicas"] == 5
    assert sandbox.sandbox.mutations["scale apps/deployments"] == 1
    sandbox.sandbox.advance(30)
    _, rows = table(kubectl(sandbox, "get", "deploy", "web", "-n", "shop").stdout)
    assert rows[0][:4] == ["web", "5/5", "5", "5"]
    assert len(pods(sandbox, "shop", app="web")) == 5


def test_it_restarts_a_rollout_and_waits_for_it(tmp_path):
    server = start_sandbox(tmp_path, speed=20)  # the clock runs: a minute takes three seconds
    try:
        before = {p["metadata"]["name"] for p in pods(server, "shop", app="web")}
        out = kubectl(server, "rollout", "restart", "deploy/web", "-n", "shop").stdout
        assert out.strip() == "deployment.apps/web restarted"
        proc = kubectl(
            server, "rollout", "status", "deploy/web", "-n", "shop", "--timeout=40s", timeout=60
        )
        assert 'deployment "web" successfully rolled out' in proc.stdout

        dep = stored(server, "apps/deployments", "shop", "web")
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert "kubectl.kubernetes.io/restartedAt" in annotations
        assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        after = pods(server, "shop", app="web")
        assert len(after) == 3
        assert not before & {p["metadata"]["name"] for p in after}
        with server.sandbox.lock:
            replica_sets = {
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
                for rs in server.sandbox.store.list("apps/replicasets", "shop")
                if rs["metadata"]["labels"]["app"] == "web"
            }
        assert replica_sets["1"]["spec"]["replicas"] == 0
        assert replica_sets["2"]["status"]["readyReplicas"] == 3
    finally:
        server.stop()


def test_it_rolls_back_to_the_first_revision(sandbox):
    kubectl(
        sandbox, "set", "image", "deploy/web", "web=registry.local/shop/web:2.0.0", "-n", "shop"
    )
    sandbox.sandbox.advance(60)
    dep = stored(sandbox, "apps/deployments", "shop", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.0.0")
    assert {
        c["image"] for p in pods(sandbox, "shop", app="web") for c in p["spec"]["containers"]
    } == {"registry.local/shop/web:2.0.0"}
    history = kubectl(sandbox, "rollout", "history", "deploy/web", "-n", "shop").stdout
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M)

    out = kubectl(sandbox, "rollout", "undo", "deploy/web", "--to-revision=1", "-n", "shop").stdout
    assert out.strip() == "deployment.apps/web rolled back"
    dep = stored(sandbox, "apps/deployments", "shop", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.local/shop/web:1.4.2"
    )
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    sandbox.sandbox.advance(60)
    images = {c["image"] for p in pods(sandbox, "shop", app="web") for c in p["spec"]["containers"]}
    assert images == {"registry.local/shop/web:1.4.2"}
    _, rows = table(kubectl(sandbox, "get", "deploy", "web", "-n", "shop").stdout)
    assert rows[0][:4] == ["web", "3/3", "3", "3"]


# --- Nodes --------------------------------------------------------------------------------


def test_it_cordons_and_uncordons_a_node(sandbox):
    assert kubectl(sandbox, "cordon", "node-1").stdout.strip() == "node/node-1 cordoned"
    assert stored(sandbox, "nodes", "", "node-1")["spec"]["unschedulable"] is True
    _, rows = table(kubectl(sandbox, "get", "nodes").stdout)
    assert [r[1] for r in rows] == ["Ready,SchedulingDisabled", "Ready", "Ready"]
    # New pods go elsewhere while it is cordoned.
    before = {p["metadata"]["name"] for p in pods(sandbox, "shop", app="worker")}
    kubectl(sandbox, "scale", "deploy/worker", "-n", "shop", "--replicas=6")
    sandbox.sandbox.advance(30)
    workers = pods(sandbox, "shop", app="worker")
    assert len(workers) == 6
    new = [p for p in workers if p["metadata"]["name"] not in before]
    assert len(new) == 4
    assert all(p["spec"]["nodeName"] != "node-1" for p in new)

    assert kubectl(sandbox, "uncordon", "node-1").stdout.strip() == "node/node-1 uncordoned"
    assert not stored(sandbox, "nodes", "", "node-1")["spec"].get("unschedulable")
    _, rows = table(kubectl(sandbox, "get", "nodes").stdout)
    assert [r[1] for r in rows] == ["Ready", "Ready", "Ready"]


def test_it_drains_nodes_and_retries_evictions_the_budget_refuses(sandbox):
    on_node_1 = {p["metadata"]["name"] for p in pods(sandbox, node="node-1")}
    assert on_node_1
    proc = kubectl(sandbox, "drain", "node-1", "--ignore-daemonsets", "--timeout=30s")
    assert "node/node-1 cordoned" in proc.stdout
    assert "node/node-1 drained" in proc.stdout
    for name in on_node_1:
        assert f"pod/{name} evicted" in proc.stdout
    assert pods(sandbox, node="node-1") == []
    assert stored(sandbox, "nodes", "", "node-1")["spec"]["unschedulable"] is True
    assert sandbox.sandbox.mutations["create pods/eviction"] == len(on_node_1)

    # web's replacement is not ready yet: its budget (minAvailable 2) refuses to evict the
    # web pods on node-2. kubectl says it will retry in 5 s; each time, the clock moves on, a
    # replacement becomes ready, and the next attempt may evict one more pod.
    assert pods(sandbox, "shop", app="web", node="node-2")
    command, env = kubectl_command(
        sandbox, "drain", "node-2", "--ignore-daemonsets", "--timeout=60s"
    )
    drain = subprocess.Popen(command, env=env, text=True, stdout=PIPE, stderr=PIPE)
    try:
        refusals = []
        for line in drain.stderr:
            if "will retry after 5s" in line:
                refusals.append(line)
                sandbox.sandbox.advance(30)
        out, err = drain.communicate(timeout=60)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.communicate()
    assert refusals, err
    assert all("violate the pod's disruption budget" in line for line in refusals)
    assert drain.returncode == 0, err
    assert "node/node-2 drained" in out
    assert pods(sandbox, node="node-2") == []
    # Everything runs on node-3 now, ready.
    sandbox.sandbox.advance(30)
    assert {p["spec"]["nodeName"] for p in pods(sandbox, "shop")} == {"node-3"}
    dep = stored(sandbox, "apps/deployments", "shop", "web")
    assert dep["status"]["readyReplicas"] == 3


def test_it_shows_node_and_pod_usage(sandbox):
    header, rows = table(kubectl(sandbox, "top", "nodes").stdout)
    assert header == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert [r[0] for r in rows] == ["node-1", "node-2", "node-3"]
    for _, cpu, cpu_pct, memory, memory_pct in rows:
        assert re.fullmatch(r"\d+m", cpu)
        assert re.fullmatch(r"\d+Mi", memory)
        assert int(cpu_pct.rstrip("%")) == int(cpu[:-1]) * 100 // 7900
        assert 0 < int(memory_pct.rstrip("%")) < 100

    header, rows = table(kubectl(sandbox, "top", "pods", "-n", "shop").stdout)
    assert header == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert sorted(r[0] for r in rows) == sorted(
        p["metadata"]["name"] for p in pods(sandbox, "shop")
    )
    usage = {r[0]: (int(r[1].rstrip("m")), int(r[2].rstrip("Mi"))) for r in rows}
    for name, (cpu, memory) in usage.items():
        assert 0 < cpu <= 1000, name  # web and api are limited to one core
        assert 0 < memory < 1024, name
    # The workers burn more than the web pods, as their usage profiles say (350m vs 120m).
    worker = max(cpu for name, (cpu, _) in usage.items() if name.startswith("worker-"))
    web = max(cpu for name, (cpu, _) in usage.items() if name.startswith("web-"))
    assert worker > web


# --- RBAC ---------------------------------------------------------------------------------


def test_it_forbids_the_viewer_to_delete(sandbox):
    victim = pods(sandbox, "shop", app="web")[0]["metadata"]["name"]
    _, rows = table(kubectl(sandbox, "get", "pods", "-n", "shop", context="sandbox-viewer").stdout)
    assert victim in {r[0] for r in rows}

    proc = kubectl(
        sandbox, "delete", "pod", victim, "-n", "shop", context="sandbox-viewer", check=False
    )
    assert proc.returncode != 0
    assert "Error from server (Forbidden)" in proc.stderr
    assert 'User "sandbox:viewer" cannot delete resource "pods"' in proc.stderr
    assert stored(sandbox, "pods", "shop", victim) is not None

    proc = kubectl(
        sandbox,
        "scale",
        "deploy/web",
        "-n",
        "shop",
        "--replicas=1",
        context="sandbox-viewer",
        check=False,
    )
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr
    assert stored(sandbox, "apps/deployments", "shop", "web")["spec"]["replicas"] == 3
    assert sum(sandbox.sandbox.mutations.values()) == 0


def test_it_forbids_everything_to_the_nobody_context(sandbox):
    proc = kubectl(sandbox, "get", "pods", "-n", "shop", context="sandbox-nobody", check=False)
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr
    assert 'cannot list resource "pods"' in proc.stderr


# --- Dry runs: checked and answered, nothing stored ---------------------------------------

DRY_MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: staging
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: canary
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: canary}
  template:
    metadata:
      labels: {app: canary}
    spec:
      containers:
      - name: canary
        image: registry.example/canary:1
"""


def test_a_server_dry_run_apply_creates_nothing(sandbox, tmp_path):
    manifest = tmp_path / "dry.yaml"
    manifest.write_text(DRY_MANIFEST)
    before = len(pods(sandbox))
    proc = kubectl(sandbox, "apply", "--dry-run=server", "-f", str(manifest))
    assert "(server dry run)" in proc.stdout, proc.stdout
    assert stored(sandbox, "namespaces", "", "staging") is None
    assert stored(sandbox, "apps/deployments", "shop", "canary") is None
    assert len(pods(sandbox)) == before
    # A change to an existing Deployment is answered as it would be, and not made.
    proc = kubectl(
        sandbox, "scale", "deployment/web", "-n", "shop", "--replicas=7", "--dry-run=server"
    )
    assert "(server dry run)" in proc.stdout
    assert stored(sandbox, "apps/deployments", "shop", "web")["spec"]["replicas"] == 3
    proc = kubectl(sandbox, "delete", "deployment/web", "-n", "shop", "--dry-run=server")
    assert "(server dry run)" in proc.stdout
    assert stored(sandbox, "apps/deployments", "shop", "web") is not None
    node = pods(sandbox, "shop", app="web")[0]["spec"]["nodeName"]
    proc = kubectl(
        sandbox,
        "drain",
        node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--dry-run=server",
        timeout=60,
    )
    assert "(server dry run)" in proc.stdout
    assert not stored(sandbox, "nodes", "", node)["spec"].get("unschedulable")
    assert len(pods(sandbox)) == before and not any(
        p["metadata"].get("deletionTimestamp") for p in pods(sandbox)
    )
