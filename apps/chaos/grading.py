"""Grading the self-healer on a chaos run: did ZeroTouch notice (MTTD), name the right cause,
fix it (and who approved), did service recover (MTTR), and did steady state hold. Pure: the
run's facts and the incidents about its workload in, a grade out.

What a good self-healer does depends on the fault. Some faults Kubernetes absorbs by itself (a
killed pod is replaced, a killed container restarted): the right answer is to do nothing, and
an incident or a fix is noise. Others are failures ZeroTouch should see and name: pods that keep
failing, memory stress that OOM-kills, CPU stress that throttles. Network faults degrade a
service without breaking a pod: the probes judge them; an anomaly incident is a bonus, never
a miss.

The resilience score of a run (0-100): steady state held during the fault (not aborted by a
probe) 40, steady state holds after it 30, and the self-healer 30 — for a fault it should see:
detected 10, right cause 10, recovered 10; for a fault it should leave alone: 30 for doing
nothing, 15 for an incident without a fix, 0 for changing something.
"""

from dataclasses import dataclass
from datetime import datetime

from .faults import Fault


@dataclass(frozen=True)
class Expected:
    incident: bool | None  # True: should be seen; False: should be left alone; None: optional
    causes: frozenset[str]  # the right causes when an incident opens
    says: str


EXPECTED: dict[Fault, Expected] = {
    Fault.POD_KILL: Expected(
        False, frozenset(), "Kubernetes replaces the pod by itself; ZeroTouch should do nothing"
    ),
    Fault.CONTAINER_KILL: Expected(
        False, frozenset(), "the kubelet restarts the container; ZeroTouch should do nothing"
    ),
    Fault.POD_FAILURE: Expected(
        True,
        frozenset({"crash_loop", "readiness", "config_error", "bad_rollout"}),
        "pods keep failing: an incident naming the failing pods",
    ),
    Fault.MEMORY_STRESS: Expected(
        True,
        frozenset({"memory_undersized", "memory_leak", "predicted_oom"}),
        "memory past the limit is OOM-killed: an incident about memory",
    ),
    Fault.CPU_STRESS: Expected(
        True,
        frozenset({"saturation", "predicted_saturation", "autoscaler_maxed"}),
        "CPU at the limit throttles: a saturation incident",
    ),
    Fault.NODE_DRAIN: Expected(
        False,
        frozenset(),
        "the evicted pods are rescheduled on other nodes; ZeroTouch should do nothing",
    ),
    Fault.NODE_NOT_READY: Expected(
        True,
        frozenset({"node_failure"}),
        "a node stops reporting: an incident naming the node (and, if it stays NotReady, its "
        "drain proposed)",
    ),
    Fault.NETWORK_DELAY: Expected(
        None, frozenset({"anomaly"}), "latency rises; the probes judge it, an anomaly is a bonus"
    ),
    Fault.NETWORK_LOSS: Expected(
        None, frozenset({"anomaly"}), "errors rise; the probes judge it, an anomaly is a bonus"
    ),
    Fault.NETWORK_PARTITION: Expected(
        None,
        frozenset({"anomaly", "readiness"}),
        "the cut-off pods fail requests; the probes judge it",
    ),
}


def grade(
    *,
    fault: str,
    injected_at: datetime | None,
    aborted_by_probe: bool,
    steady_after: list[dict],
    incidents: list[dict],
) -> dict:
    """The grade of one run (see the module's docstring)."""
    expected = EXPECTED[Fault(fault)]
    first = incidents[0] if incidents else None
    fixes = [i["action"] for i in incidents if i.get("action")]
    after_holds = bool(steady_after) and all(r["ok"] for r in steady_after)
    out = {
        "expected": expected.says,
        "injected": injected_at is not None,
        "steady_state_held": injected_at is not None and not aborted_by_probe,
        "steady_state_after": after_holds,
        "detected": first is not None,
        "incident_id": first["id"] if first else None,
        "cause": first["cause"] if first else "",
        "right_cause": None,
        "mttd_seconds": None,
        "fix": fixes[0] if fixes else None,
        "mttr_seconds": None,
        "recovered": None,
    }
    if injected_at is None:
        return {**out, "score": None, "verdict": "nothing was injected: no grade", "final": True}
    if first is not None:
        out["mttd_seconds"] = max(0.0, (first["detected_at"] - injected_at).total_seconds())
        out["right_cause"] = first["cause"] in expected.causes
        end = first.get("recovered_at") or first.get("resolved_at")
        out["recovered"] = end is not None
        if end is not None:
            out["mttr_seconds"] = max(0.0, (end - first["detected_at"]).total_seconds())
    score = (40 if out["steady_state_held"] else 0) + (30 if after_holds else 0)
    score += _healer_points(expected, out)
    final = first is None or out["recovered"] or first["status"] in ("resolved", "escalated")
    return {**out, "score": score, "verdict": _verdict(expected, out), "final": bool(final)}


def _healer_points(expected: Expected, g: dict) -> int:
    if expected.incident is False:
        if not g["detected"]:
            return 30
        return 0 if g["fix"] else 15
    if expected.incident is None:
        return 30 if not g["fix"] or g["right_cause"] else 15
    return 10 * sum(bool(g[k]) for k in ("detected", "right_cause", "recovered"))


def _verdict(expected: Expected, g: dict) -> str:
    held = "steady state held" if g["steady_state_held"] else "steady state broke"
    if expected.incident is False:
        if not g["detected"]:
            return f"{held}; Kubernetes recovered by itself and ZeroTouch correctly did nothing"
        return f"{held}; ZeroTouch opened incident #{g['incident_id']} ({g['cause']}) " + (
            "and changed something it should have left alone" if g["fix"] else "(noise)"
        )
    if not g["detected"]:
        if expected.incident is None:
            return f"{held}; no incident (none needed: {expected.says})"
        return f"{held}; ZeroTouch did NOT notice ({expected.says})"
    parts = [f"{held}; incident #{g['incident_id']} after {g['mttd_seconds']:.0f} s"]
    parts.append("right cause" if g["right_cause"] else f"wrong cause ({g['cause']})")
    if g["fix"]:
        who = ", ".join(g["fix"]["approved_by"]) or "nobody yet"
        parts.append(f"fix {g['fix']['kind']} {g['fix']['status']} (approved by {who})")
    if g["recovered"]:
        parts.append(f"recovered after {g['mttr_seconds']:.0f} s")
    return "; ".join(parts)
