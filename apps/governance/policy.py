"""The approval policy and guard budgets: plain data and pure functions (no Django).

Rules live in the Policy table (editable by admins, audited); DEFAULT_RULES seeds it.
"""

import math
from dataclasses import dataclass
from datetime import datetime, time
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_RULES: dict = {
    # Auto-approval, when the mode is autonomous and auto_approve_low_severity is on.
    "auto_approve": {"severities": ["P3", "P4"], "risks": ["low"]},
    # Human approvers needed (never the requester); P1 needs two different people.
    "approvals_required": {"P1": 2, "P2": 1, "P3": 1, "P4": 1},
    "approval_ttl_minutes": 30,
    "budgets": {
        "actions_per_namespace_per_hour": 10,
        "concurrent_per_cluster": 3,
        "max_disruption_share": 0.25,  # of a workload's replicas at once; at least one pod
    },
    # N failed actions within M minutes halt automation on that cluster.
    "storm": {"failures": 3, "window_minutes": 10},
    # Change windows. Empty allow = any time; deny beats allow.
    # Each: {"days": ["mon", ...], "start": "09:00", "end": "17:00", "tz": "Europe/Berlin"}
    "windows": {"allow": [], "deny": []},
    "execution_timeout_seconds": 300,
    "verify_timeout_seconds": 120,
    "pdb_retry_seconds": 300,  # how long an eviction waits for a PodDisruptionBudget
}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class RulesError(ValueError):
    pass


def validate(rules: dict) -> dict:
    """Fill defaults and check types; raises RulesError naming the bad key."""
    out = {**DEFAULT_RULES, **rules}
    for sev in ("P1", "P2", "P3", "P4"):
        n = out["approvals_required"].get(sev)
        if not isinstance(n, int) or not 1 <= n <= 5:
            raise RulesError(f"approvals_required.{sev} must be 1 to 5")
    if not isinstance(out["approval_ttl_minutes"], int) or out["approval_ttl_minutes"] < 1:
        raise RulesError("approval_ttl_minutes must be a positive whole number")
    out["budgets"] = {**DEFAULT_RULES["budgets"], **out["budgets"]}
    share = out["budgets"]["max_disruption_share"]
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
        raise RulesError("budgets.max_disruption_share must be in (0, 1]")
    for key in ("actions_per_namespace_per_hour", "concurrent_per_cluster"):
        n = out["budgets"][key]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10_000:
            raise RulesError(f"budgets.{key} must be a whole number from 1 to 10000")
    for kind in ("allow", "deny"):
        for i, w in enumerate(out["windows"].get(kind, [])):
            _window(w, f"windows.{kind}[{i}]")
    return out


def required_approvals(rules: dict, severity: str) -> int:
    return int(rules["approvals_required"].get(severity, 1))


def auto_approvable(rules: dict, severity: str, risk: str) -> bool:
    auto = rules["auto_approve"]
    return severity in auto["severities"] and risk in auto["risks"]


def _window(w: dict, where: str) -> tuple[set[int], time, time, ZoneInfo]:
    try:
        tz = ZoneInfo(w.get("tz", "UTC"))
        start, end = time.fromisoformat(w["start"]), time.fromisoformat(w["end"])
        days = {DAYS.index(d) for d in w.get("days", DAYS)}
    except (KeyError, ValueError, ZoneInfoNotFoundError) as exc:
        raise RulesError(f"{where}: {exc}") from exc
    return days, start, end, tz


def _inside(w: dict, when: datetime) -> bool:
    days, start, end, tz = _window(w, "window")
    local = when.astimezone(tz)  # wall time there, DST included
    if start <= end:
        return local.weekday() in days and start <= local.time() < end
    # over midnight: the part after midnight belongs to the previous day's window
    if local.time() >= start:
        return local.weekday() in days
    return local.time() < end and (local.weekday() - 1) % 7 in days


def window_verdict(rules: dict, when: datetime) -> str:
    """ "" when changes are allowed at `when`, else why not. Deny beats allow."""
    for w in rules["windows"].get("deny", []):
        if _inside(w, when):
            return f"inside a freeze window ({w.get('start')}-{w.get('end')} {w.get('tz', 'UTC')})"
    allow = rules["windows"].get("allow", [])
    if allow and not any(_inside(w, when) for w in allow):
        return "outside every change window"
    return ""


# --- blast-radius budgets: pure decisions; guards.py counts from the database ----------------


@dataclass(frozen=True)
class PdbView:
    """A PodDisruptionBudget that selects the target pod, as the cluster reports it now."""

    name: str
    disruptions_allowed: int
    current_healthy: int
    desired_healthy: int


def namespace_budget_verdict(budgets: dict, namespace: str, in_last_hour: int) -> str:
    """`in_last_hour`: other actions started in the namespace in the hour before now."""
    limit = budgets["actions_per_namespace_per_hour"]
    if in_last_hour >= limit:
        return f"{in_last_hour} actions in {namespace} in the last hour (budget {limit})"
    return ""


def concurrency_verdict(budgets: dict, cluster: str, active: int) -> str:
    limit = budgets["concurrent_per_cluster"]
    if active >= limit:
        return f"{active} actions already queued or running on {cluster} (budget {limit})"
    return ""


def disruption_cap(replicas: int, share: float) -> int:
    """Pods of a workload that may be disrupted at once: `share` of its replicas rounded down,
    and at least one. Exact arithmetic: 0.29 x 100 is 29, not 28.999..."""
    return max(1, math.floor(replicas * Fraction(str(share))))


def disruption_verdict(
    *, workload: str, replicas: int, share: float, busy: int, pdbs: list[PdbView]
) -> str:
    """`busy`: pods of the workload already being disrupted by other actions. A PDB's
    disruptionsAllowed does not yet count those, so they are taken off it."""
    allowed = disruption_cap(replicas, share)
    if busy + 1 > allowed:
        return (
            f"{busy} other pods of {workload} are being disrupted; at most "
            f"{allowed} of {replicas} at once"
        )
    for pdb in pdbs:
        if pdb.disruptions_allowed - busy < 1:
            return (
                f"PodDisruptionBudget {pdb.name} allows no disruption now "
                f"({pdb.current_healthy} healthy, {pdb.desired_healthy} required)"
            )
    return ""
