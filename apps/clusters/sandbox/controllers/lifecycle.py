"""Pod lifecycle events: container timers firing, owners reacting, bare pods adopted."""

from .common import DEPLOYMENTS, REPLICASETS, pod_ready, terminal
from .containers import (
    become_ready,
    container_done,
    container_start,
    crash,
    oom,
    pod_runtime,
    render_pod,
)
from .deployments import reconcile_deployment, reconcile_rs
from .endpoints import pod_changed
from .jobs import reconcile_job_named
from .kinds import owner_changed
from .scheduler import pull, schedule_pending

ACTIONS = {
    "start": container_start,
    "ready": become_ready,
    "crash": crash,
    "oom": oom,
    "done": container_done,
}


def container_timer(sb, uid: str, name: str, gen: int, action: str) -> None:
    rt = sb.runtime.get(uid)
    c = rt.containers.get(name) if rt else None
    if c is None or c.gen != gen:
        return  # the pod is gone or the container moved on: a stale timer
    pod = sb.pod_obj(rt)
    if pod is None:
        return
    if not sb.node_ready.get(rt.node, False) and action != "ready":
        return  # a node that is not ready runs nothing new
    was = pod_ready(pod), terminal(pod)
    ACTIONS[action](sb, rt, c, pod)
    render_pod(sb, rt, pod)
    if (pod_ready(pod), terminal(pod)) != was:  # availability changed or the pod finished
        pod_changed(sb, pod)
        reconcile_owner(sb, pod)


def reconcile_owner(sb, pod: dict) -> None:
    for ref in pod["metadata"].get("ownerReferences", []):
        if ref["kind"] == "Job":
            reconcile_job_named(sb, pod["metadata"]["namespace"], ref["name"])
            continue
        if owner_changed(sb, pod, ref):
            continue
        rs = sb.store.get(REPLICASETS, pod["metadata"]["namespace"], ref["name"])
        if rs is None:
            continue
        dep_ref = next(
            (r for r in rs["metadata"].get("ownerReferences", []) if r["kind"] == "Deployment"),
            None,
        )
        dep = dep_ref and sb.store.get(DEPLOYMENTS, pod["metadata"]["namespace"], dep_ref["name"])
        if dep:
            reconcile_deployment(sb, dep)
        else:
            reconcile_rs(sb, rs)
        schedule_pending(sb)


def adopt_bare_pod(sb, pod: dict) -> None:
    """A pod created directly through the API: the kubelet runs it like any other."""
    pod.setdefault("status", {}).setdefault("phase", "Pending")
    rt = pod_runtime(sb, pod, "")
    if not pod["spec"].get("nodeName"):
        sb.unscheduled.add((rt.namespace, rt.name))
    if pod["spec"].get("nodeName"):
        rt.node, rt.scheduled_at = pod["spec"]["nodeName"], sb.now
        for c in rt.containers.values():
            pull(sb, rt, c)
        render_pod(sb, rt, pod)
    else:
        schedule_pending(sb)
