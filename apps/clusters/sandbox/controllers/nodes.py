"""Node lifecycle: Ready or not, its taints, and evicting the pods of a lost node."""

from .. import builders
from .common import NODES, PODS
from .containers import delete_pod


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
        _finish_terminating(sb, name)


def _finish_terminating(sb, name: str) -> None:
    """The kubelet is back: it stops the containers of the pods deleted while it was away, and
    the deletions complete."""
    for pod in [p for p in sb.store.list(PODS) if p["spec"].get("nodeName") == name]:
        if pod["metadata"].get("deletionTimestamp"):
            delete_pod(sb, pod, reason="kubelet returned", grace=0)


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
