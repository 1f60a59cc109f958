"""What the control plane does: the deployment and replica-set controllers, the scheduler, the
kubelet's container lifecycle, node lifecycle, the HPA and PDB status. Functions of a Sandbox."""

import math
from collections import defaultdict
from datetime import timedelta

from ..quantity import cpu_millis, memory_bytes
from . import builders, kubelet
from .kubelet import ContainerRt, PodRt
from .selectors import selector_from_match

DEPLOYMENTS, REPLICASETS, PODS, NODES = "apps/deployments", "apps/replicasets", "pods", "nodes"


def resync(sb) -> None:
    """The periodic pass. Changes reconcile at once (events); this catches deadlines and
    anything in motion, and skips deployments at rest, which is most of them."""
    for dep in sb.store.list(DEPLOYMENTS):
        if not _at_rest(dep):
            reconcile_deployment(sb, dep)
    for rs in sb.store.list(REPLICASETS):
        if not rs["metadata"].get("ownerReferences"):
            reconcile_rs(sb, rs)
    schedule_pending(sb)
    hpa_pass(sb)
    pdb_status(sb)
    if sb.now.minute % 5 == 0 and sb.now.second < 15:
        sb.expire_events()


class _Owned:
    """pods_by_owner[uid] for the store's owner index."""

    def __init__(self, store):
        self.store = store

    def get(self, uid: str, default=None) -> list[dict]:
        return self.store.pods_of(uid)


def _at_rest(dep: dict) -> bool:
    st, want = dep.get("status", {}), dep["spec"].get("replicas", 1)
    if st.get("observedGeneration") != dep["metadata"].get("generation", 1):
        return False
    if not (st.get("replicas") == st.get("updatedReplicas") == st.get("readyReplicas", 0) == want):
        return False
    return any(
        c["type"] == "Progressing" and c["reason"] == "NewReplicaSetAvailable"
        for c in st.get("conditions", [])
    )


def _ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


# --- Deployments ------------------------------------------------------------------------


def _percent(value, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = total * int(value[:-1]) / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value)


def owned_replica_sets(sb, dep: dict) -> list[dict]:
    uid = dep["metadata"]["uid"]
    return [
        rs
        for rs in sb.store.list(REPLICASETS, dep["metadata"]["namespace"])
        if any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences", []))
    ]


def _revision(rs: dict) -> int:
    return int(rs["metadata"].get("annotations", {}).get(builders.REVISION, "0"))


def reconcile_deployment(sb, dep: dict) -> None:
    pods_by_owner = _Owned(sb.store)
    spec = dep["spec"]
    owned = owned_replica_sets(sb, dep)
    h = builders.template_hash(spec["template"])
    new = next((rs for rs in owned if rs["metadata"]["labels"].get("pod-template-hash") == h), None)
    top = max((_revision(rs) for rs in owned), default=0)
    if new is None:
        new = sb.store.create(REPLICASETS, builders.replica_set(dep, spec["template"], top + 1))
        sb.emit(
            dep,
            "ScalingReplicaSet",
            f"Scaled up replica set {new['metadata']['name']} to {min(spec.get('replicas', 1), 1)}",
            source="deployment-controller",
        )
        owned.append(new)
    elif _revision(new) < top:  # rolled back to an older template: it becomes the newest
        new["metadata"]["annotations"][builders.REVISION] = str(top + 1)
        sb.store.update(REPLICASETS, new)
    old = [rs for rs in owned if rs is not new]
    desired = spec.get("replicas", 1)
    _roll(sb, dep, new, old, desired, pods_by_owner)
    for rs in owned:
        reconcile_rs(sb, rs)
    _deployment_status(sb, dep, new, owned, desired, pods_by_owner)


def _available(rs: dict, pods_by_owner: dict) -> int:
    return sum(1 for p in pods_by_owner.get(rs["metadata"]["uid"], []) if _ready(p))


def _set_replicas(sb, dep: dict, rs: dict, n: int) -> None:
    if rs["spec"]["replicas"] == n:
        return
    verb = "up" if n > rs["spec"]["replicas"] else "down"
    rs["spec"]["replicas"] = n
    rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(
        dep["spec"].get("replicas", 1)
    )
    sb.store.update(REPLICASETS, rs, spec_changed=True)
    sb.emit(
        dep,
        "ScalingReplicaSet",
        f"Scaled {verb} replica set {rs['metadata']['name']} to {n}",
        source="deployment-controller",
    )


def _roll(sb, dep, new, old, desired, pods_by_owner) -> None:
    """A RollingUpdate: surge the new set, retire old pods only as new ones become ready."""
    strategy = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    surge = _percent(strategy.get("maxSurge", "25%"), desired, True)
    unavailable = _percent(strategy.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    old_live = [rs for rs in old if rs["spec"]["replicas"] > 0]
    if not old_live:
        _set_replicas(sb, dep, new, desired)
        return
    total = new["spec"]["replicas"] + sum(rs["spec"]["replicas"] for rs in old_live)
    room = desired + surge - total
    if new["spec"]["replicas"] < desired and room > 0:
        _set_replicas(sb, dep, new, min(desired, new["spec"]["replicas"] + room))
    available = _available(new, pods_by_owner) + sum(
        _available(rs, pods_by_owner) for rs in old_live
    )
    can_remove = available - (desired - unavailable)
    for rs in sorted(old_live, key=_revision):
        # Old pods that are not ready never count toward availability: drop them first.
        broken = rs["spec"]["replicas"] - _available(rs, pods_by_owner)
        remove = min(rs["spec"]["replicas"], max(0, can_remove) + max(0, broken))
        if remove > 0:
            _set_replicas(sb, dep, rs, rs["spec"]["replicas"] - remove)
            can_remove -= max(0, remove - max(0, broken))


def _deployment_status(sb, dep, new, owned, desired, pods_by_owner) -> None:
    pods = [p for rs in owned for p in pods_by_owner.get(rs["metadata"]["uid"], [])]
    new_pods = pods_by_owner.get(new["metadata"]["uid"], [])
    ready = sum(1 for p in pods if _ready(p))
    updated = len(new_pods)
    strategy = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    min_avail = desired - _percent(strategy.get("maxUnavailable", "25%"), desired, False)
    complete = updated == desired and len(pods) == desired and ready >= desired
    old = dep.get("status", {})
    progressed = updated > old.get("updatedReplicas", 0) or ready > old.get("availableReplicas", 0)
    progressing = _progressing(sb, dep, new, complete, old, progressed)
    status = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(0, desired - ready),
        "conditions": [
            _condition(
                old,
                "Available",
                "True" if ready >= min_avail else "False",
                "MinimumReplicasAvailable" if ready >= min_avail else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if ready >= min_avail
                else "Deployment does not have minimum availability.",
                sb,
            ),
            progressing,
        ],
    }
    if not ready:
        status.pop("readyReplicas")
        status.pop("availableReplicas")
    annotations = dep["metadata"].setdefault("annotations", {})
    revision = new["metadata"]["annotations"][builders.REVISION]
    if status != old or annotations.get(builders.REVISION) != revision:
        annotations[builders.REVISION] = revision
        dep["status"] = status
        sb.store.update(DEPLOYMENTS, dep)


def _progressing(sb, dep, new, complete, old_status, progressed: bool) -> dict:
    name = new["metadata"]["name"]
    prev = next((c for c in old_status.get("conditions", []) if c["type"] == "Progressing"), None)
    deadline = dep["spec"].get("progressDeadlineSeconds", 600)
    if complete:
        return _condition(
            old_status,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
            sb,
        )
    if prev and prev["reason"] == "ProgressDeadlineExceeded" and name in prev["message"]:
        return prev
    # The deadline counts from the last progress: a new set, more updated or available pods.
    same = prev and prev["reason"] == "ReplicaSetUpdated" and name in prev["message"]
    started = prev["lastUpdateTime"] if same and not progressed else sb.iso()
    if sb.iso(sb.now - timedelta(seconds=deadline)) > started:
        cond = _condition(
            old_status,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
            sb,
        )
        sb.emit(
            dep, "ProgressDeadlineExceeded", cond["message"], "Warning", "deployment-controller"
        )
        sb.record_failure("Unavailable", workload=_workload_key(dep), detail=cond["message"])
        return cond
    cond = _condition(
        old_status,
        "Progressing",
        "True",
        "ReplicaSetUpdated",
        f'ReplicaSet "{name}" is progressing.',
        sb,
    )
    cond["lastUpdateTime"] = started
    return cond


def _condition(old_status: dict, ctype: str, status: str, reason: str, message: str, sb) -> dict:
    prev = next((c for c in old_status.get("conditions", []) if c["type"] == ctype), None)
    now = sb.iso()
    if prev and prev["status"] == status and prev["reason"] == reason:
        return {**prev, "message": message}
    transition = prev["lastTransitionTime"] if prev and prev["status"] == status else now
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": transition,
    }


def _workload_key(dep: dict) -> str:
    return f"{dep['metadata']['namespace']}/{dep['metadata']['name']}"


# --- ReplicaSets ------------------------------------------------------------------------


def reconcile_rs(sb, rs: dict) -> None:
    pods = sb.store.pods_of(rs["metadata"]["uid"])
    want = rs["spec"].get("replicas", 1)
    if len(pods) < want:
        for _ in range(want - len(pods)):
            suffix = "".join(sb.rng.choice(builders.SAFE) for _ in range(5))
            pod = sb.store.create("pods", builders.pod(rs, suffix))
            _pod_created(sb, rs, pod)
            pods.append(pod)
            sb.emit(
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                source="replicaset-controller",
            )
    elif len(pods) > want:
        # Unscheduled first, then not ready, then the youngest: as the controller ranks them.
        ranked = sorted(
            pods,
            key=lambda p: (
                bool(p["spec"].get("nodeName")),
                _ready(p),
                p["metadata"]["creationTimestamp"],
            ),
            reverse=False,
        )
        for pod in ranked[: len(pods) - want]:
            delete_pod(sb, pod, reason="scale down")
            sb.emit(
                rs,
                "SuccessfulDelete",
                f"Deleted pod: {pod['metadata']['name']}",
                source="replicaset-controller",
            )
        pods = ranked[len(pods) - want :]
    ready = sum(1 for p in pods if _ready(p))
    status = {
        "replicas": len(pods),
        "fullyLabeledReplicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    if rs.get("status") != status:
        rs["status"] = status
        sb.store.update(REPLICASETS, rs)


def _pod_created(sb, rs: dict, pod: dict) -> None:
    owner = next(
        (r for r in rs["metadata"].get("ownerReferences", []) if r["kind"] == "Deployment"), None
    )
    workload = f"{rs['metadata']['namespace']}/{owner['name']}" if owner else ""
    rt = PodRt(
        uid=pod["metadata"]["uid"],
        namespace=pod["metadata"]["namespace"],
        name=pod["metadata"]["name"],
        workload=workload,
    )
    for c in pod["spec"]["containers"]:
        rt.containers[c["name"]] = ContainerRt(name=c["name"], image=c["image"])
    sb.runtime[rt.uid] = rt
    sb.unscheduled.add((rt.namespace, rt.name))
    render_pod(sb, rt, pod)


def delete_pod(sb, pod: dict, *, reason: str) -> None:
    meta = pod["metadata"]
    sb.unscheduled.discard((meta["namespace"], meta["name"]))
    rt = sb.runtime.pop(meta["uid"], None)
    if rt is not None:
        for c in rt.containers.values():
            c.gen += 1  # cancels its pending timers
    sb.store.delete("pods", meta["namespace"], meta["name"])
    if pod["spec"].get("nodeName"):
        sb.emit(pod, "Killing", f"Stopping container {pod['spec']['containers'][0]['name']}")


# --- Scheduler --------------------------------------------------------------------------


def _requests(pod: dict) -> tuple[int, int]:
    cpu = mem = 0
    for c in pod["spec"]["containers"]:
        req = c.get("resources", {}).get("requests", {})
        cpu += cpu_millis(req.get("cpu", 0))
        mem += memory_bytes(req.get("memory", 0))
    return cpu, mem


def _tolerates(pod: dict, taints: list[dict]) -> bool:
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


def _unbound_claim(sb, pod: dict) -> str:
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
        if p["spec"].get("nodeName") in used:
            cpu, mem = _requests(p)
            used[p["spec"]["nodeName"]][0] += cpu
            used[p["spec"]["nodeName"]][1] += mem
    for pod in pending:
        _schedule_one(sb, pod, nodes, used)


def _schedule_one(sb, pod: dict, nodes: list[dict], used: dict) -> None:
    claim = _unbound_claim(sb, pod)
    cpu, mem = _requests(pod)
    fits, reasons = [], defaultdict(int)
    for node in nodes:
        name = node["metadata"]["name"]
        if claim:
            break
        if not sb.node_ready.get(name, False):
            reasons["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"] += 1
        elif node["spec"].get("unschedulable"):
            reasons["node(s) were unschedulable"] += 1
        elif not _tolerates(pod, node["spec"].get("taints", [])):
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
        _set_condition(pod, "PodScheduled", "False", "Unschedulable", msg, sb)
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
            _pull(sb, rt, c)
        render_pod(sb, rt, pod)


def _pull(sb, rt: PodRt, c: ContainerRt) -> None:
    c.gen += 1
    pod = sb.pod_obj(rt)
    if pod is not None:
        sb.emit(pod, "Pulling", f'Pulling image "{c.image}"')
    sb.after(2 + sb.rng.random() * 3, "container", rt.uid, c.name, c.gen, "start")


# --- Kubelet: container lifecycle ---------------------------------------------------------


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
    was_ready = _ready(pod)
    {"start": _start, "ready": _become_ready, "crash": _crash, "oom": _oom}[action](sb, rt, c, pod)
    render_pod(sb, rt, pod)
    if _ready(pod) != was_ready:  # availability changed: let the rollout move now
        reconcile_owner(sb, pod)


def reconcile_owner(sb, pod: dict) -> None:
    for ref in pod["metadata"].get("ownerReferences", []):
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


def _start(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    c.gen += 1
    if kubelet.image_unpullable(c.image):
        first = c.reason not in ("ErrImagePull", "ImagePullBackOff")
        c.state, c.reason = "waiting", "ErrImagePull" if first else "ImagePullBackOff"
        c.message = f'Back-off pulling image "{c.image}"'
        c.backoff += 1
        sb.emit(
            pod,
            "Failed",
            f'Failed to pull image "{c.image}": rpc error: code = '
            "NotFound desc = failed to pull and unpack image: not found",
            "Warning",
        )
        sb.emit(pod, "BackOff", f'Back-off pulling image "{c.image}"', "Normal")
        if first:
            sb.record_failure("ImagePullBackOff", pod=rt)
        sb.after(kubelet.backoff_seconds(c.backoff), "container", rt.uid, c.name, c.gen, "start")
        return
    if c.restarts == 0 and c.started_at is None:
        sb.emit(pod, "Pulled", f'Successfully pulled image "{c.image}"')
    sb.emit(pod, "Created", f"Created container {c.name}")
    sb.emit(pod, "Started", f"Started container {c.name}")
    c.state, c.reason, c.message, c.started_at, c.ready = "running", "", "", sb.now, False
    profile = sb.profile_for(rt)
    sb.after(profile.startup_seconds, "container", rt.uid, c.name, c.gen, "ready")
    if (
        kubelet.image_broken(c.image)
        or profile.crash_on_start
        or (rt.failing_until and rt.failing_until > sb.now)
    ):
        sb.after(kubelet.CRASH_AFTER, "container", rt.uid, c.name, c.gen, "crash")
    schedule_oom(sb, rt, c, pod)


def schedule_oom(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    limit = sb.container_limit(pod, c.name, "memory")
    wait = kubelet.seconds_until_oom(
        sb.profile_for(rt), limit, c.started_at, sb.now, sb.mem_extra.get(rt.uid, 0.0)
    )
    if wait is not None:
        sb.after(wait, "container", rt.uid, c.name, c.gen, "oom")


def _become_ready(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    if c.state == "running":
        c.ready = sb.node_ready.get(rt.node, False)


def _terminate(sb, rt: PodRt, c: ContainerRt, pod: dict, reason: str, code: int) -> None:
    ran = (sb.now - c.started_at).total_seconds() if c.started_at else 0
    if ran > kubelet.BACKOFF_RESET:
        c.backoff = 0
    c.last_term = {
        "exitCode": code,
        "reason": reason,
        "startedAt": sb.iso(c.started_at),
        "finishedAt": sb.iso(),
        "containerID": f"containerd://{c.name}-{c.restarts}",
    }
    c.restarts += 1
    c.backoff += 1
    c.gen += 1
    c.ready = False
    delay = kubelet.backoff_seconds(c.backoff - 1)
    if delay:
        c.state, c.reason = "waiting", "CrashLoopBackOff"
        c.message = f"back-off {delay}s restarting failed container={c.name} pod={rt.name}"
        sb.emit(
            pod,
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {rt.name}",
            "Warning",
        )
        if c.backoff == 2:
            sb.record_failure("CrashLoopBackOff", pod=rt)
    else:
        c.state, c.reason = "waiting", "ContainerCreating"
    sb.after(delay or 1, "container", rt.uid, c.name, c.gen, "start")


def _crash(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    _terminate(sb, rt, c, pod, "Error", 1)


def _oom(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    node = sb.store.get(NODES, "", rt.node)
    if node is not None:
        sb.emit(
            node,
            "OOMKilling",
            f"Memory cgroup out of memory: Killed process "
            f"(container {c.name}) in pod {rt.namespace}/{rt.name}",
            "Warning",
            "kernel-monitor",
        )
    sb.record_failure("OOMKilled", pod=rt)
    _terminate(sb, rt, c, pod, "OOMKilled", 137)


def render_pod(sb, rt: PodRt, pod: dict) -> None:
    status = pod["status"]
    containers = list(rt.containers.values())
    running = [c for c in containers if c.state == "running"]
    ready = all(c.ready for c in containers)
    if rt.node:
        status["hostIP"] = _node_ip(sb, rt.node)
        status.setdefault("podIP", f"10.244.{sb.rng.randrange(255)}.{sb.rng.randrange(1, 255)}")
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        status.setdefault("startTime", sb.iso(rt.scheduled_at))
        _set_condition(pod, "PodScheduled", "True", None, None, sb)
        _set_condition(pod, "Initialized", "True", None, None, sb)
        status["phase"] = "Running" if running or any(c.restarts for c in containers) else "Pending"
        status["containerStatuses"] = [kubelet.container_status(c, {}, sb.iso) for c in containers]
        reason = None if ready else "ContainersNotReady"
        _set_condition(pod, "ContainersReady", "True" if ready else "False", reason, None, sb)
        _set_condition(pod, "Ready", "True" if ready else "False", reason, None, sb)
    sb.store.update(PODS, pod)


def _node_ip(sb, name: str) -> str:
    node = sb.store.get(NODES, "", name)
    return node["status"]["addresses"][0]["address"] if node else ""


def _set_condition(pod: dict, ctype: str, status: str, reason, message, sb) -> None:
    conds = pod["status"].setdefault("conditions", [])
    prev = next((c for c in conds if c["type"] == ctype), None)
    if (
        prev
        and prev["status"] == status
        and prev.get("reason") == reason
        and (message is None or prev.get("message") == message)
    ):
        return
    new = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": sb.iso()}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    if prev:
        conds[conds.index(prev)] = new
    else:
        conds.append(new)


# --- Nodes ------------------------------------------------------------------------------


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


def evict_unready_node(sb, name: str) -> None:
    if sb.node_ready.get(name, True):
        return
    for pod in [p for p in sb.store.list(PODS) if p["spec"].get("nodeName") == name]:
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


# --- HPA and PDB ------------------------------------------------------------------------


def _cpu_target(hpa: dict) -> int | None:
    for m in hpa["spec"].get("metrics") or []:
        res = m.get("resource") or {}
        target = res.get("target") or {}
        if (
            m.get("type") == "Resource"
            and res.get("name") == "cpu"
            and (target.get("type") == "Utilization")
        ):
            return target.get("averageUtilization")
    return None


def hpa_pass(sb) -> None:
    from .metrics import pod_cpu_m

    for hpa in sb.store.list("autoscaling/horizontalpodautoscalers"):
        ref = hpa["spec"]["scaleTargetRef"]
        dep = sb.store.get(DEPLOYMENTS, hpa["metadata"]["namespace"], ref["name"])
        if dep is None:
            continue
        target = _cpu_target(hpa)
        if target is None:
            continue  # only CPU utilisation targets are simulated; others hold their size
        selector = selector_from_match(dep["spec"]["selector"])
        pods = [
            p
            for p in sb.store.list(PODS, dep["metadata"]["namespace"])
            if selector.matches(p["metadata"].get("labels", {})) and _ready(p)
        ]
        if not pods:
            continue
        util = []
        for p in pods:
            req = _requests(p)[0] or 1
            util.append(100 * pod_cpu_m(sb, p) / req)
        current = sum(util) / len(util)
        replicas = dep["spec"]["replicas"]
        want = (
            math.ceil(replicas * current / target) if abs(current / target - 1) > 0.1 else replicas
        )
        want = max(hpa["spec"].get("minReplicas", 1), min(hpa["spec"]["maxReplicas"], want))
        if want != replicas:
            dep["spec"]["replicas"] = want
            sb.store.update(DEPLOYMENTS, dep, spec_changed=True)
            sb.emit(
                hpa,
                "SuccessfulRescale",
                f"New size: {want}; reason: cpu resource "
                "utilization (percentage of request) above target"
                if want > replicas
                else f"New size: {want}; reason: All metrics below target",
                source="horizontal-pod-autoscaler",
            )
        limited = want >= hpa["spec"]["maxReplicas"] and current > target
        status = {
            "currentReplicas": replicas,
            "desiredReplicas": want,
            "lastScaleTime": hpa["status"].get("lastScaleTime"),
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": round(current)}},
                }
            ],
            "conditions": [
                {
                    "type": "ScalingLimited",
                    "status": "True" if limited else "False",
                    "reason": "TooManyReplicas" if limited else "DesiredWithinRange",
                    "lastTransitionTime": sb.iso(),
                }
            ],
        }
        if want != replicas:
            status["lastScaleTime"] = sb.iso()
        if {k: v for k, v in status.items() if k != "conditions"} != {
            k: v for k, v in hpa["status"].items() if k != "conditions"
        }:
            hpa["status"] = status
            sb.store.update("autoscaling/horizontalpodautoscalers", hpa)


def pdb_allowed(sb, pdb: dict) -> tuple[int, int, int, int]:
    """(disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods)."""
    if pdb["spec"].get("selector") is None:
        return 0, 0, 0, 0  # policy/v1: a budget without a selector selects no pods
    selector = selector_from_match(pdb["spec"]["selector"])
    pods = [
        p
        for p in sb.store.list(PODS, pdb["metadata"]["namespace"])
        if selector.matches(p["metadata"].get("labels", {}))
    ]
    healthy = sum(1 for p in pods if _ready(p))
    expected = len(pods)
    if "minAvailable" in pdb["spec"]:
        desired = _percent(pdb["spec"]["minAvailable"], expected, True)
    else:
        desired = expected - _percent(pdb["spec"].get("maxUnavailable", 1), expected, False)
    return max(0, healthy - desired), healthy, desired, expected


def pdb_status(sb) -> None:
    for pdb in sb.store.list("policy/poddisruptionbudgets"):
        allowed, healthy, desired, expected = pdb_allowed(sb, pdb)
        status = {
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "observedGeneration": pdb["metadata"].get("generation", 1),
        }
        if {k: pdb["status"].get(k) for k in status} != status:
            pdb["status"] = {**pdb["status"], **status}
            sb.store.update("policy/poddisruptionbudgets", pdb)


def adopt_bare_pod(sb, pod: dict) -> None:
    """A pod created directly through the API: the kubelet runs it like any other."""
    pod.setdefault("status", {}).setdefault("phase", "Pending")
    rt = PodRt(
        uid=pod["metadata"]["uid"],
        namespace=pod["metadata"]["namespace"],
        name=pod["metadata"]["name"],
        workload="",
    )
    for c in pod["spec"]["containers"]:
        rt.containers[c["name"]] = ContainerRt(name=c["name"], image=c["image"])
    sb.runtime[rt.uid] = rt
    if not pod["spec"].get("nodeName"):
        sb.unscheduled.add((rt.namespace, rt.name))
    if pod["spec"].get("nodeName"):
        rt.node, rt.scheduled_at = pod["spec"]["nodeName"], sb.now
        for c in rt.containers.values():
            _pull(sb, rt, c)
        render_pod(sb, rt, pod)
    else:
        schedule_pending(sb)
