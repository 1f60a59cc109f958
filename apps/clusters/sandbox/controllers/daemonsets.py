"""The daemonset controller: one pod on every Ready, schedulable node the template fits
(its nodeSelector matches, its tolerations cover the node's taints), bound to that node
directly. New nodes get a pod at the next pass; a pod whose node is gone, or no longer
matches, goes. A pod on a node that turns NotReady or is cordoned stays, as a real
daemonset's pods do (they tolerate it)."""

from .. import builders
from .common import NODES, PODS, pod_ready, random_suffix
from .containers import delete_pod, pod_runtime, render_pod
from .scheduler import pull, tolerates

DAEMONSETS = "apps/daemonsets"
SOURCE = "daemonset-controller"
# What the controller adds to every daemon pod, so it stays on a node in trouble.
TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def fits(sb, ds: dict, node: dict) -> bool:
    template = ds["spec"]["template"]["spec"]
    labels = node["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in (template.get("nodeSelector") or {}).items()):
        return False
    return tolerates({"spec": template}, node["spec"].get("taints", []))


def wanted_nodes(sb, ds: dict) -> list[str]:
    return [
        n["metadata"]["name"]
        for n in sb.store.list(NODES)
        if sb.node_ready.get(n["metadata"]["name"], False)
        and not n["spec"].get("unschedulable")
        and fits(sb, ds, n)
    ]


def reconcile_daemonset(sb, ds: dict) -> None:
    meta = ds["metadata"]
    pods = sb.store.pods_of(meta["uid"])
    on = {p["spec"].get("nodeName"): p for p in pods}
    want = wanted_nodes(sb, ds)
    for node in want:
        if node not in on:
            on[node] = _create_pod(sb, ds, node)
    for pod in pods:
        node = sb.store.get(NODES, "", pod["spec"].get("nodeName", ""))
        if node is None or not fits(sb, ds, node):
            on.pop(pod["spec"].get("nodeName"), None)
            delete_pod(sb, pod, reason="daemon pod no longer fits its node")
            sb.emit(
                ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", source=SOURCE
            )
    _status(sb, ds, list(on.values()), len(want))


def _create_pod(sb, ds: dict, node: str) -> dict:
    pod = builders.pod(ds, random_suffix(sb))
    pod["metadata"]["labels"] = {
        **pod["metadata"]["labels"],
        "controller-revision-hash": builders.template_hash(ds["spec"]["template"]),
    }
    spec = pod["spec"]
    spec["tolerations"] = [*(ds["spec"]["template"]["spec"].get("tolerations") or []), *TOLERATIONS]
    spec["nodeName"] = node
    pod = sb.store.create(PODS, pod)
    rt = pod_runtime(sb, pod, f"{ds['metadata']['namespace']}/{ds['metadata']['name']}")
    rt.node, rt.scheduled_at = node, sb.now  # bound to its node: no scheduling
    for c in rt.containers.values():
        pull(sb, rt, c)
    render_pod(sb, rt, pod)
    sb.emit(ds, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}", source=SOURCE)
    return pod


def _status(sb, ds: dict, pods: list[dict], desired: int) -> None:
    ready = sum(1 for p in pods if pod_ready(p))
    status = {
        "currentNumberScheduled": len(pods),
        "desiredNumberScheduled": desired,
        "numberMisscheduled": 0,
        "numberReady": ready,
        "numberAvailable": ready,
        "updatedNumberScheduled": len(pods),
        "observedGeneration": ds["metadata"].get("generation", 1),
    }
    if desired - ready:
        status["numberUnavailable"] = max(0, desired - ready)
    if ds.get("status") != status:
        ds["status"] = status
        sb.store.update(DAEMONSETS, ds)
