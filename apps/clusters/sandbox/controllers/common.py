"""What every controller shares: the store keys, pod readiness, percentages of a total."""

import math

DEPLOYMENTS, REPLICASETS, PODS, NODES = "apps/deployments", "apps/replicasets", "pods", "nodes"


def _ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def _percent(value, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = total * int(value[:-1]) / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value)
