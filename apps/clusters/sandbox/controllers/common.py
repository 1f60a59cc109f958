"""What every controller shares: the store keys, pod readiness, percentages of a total,
generated name suffixes."""

import math

from .. import builders

DEPLOYMENTS, REPLICASETS, PODS, NODES = "apps/deployments", "apps/replicasets", "pods", "nodes"
JOBS = "batch/jobs"


def pod_ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def terminal(pod: dict) -> bool:
    """Succeeded or Failed: its containers exited for good and hold no resources."""
    return pod["status"].get("phase") in ("Succeeded", "Failed")


def random_suffix(sb) -> str:
    """The 5 characters a controller appends to a pod's name (deterministic for a seed)."""
    return "".join(sb.rng.choice(builders.SAFE) for _ in range(5))


def percent(value, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = total * int(value[:-1]) / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value)
