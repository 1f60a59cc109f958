"""The deployment controller (rolling updates, status, conditions) and the replica-set
controller."""

from datetime import timedelta

from .. import builders
from .common import DEPLOYMENTS, REPLICASETS, percent, pod_ready, random_suffix
from .containers import admit_pod, delete_pod


class Owned:
    """pods_by_owner[uid] for the store's owner index."""

    def __init__(self, store):
        self.store = store

    def get(self, uid: str, default=None) -> list[dict]:
        return self.store.pods_of(uid)


# --- Deployments ------------------------------------------------------------------------


def owned_replica_sets(sb, dep: dict) -> list[dict]:
    uid = dep["metadata"]["uid"]
    return [
        rs
        for rs in sb.store.list(REPLICASETS, dep["metadata"]["namespace"])
        if any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences", []))
    ]


def rs_revision(rs: dict) -> int:
    return int(rs["metadata"].get("annotations", {}).get(builders.REVISION, "0"))


def reconcile_deployment(sb, dep: dict) -> None:
    pods_by_owner = Owned(sb.store)
    spec = dep["spec"]
    owned = owned_replica_sets(sb, dep)
    h = builders.template_hash(spec["template"])
    new = next((rs for rs in owned if rs["metadata"]["labels"].get("pod-template-hash") == h), None)
    top = max((rs_revision(rs) for rs in owned), default=0)
    if new is None:
        new = sb.store.create(REPLICASETS, builders.replica_set(dep, spec["template"], top + 1))
        sb.emit(
            dep,
            "ScalingReplicaSet",
            f"Scaled up replica set {new['metadata']['name']} to {min(spec.get('replicas', 1), 1)}",
            source="deployment-controller",
        )
        owned.append(new)
    elif rs_revision(new) < top:  # rolled back to an older template: it becomes the newest
        new["metadata"]["annotations"][builders.REVISION] = str(top + 1)
        sb.store.update(REPLICASETS, new)
    old = [rs for rs in owned if rs is not new]
    desired = spec.get("replicas", 1)
    roll(sb, dep, new, old, desired, pods_by_owner)
    for rs in owned:
        reconcile_rs(sb, rs)
    deployment_status(sb, dep, new, owned, desired, pods_by_owner)


def available_replicas(rs: dict, pods_by_owner: dict) -> int:
    return sum(1 for p in pods_by_owner.get(rs["metadata"]["uid"], []) if pod_ready(p))


def set_replicas(sb, dep: dict, rs: dict, n: int) -> None:
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


def roll(sb, dep, new, old, desired, pods_by_owner) -> None:
    """A RollingUpdate: surge the new set, retire old pods only as new ones become ready."""
    strategy = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    surge = percent(strategy.get("maxSurge", "25%"), desired, True)
    unavailable = percent(strategy.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    old_live = [rs for rs in old if rs["spec"]["replicas"] > 0]
    if not old_live:
        set_replicas(sb, dep, new, desired)
        return
    total = new["spec"]["replicas"] + sum(rs["spec"]["replicas"] for rs in old_live)
    room = desired + surge - total
    if new["spec"]["replicas"] < desired and room > 0:
        set_replicas(sb, dep, new, min(desired, new["spec"]["replicas"] + room))
    available = available_replicas(new, pods_by_owner) + sum(
        available_replicas(rs, pods_by_owner) for rs in old_live
    )
    can_remove = available - (desired - unavailable)
    for rs in sorted(old_live, key=rs_revision):
        # Old pods that are not ready never count toward availability: drop them first.
        broken = rs["spec"]["replicas"] - available_replicas(rs, pods_by_owner)
        remove = min(rs["spec"]["replicas"], max(0, can_remove) + max(0, broken))
        if remove > 0:
            set_replicas(sb, dep, rs, rs["spec"]["replicas"] - remove)
            can_remove -= max(0, remove - max(0, broken))


def deployment_status(sb, dep, new, owned, desired, pods_by_owner) -> None:
    pods = [p for rs in owned for p in pods_by_owner.get(rs["metadata"]["uid"], [])]
    new_pods = pods_by_owner.get(new["metadata"]["uid"], [])
    ready = sum(1 for p in pods if pod_ready(p))
    updated = len(new_pods)
    strategy = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    min_avail = desired - percent(strategy.get("maxUnavailable", "25%"), desired, False)
    complete = updated == desired and len(pods) == desired and ready >= desired
    old = dep.get("status", {})
    progressed = updated > old.get("updatedReplicas", 0) or ready > old.get("availableReplicas", 0)
    progressing = progressing_condition(sb, dep, new, complete, old, progressed)
    status = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(0, desired - ready),
        "conditions": [
            deployment_condition(
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


def progressing_condition(sb, dep, new, complete, old_status, progressed: bool) -> dict:
    name = new["metadata"]["name"]
    prev = next((c for c in old_status.get("conditions", []) if c["type"] == "Progressing"), None)
    deadline = dep["spec"].get("progressDeadlineSeconds", 600)
    if complete:
        return deployment_condition(
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
        cond = deployment_condition(
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
        sb.record_failure("Unavailable", workload=workload_key(dep), detail=cond["message"])
        return cond
    cond = deployment_condition(
        old_status,
        "Progressing",
        "True",
        "ReplicaSetUpdated",
        f'ReplicaSet "{name}" is progressing.',
        sb,
    )
    cond["lastUpdateTime"] = started
    return cond


def deployment_condition(
    old_status: dict, ctype: str, status: str, reason: str, message: str, sb
) -> dict:
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


def workload_key(dep: dict) -> str:
    return f"{dep['metadata']['namespace']}/{dep['metadata']['name']}"


# --- ReplicaSets ------------------------------------------------------------------------


def reconcile_rs(sb, rs: dict) -> None:
    pods = sb.store.pods_of(rs["metadata"]["uid"])
    want = rs["spec"].get("replicas", 1)
    if len(pods) < want:
        for _ in range(want - len(pods)):
            pod = sb.store.create("pods", builders.pod(rs, random_suffix(sb)))
            pod_created(sb, rs, pod)
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
                pod_ready(p),
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
    ready = sum(1 for p in pods if pod_ready(p))
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


def pod_created(sb, rs: dict, pod: dict) -> None:
    owner = next(
        (r for r in rs["metadata"].get("ownerReferences", []) if r["kind"] == "Deployment"), None
    )
    workload = f"{rs['metadata']['namespace']}/{owner['name']}" if owner else ""
    admit_pod(sb, pod, workload)
