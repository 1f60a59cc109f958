"""Faults a scenario injects at set times, and Chaos Mesh objects taking effect."""

import dataclasses
import json
from datetime import timedelta

from ..quantity import cpu_millis, memory_bytes
from . import builders, controllers
from .scenario import duration
from .selectors import selector_from_match

DEPLOYMENTS = "apps/deployments"


def node_down(sb, name: str) -> bool:
    """The node's kubelet stops reporting: NotReady, its pods unready, and evicted after the
    pods' default toleration of 300 s. False if there is no such node or it is already down."""
    node = sb.store.get("nodes", "", name)
    if node is None or not sb.node_ready.get(name, True):
        return False
    controllers.node_status(sb, node, ready=False)
    sb.emit(
        node,
        "NodeNotReady",
        f"Node {name} status is now: NodeNotReady",
        "Normal",
        "node-controller",
    )
    sb.record_failure("NotReady", node=name)
    controllers.lose_kubelet(sb, name)
    sb.after(300, "evict_node", name)  # the pods' default toleration
    return True


def node_up(sb, name: str) -> None:
    node = sb.store.get("nodes", "", name)
    if node is not None:
        controllers.node_status(sb, node, ready=True)
        sb.emit(node, "NodeReady", f"Node {name} status is now: NodeReady", "Normal", "kubelet")


def _deployment(sb, target: str) -> dict | None:
    ns, _, name = target.partition("/")
    return sb.store.get(DEPLOYMENTS, ns, name)


def _set_image(sb, dep: dict, image: str) -> None:
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
    sb.store.update(DEPLOYMENTS, dep, spec_changed=True)
    controllers.reconcile_deployment(sb, dep)


def inject(sb, fault) -> None:
    """Apply one scenario fault now. Its ground truth is the scenario file itself."""
    p = fault.params
    if fault.kind == "node_not_ready":
        if node_down(sb, fault.target) and "duration" in p:
            sb.after(duration(p["duration"]).total_seconds(), "restore", fault.kind, fault.target)
        return
    profile = sb.profiles.get(fault.target)
    dep = _deployment(sb, fault.target)
    if profile is None or dep is None:
        return
    if fault.kind == "memory_leak":
        profile.leak_bytes_per_s = memory_bytes(p.get("leak_per_hour", "512Mi")) / 3600
        profile.leak_since = sb.now
        _reschedule_ooms(sb, fault.target)
    elif fault.kind in ("bad_rollout", "image_pull_failure"):
        _set_image(sb, dep, p["image"])
    elif fault.kind == "crash_loop":
        profile.crash_on_start = True
        dep["spec"]["template"]["metadata"].setdefault("annotations", {})[
            "sandbox.zerotouch.dev/config"
        ] = p.get("config", "broken")
        sb.store.update(DEPLOYMENTS, dep, spec_changed=True)
        controllers.reconcile_deployment(sb, dep)
    elif fault.kind == "cpu_saturation":
        profile.ramp_from = sb.now
        profile.ramp_seconds = duration(p.get("ramp", "30m")).total_seconds()
        profile.ramp_to = float(p.get("factor", 3))
        _saturation_at(sb, dep, profile, fault.target)
    elif fault.kind == "noisy_neighbour":
        profile.cpu_factor = float(p.get("factor", 6))
        sb.record_failure(
            "Saturated",
            workload=fault.target,
            detail=f"CPU demand {profile.cpu_factor:g}x: its nodes run hot",
        )
    elif fault.kind == "unbound_pvc":
        w = next(w for w in sb.scenario.workloads if f"{w.namespace}/{w.name}" == fault.target)
        claim = p.get("claim") or f"{(w.pvc or {}).get('name', 'data')}-v2"
        spec = {**(w.pvc or {}), "name": claim, "storage_class": "does-not-exist"}
        pvc = sb.store.create(
            "persistentvolumeclaims", builders.pvc(dataclasses.replace(w, pvc=spec), bound=False)
        )
        sb.emit(
            pvc,
            "ProvisioningFailed",
            'storageclass.storage.k8s.io "does-not-exist" not found',
            "Warning",
            "persistentvolume-controller",
        )
        template = dep["spec"]["template"]
        template["spec"]["volumes"] = [
            {"name": "data", "persistentVolumeClaim": {"claimName": claim}}
        ]
        sb.store.update(DEPLOYMENTS, dep, spec_changed=True)
        controllers.reconcile_deployment(sb, dep)
    if "duration" in p:
        sb.after(duration(p["duration"]).total_seconds(), "restore", fault.kind, fault.target)


def _saturation_at(sb, dep: dict, profile, target: str) -> None:
    """Ground truth: when the ramping demand reaches the CPU limit (throttling starts)."""
    limit = (
        dep["spec"]["template"]["spec"]["containers"][0]
        .get("resources", {})
        .get("limits", {})
        .get("cpu")
    )
    if limit is None:
        return
    need = cpu_millis(limit) / max(profile.cpu_m, 1)  # the factor at which demand = limit
    if need >= profile.ramp_to:
        return
    share = max(0.0, (need - profile.cpu_factor) / (profile.ramp_to - profile.cpu_factor))
    sb.after(share * profile.ramp_seconds, "saturated", target)


def restore(sb, kind: str, target: str) -> None:
    if kind == "node_not_ready":
        node_up(sb, target)
        return
    profile = sb.profiles.get(target)
    if profile is None:
        return
    if kind == "memory_leak":
        profile.leak_bytes_per_s = 0
        _reschedule_ooms(sb, target)  # cancels the OOM kills the leak had scheduled
    elif kind in ("cpu_saturation", "noisy_neighbour"):
        profile.cpu_factor, profile.ramp_from, profile.ramp_to = 1.0, None, 1.0


def _reschedule_ooms(sb, workload: str = "", uids: set[str] | None = None) -> None:
    for rt in list(sb.runtime.values()):
        if (uids is None and rt.workload != workload) or (uids is not None and rt.uid not in uids):
            continue
        pod = sb.pod_obj(rt)
        for c in rt.containers.values():
            if pod is not None and c.state == "running":
                c.gen += 1  # the old readiness timer is superseded too: become ready again
                sb.after(0, "container", rt.uid, c.name, c.gen, "ready")
                controllers.schedule_oom(sb, rt, c, pod)


# --- Chaos Mesh --------------------------------------------------------------------------


def _chaos_targets(sb, obj: dict) -> list[dict]:
    sel = obj["spec"].get("selector", {})
    namespaces = sel.get("namespaces") or [obj["metadata"]["namespace"]]
    matcher = selector_from_match({"matchLabels": sel.get("labelSelectors", {})})
    pods = [
        p
        for ns in namespaces
        for p in sb.store.list("pods", ns)
        if matcher.matches(p["metadata"].get("labels", {}))
        and p["spec"].get("nodeName")
        and not p["metadata"].get("deletionTimestamp")  # already going
    ]
    mode, value = obj["spec"].get("mode", "one"), obj["spec"].get("value", "1")
    if mode == "all":
        return pods
    if mode == "fixed":
        return pods[: int(value)]
    if mode == "fixed-percent":
        return pods[: max(1, len(pods) * int(value) // 100)]
    return pods[:1]


def chaos_start(sb, key: str, obj: dict) -> None:
    """A Chaos Mesh object was created: apply it and schedule its end."""
    kind, spec = obj["kind"], obj["spec"]
    ends = duration(spec.get("duration", "30s")).total_seconds()
    if kind == "NodeChaos":
        _node_chaos_start(sb, key, obj, ends)
        return
    targets = _chaos_targets(sb, obj)
    effects: dict[str, dict[str, float]] = {}  # workload -> what this object adds to it
    for pod in targets:
        uid = pod["metadata"]["uid"]
        if kind == "PodChaos" and spec.get("action") == "pod-kill":
            controllers.delete_pod(sb, pod, reason="chaos")
            controllers.reconcile_owner(sb, pod)  # its ReplicaSet replaces it, as on a cluster
        elif kind == "PodChaos" and spec.get("action") == "container-kill":
            rt = sb.runtime.get(uid)  # the named containers die once; the kubelet restarts them
            names = set(spec.get("containerNames") or [])
            for c in rt.containers.values() if rt is not None else ():
                if c.state == "running" and (not names or c.name in names):
                    c.gen += 1
                    sb.after(0, "container", uid, c.name, c.gen, "crash")
        elif kind == "PodChaos":  # pod-failure: its containers fail for the whole duration
            rt = sb.runtime.get(uid)
            if rt is not None:
                rt.failing_until = sb.now + timedelta(seconds=ends)
                for c in rt.containers.values():
                    if c.state == "running":
                        c.gen += 1
                        sb.after(0, "container", uid, c.name, c.gen, "crash")
        elif kind == "StressChaos":
            stress = spec.get("stressors", {})
            if "cpu" in stress:
                sb.cpu_extra[uid] += (
                    1000
                    * int(stress["cpu"].get("workers", 1))
                    * int(stress["cpu"].get("load", 100))
                    / 100
                )
            if "memory" in stress:
                sb.mem_extra[uid] += memory_bytes(stress["memory"].get("size", "256Mi"))
                _reschedule_ooms(sb, uids={uid})  # past its limit now: OOM-killed
        elif kind == "NetworkChaos":
            rt = sb.runtime.get(uid)
            if rt is not None and rt.workload:
                _add(effects, rt.workload, _network_effect(sb, rt.workload, spec))
    obj["status"] = {
        "experiment": {
            "desiredPhase": "Run",
            "containerRecords": [
                {
                    "id": f"{p['metadata']['namespace']}/{p['metadata']['name']}",
                    "phase": "Injected",
                    "injectedCount": 1,
                    "recoveredCount": 0,
                }
                for p in targets
            ],
        },
        "conditions": [
            {"type": "AllInjected", "status": "True"},
            {"type": "Selected", "status": "True" if targets else "False"},
        ],
    }
    annotations = obj["metadata"].setdefault("annotations", {})
    annotations["sandbox.zerotouch.dev/targets"] = ",".join(p["metadata"]["uid"] for p in targets)
    annotations[EFFECTS] = json.dumps(effects, sort_keys=True)
    _apply(sb, effects, +1)
    sb.store.update(key, obj)
    sb.after(ends, "chaos_end", key, obj["metadata"]["namespace"], obj["metadata"]["name"])


EFFECTS = "sandbox.zerotouch.dev/effects"
NODE_TAKEN = "sandbox.zerotouch.dev/took-node-down"


def _node_chaos_start(sb, key: str, obj: dict, ends: float) -> None:
    """The sandbox's NodeChaos: its node NotReady for the duration. A node already down (a
    scenario's fault, another object) is left to whatever took it down: the object's end
    brings back only a node it took down itself."""
    name = obj["spec"].get("nodeName", "")
    took = node_down(sb, name)
    obj["metadata"].setdefault("annotations", {})[NODE_TAKEN] = "true" if took else "false"
    obj["status"] = {
        "experiment": {
            "desiredPhase": "Run",
            "containerRecords": [
                {
                    "id": name,
                    "phase": "Injected" if took else "NotInjected",
                    "injectedCount": int(took),
                    "recoveredCount": 0,
                }
            ],
        },
        "conditions": [
            {"type": "AllInjected", "status": "True" if took else "False"},
            {"type": "Selected", "status": "True" if sb.store.get("nodes", "", name) else "False"},
        ],
    }
    sb.store.update(key, obj)
    sb.after(ends, "chaos_end", key, "", obj["metadata"]["name"])


def _network_effect(sb, workload: str, spec: dict) -> dict[str, float]:
    """What a NetworkChaos on one pod of `workload` does to it: a delay adds to its latency;
    loss and a partition drop that pod's share of the workload's packets."""
    action = spec.get("action", "delay")
    if action == "delay":
        return {"latency": duration_ms(spec.get("delay", {}).get("latency", "100ms")) / 1000}
    pods = max(1, sum(1 for rt in sb.runtime.values() if rt.workload == workload))
    dropped = 1.0 if action == "partition" else float(spec.get("loss", {}).get("loss", 0)) / 100
    return {"loss": dropped / pods}


def _add(effects: dict, workload: str, effect: dict[str, float]) -> None:
    mine = effects.setdefault(workload, {})
    for name, amount in effect.items():
        mine[name] = mine.get(name, 0.0) + amount


def _apply(sb, effects: dict, sign: int) -> None:
    """Add (sign +1) or take back (-1) an object's effects, recorded on the object itself so
    its end takes back exactly what its start added, whatever became of its pods."""
    for workload, effect in effects.items():
        if "latency" in effect:
            sb.latency_extra[workload] = max(
                0.0, sb.latency_extra[workload] + sign * effect["latency"]
            )
        if "loss" in effect:
            sb.packet_loss[workload] = min(
                1.0, max(0.0, sb.packet_loss[workload] + sign * effect["loss"])
            )


def duration_ms(text: str) -> float:
    text = str(text)
    if text.endswith("ms"):
        return float(text[:-2])
    return duration(text).total_seconds() * 1000


def chaos_end(sb, key: str, ns: str, name: str, obj: dict | None = None) -> None:
    obj = obj or sb.store.get(key, ns, name)
    if obj is None or obj.get("status", {}).get("experiment", {}).get("desiredPhase") == "Stop":
        return
    uids = [
        u
        for u in obj["metadata"]
        .get("annotations", {})
        .get("sandbox.zerotouch.dev/targets", "")
        .split(",")
        if u
    ]
    if (
        obj["kind"] == "NodeChaos"
        and obj["metadata"].get("annotations", {}).get(NODE_TAKEN) == "true"
    ):
        node_up(sb, obj["spec"].get("nodeName", ""))
    for uid in uids:
        if obj["kind"] == "StressChaos":
            sb.cpu_extra.pop(uid, None)
            if sb.mem_extra.pop(uid, None):
                _reschedule_ooms(sb, uids={uid})  # the OOM kill it had scheduled is called off
        rt = sb.runtime.get(uid)
        if rt is not None:
            rt.failing_until = None
    _apply(sb, json.loads(obj["metadata"].get("annotations", {}).get(EFFECTS, "{}")), -1)
    obj["status"]["experiment"]["desiredPhase"] = "Stop"
    for rec in obj["status"]["experiment"]["containerRecords"]:
        rec["phase"], rec["recoveredCount"] = "Recovered", 1
    if sb.store.get(key, ns, name) is not None:
        sb.store.update(key, obj)
