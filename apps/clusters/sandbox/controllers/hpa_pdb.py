"""The horizontal pod autoscaler and the status of pod disruption budgets."""

import math

from ..metrics import pod_cpu_m
from ..selectors import selector_from_match
from .common import DEPLOYMENTS, PODS, percent, pod_ready
from .scheduler import pod_requests


def cpu_target(hpa: dict) -> int | None:
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
    for hpa in sb.store.list("autoscaling/horizontalpodautoscalers"):
        ref = hpa["spec"]["scaleTargetRef"]
        dep = sb.store.get(DEPLOYMENTS, hpa["metadata"]["namespace"], ref["name"])
        if dep is None:
            continue
        target = cpu_target(hpa)
        if target is None:
            continue  # only CPU utilisation targets are simulated; others hold their size
        selector = selector_from_match(dep["spec"]["selector"])
        pods = [
            p
            for p in sb.store.list(PODS, dep["metadata"]["namespace"])
            if selector.matches(p["metadata"].get("labels", {})) and pod_ready(p)
        ]
        if not pods:
            continue
        util = []
        for p in pods:
            req = pod_requests(p)[0] or 1
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
        and not p["metadata"].get("deletionTimestamp")  # going away: neither healthy nor due
    ]
    healthy = sum(1 for p in pods if pod_ready(p))
    expected = len(pods)
    if "minAvailable" in pdb["spec"]:
        desired = percent(pdb["spec"]["minAvailable"], expected, True)
    else:
        desired = expected - percent(pdb["spec"].get("maxUnavailable", 1), expected, False)
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
