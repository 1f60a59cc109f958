"""Node lifecycle: Ready or not, its taints, and evicting the pods of a lost node."""

from .. import builders
from .common import NODES, PODS
from .containers import delete_pod, render_pod
from .lifecycle import reconcile_owner


def node_status(sb, node: dict, *, ready: bool) -> None:
    now = sb.iso()
    name = node["metadata"]["name"]
    sb.node_ready[name] = ready
    if ready:
        cond = builders.node_condition(
            "Ready", "True", "KubeletReady", "kubelet is posting ready status", now
        )
        node["spec"]["taints"] = [
            t
            for t in node["spec"].get("taints", [])
            if not t["key"].startswith("node.kubernetes.io/unreach")
        ]
    else:
        cond = builders.node_condition(
            "Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", now
        )
        node["spec"]["taints"] = [
            *node["spec"].get("taints", []),
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now},
        ]
    pressure = [
        builders.node_condition(
            t,
            "False" if ready else "Unknown",
            f"KubeletHasSufficient{t.replace('Pressure', '')}" if ready else "NodeStatusUnknown",
            "kubelet has sufficient resources" if ready else "Kubelet stopped posting node status.",
            now,
        )
        for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    node["status"]["conditions"] = [*pressure, cond]
    if not node["spec"]["taints"]:
        node["spec"].pop("taints")
    sb.store.update(NODES, node)
    if ready:
        _kubelet_back(sb, name)


def _kubelet_back(sb, name: str) -> None:
    """The kubelet reports again: the deletions made while it was away complete (it stops
    those containers), and the containers still running there pass readiness again."""
    for pod in [p for p in sb.store.list(PODS) if p["spec"].get("nodeName") == name]:
        if pod["metadata"].get("deletionTimestamp"):
            delete_pod(sb, pod, reason="kubelet returned", grace=0)
            continue
        rt = sb.runtime.get(pod["metadata"]["uid"])
        for c in rt.containers.values() if rt is not None else ():
            if c.state == "running":
                c.gen += 1  # supersedes its timers; the readiness probe passes again
                sb.after(0, "container", rt.uid, c.name, c.gen, "ready")


def lose_kubelet(sb, name: str) -> None:
    """The node stops reporting: the node controller marks its pods not ready, and their
    owners (Deployment status, ReplicaSets) see it."""
    for pod in [p for p in sb.store.list(PODS) if p["spec"].get("nodeName") == name]:
        rt = sb.runtime.get(pod["metadata"]["uid"])
        if rt is None:
            continue
        for c in rt.containers.values():
            c.ready = False
        render_pod(sb, rt, pod)
        reconcile_owner(sb, pod)


def evict_unready_node(sb, name: str) -> None:
    if sb.node_ready.get(name, True):
        return
    for pod in [p for p in sb.store.list(PODS) if p["spec"].get("nodeName") == name]:
        if pod["metadata"].get("deletionTimestamp"):
            continue  # already being deleted (drained)
        sb.emit(
            pod,
            "TaintManagerEviction",
            f"Marking for deletion Pod {pod['metadata']['namespace']}/{pod['metadata']['name']}",
            "Normal",
            "taint-eviction-controller",
        )
        rt = sb.runtime.get(pod["metadata"]["uid"])
        if rt is not None:
            sb.record_failure("Evicted", pod=rt)
        delete_pod(sb, pod, reason="node not ready")
        reconcile_owner(sb, pod)  # Terminating: its ReplicaSet replaces it now
