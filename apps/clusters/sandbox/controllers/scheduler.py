"""The scheduler: bind pending pods to nodes with room, or say why none fits."""

from collections import defaultdict

from ...quantity import cpu_millis, memory_bytes
from ..kubelet import ContainerRt, PodRt
from .common import NODES, PODS, terminal
from .containers import render_pod, set_condition


def pod_requests(pod: dict) -> tuple[int, int]:
    cpu = mem = 0
    for c in pod["spec"]["containers"]:
        req = c.get("resources", {}).get("requests", {})
        cpu += cpu_millis(req.get("cpu", 0))
        mem += memory_bytes(req.get("memory", 0))
    return cpu, mem


def tolerates(pod: dict, taints: list[dict]) -> bool:
    tolerations = pod["spec"].get("tolerations", [])
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(
            (t.get("operator") == "Exists" and t.get("key") in (None, taint["key"]))
            or (t.get("key") == taint["key"] and t.get("value") == taint.get("value"))
            for t in tolerations
        ):
            return False
    return True


def unbound_claim(sb, pod: dict) -> str:
    for vol in pod["spec"].get("volumes", []):
        claim = vol.get("persistentVolumeClaim", {}).get("claimName")
        if claim:
            pvc = sb.store.get("persistentvolumeclaims", pod["metadata"]["namespace"], claim)
            if pvc is None:
                return f'persistentvolumeclaim "{claim}" not found'
            if pvc["status"].get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
    return ""


def schedule_pending(sb) -> None:
    if not sb.unscheduled:
        return
    pending = [p for key in sorted(sb.unscheduled) if (p := sb.store.get(PODS, *key)) is not None]
    nodes = sb.store.list(NODES)
    used: dict[str, list[int]] = {n["metadata"]["name"]: [0, 0] for n in nodes}
    for p in sb.store.list(PODS):
        if p["spec"].get("nodeName") in used and not terminal(p):
            cpu, mem = pod_requests(p)
            used[p["spec"]["nodeName"]][0] += cpu
            used[p["spec"]["nodeName"]][1] += mem
    for pod in pending:
        schedule_one(sb, pod, nodes, used)


def schedule_one(sb, pod: dict, nodes: list[dict], used: dict) -> None:
    claim = unbound_claim(sb, pod)
    cpu, mem = pod_requests(pod)
    fits, reasons = [], defaultdict(int)
    for node in nodes:
        name = node["metadata"]["name"]
        if claim:
            break
        if not sb.node_ready.get(name, False):
            reasons["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"] += 1
        elif node["spec"].get("unschedulable"):
            reasons["node(s) were unschedulable"] += 1
        elif not tolerates(pod, node["spec"].get("taints", [])):
            reasons["node(s) had untolerated taint"] += 1
        elif used[name][0] + cpu > cpu_millis(node["status"]["allocatable"]["cpu"]):
            reasons["Insufficient cpu"] += 1
        elif used[name][1] + mem > memory_bytes(node["status"]["allocatable"]["memory"]):
            reasons["Insufficient memory"] += 1
        else:
            fits.append(name)
    if not fits:
        why = claim or ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        msg = f"0/{len(nodes)} nodes are available: {why}."
        rt = sb.runtime.get(pod["metadata"]["uid"])
        if claim and rt is not None and rt.uid not in sb.pending_recorded:
            sb.pending_recorded.add(rt.uid)
            sb.record_failure("Pending", pod=rt, detail=msg)
        sb.emit(pod, "FailedScheduling", msg, "Warning", "default-scheduler")
        set_condition(pod, "PodScheduled", "False", "Unschedulable", msg, sb)
        sb.store.update(PODS, pod)
        return
    target = min(fits, key=lambda n: (used[n][0], n))  # spread by requested CPU
    sb.unscheduled.discard((pod["metadata"]["namespace"], pod["metadata"]["name"]))
    used[target][0] += cpu
    used[target][1] += mem
    pod["spec"]["nodeName"] = target
    rt = sb.runtime.get(pod["metadata"]["uid"])
    sb.emit(
        pod,
        "Scheduled",
        f"Successfully assigned {pod['metadata']['namespace']}/"
        f"{pod['metadata']['name']} to {target}",
        source="default-scheduler",
    )
    if rt is not None:
        rt.node, rt.scheduled_at = target, sb.now
        for c in rt.containers.values():
            pull(sb, rt, c)
        render_pod(sb, rt, pod)


def pull(sb, rt: PodRt, c: ContainerRt) -> None:
    c.gen += 1
    pod = sb.pod_obj(rt)
    if pod is not None:
        sb.emit(pod, "Pulling", f'Pulling image "{c.image}"')
    sb.after(2 + sb.rng.random() * 3, "container", rt.uid, c.name, c.gen, "start")
