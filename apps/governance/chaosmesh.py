"""The Chaos Mesh object a chaos Action creates: its kind and spec, from the Action's checked
parameters. Pure, so the executor creates exactly what a dry run shows.

Every object carries its own `duration`: Chaos Mesh (and the sandbox) end the fault by
themselves even if ZeroTouch dies in the middle of an experiment.
"""

from .action_models import Kind

OBJECT_PREFIX = "zt-action-"  # the object's name: zt-action-<Action id>


def object_name(action_id: int) -> str:
    return f"{OBJECT_PREFIX}{action_id}"


def selector(namespace: str, target_name: str, parameters: dict) -> dict:
    """Chaos Mesh's pod selector: the namespace and the labels (the workload's `app` label
    unless the parameters narrow it)."""
    labels = parameters.get("selector") or {"app": target_name}
    return {"namespaces": [namespace], "labelSelectors": dict(labels)}


def chaos_object(kind: str, namespace: str, target_name: str, parameters: dict) -> tuple[str, dict]:
    """(Chaos Mesh kind, spec) for a chaos Action kind."""
    p = parameters
    if kind == Kind.CHAOS_NODE_NOT_READY:  # the sandbox's own: the node is the target
        return "NodeChaos", {"nodeName": target_name, "duration": p["duration"]}
    base = {
        "mode": p.get("mode", "one"),
        "selector": selector(namespace, target_name, p),
        "duration": p["duration"],
    }
    if p.get("value") is not None:
        base["value"] = str(p["value"])
    if kind == Kind.CHAOS_POD_KILL:
        return "PodChaos", {**base, "action": "pod-kill"}
    if kind == Kind.CHAOS_POD_FAILURE:
        return "PodChaos", {**base, "action": "pod-failure"}
    if kind == Kind.CHAOS_CONTAINER_KILL:
        return "PodChaos", {**base, "action": "container-kill", "containerNames": [p["container"]]}
    if kind == Kind.CHAOS_NETWORK_DELAY:
        delay = {"latency": p["latency"]}
        if p.get("jitter"):
            delay["jitter"] = p["jitter"]
        return "NetworkChaos", {**base, "action": "delay", "delay": delay}
    if kind == Kind.CHAOS_NETWORK_LOSS:
        return "NetworkChaos", {**base, "action": "loss", "loss": {"loss": str(p["loss"])}}
    if kind == Kind.CHAOS_NETWORK_PARTITION:
        return "NetworkChaos", {**base, "action": "partition", "direction": p["direction"]}
    if kind == Kind.CHAOS_STRESS:
        cpu = {"workers": p.get("workers", 1), "load": p.get("load", 80)}
        return "StressChaos", {**base, "stressors": {"cpu": cpu}}
    if kind == Kind.CHAOS_MEMORY_STRESS:
        memory = {"workers": p.get("workers", 1), "size": p.get("size", "256Mi")}
        return "StressChaos", {**base, "stressors": {"memory": memory}}
    raise ValueError(f"{kind} is not a chaos kind")
