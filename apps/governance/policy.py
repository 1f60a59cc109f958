"""The approval policy and guard budgets: plain data and pure functions (no Django).

Rules live in the Policy table (editable by admins, audited); DEFAULT_RULES seeds it. One
schema (`Rules`, pydantic, strict) says what a rule may be: the API, the Policy page's form
and the loader all check with it, so a stored policy can never break a page.
"""

import math
from dataclasses import dataclass
from datetime import datetime, time
from fractions import Fraction
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

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
    # How long a resource patch's new pods are watched for OOM kills after its rollout.
    "resources_watch_seconds": 120,
    # After a verified fix, predictions and anomalies alone do not reopen (or reopen as a new
    # incident) a problem on that target for this long; only an observed failure does.
    "quiet_period_minutes": 30,
}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class RulesError(ValueError):
    """A rule that does not fit the schema; `field` is its dotted path ("budgets.storm")."""

    def __init__(self, message: str, field: str = "rules"):
        super().__init__(message)
        self.field = field


# --- the one schema for rules: the API, the Policy page's form and the loader all use it ----

_STRICT = ConfigDict(strict=True, extra="forbid")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"  # 09:00 or 09:00:30
ZONES = sorted(available_timezones())


def _whole(value):
    """JSON has one number type: 5.0 is the whole number 5 (as JSON Schema says), but true,
    "5" and 5.5 are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]


def _count(path: str, lo: int, hi: int):
    """A whole number in [lo, hi] whose default is DEFAULT_RULES' at that dotted path."""
    default = DEFAULT_RULES
    for part in path.split("."):
        default = default[part]
    return Field(default, ge=lo, le=hi)


class AutoApprove(BaseModel):
    """What the policy may approve by itself: never P1/P2, never more than low risk (those
    need a human approver who is not the requester, whatever the policy says)."""

    model_config = _STRICT
    severities: list[Literal["P3", "P4"]] = Field(
        default_factory=lambda: list(DEFAULT_RULES["auto_approve"]["severities"]), max_length=4
    )
    risks: list[Literal["low"]] = Field(
        default_factory=lambda: list(DEFAULT_RULES["auto_approve"]["risks"]), max_length=1
    )


class ApprovalsRequired(BaseModel):
    model_config = _STRICT
    P1: Whole = _count("approvals_required.P1", 1, 5)
    P2: Whole = _count("approvals_required.P2", 1, 5)
    P3: Whole = _count("approvals_required.P3", 1, 5)
    P4: Whole = _count("approvals_required.P4", 1, 5)


class Budgets(BaseModel):
    model_config = _STRICT
    actions_per_namespace_per_hour: Whole = _count(
        "budgets.actions_per_namespace_per_hour", 1, 10_000
    )
    concurrent_per_cluster: Whole = _count("budgets.concurrent_per_cluster", 1, 10_000)
    max_disruption_share: float = Field(
        DEFAULT_RULES["budgets"]["max_disruption_share"], ge=0.01, le=1
    )


class Storm(BaseModel):
    model_config = _STRICT
    failures: Whole = _count("storm.failures", 1, 1000)
    window_minutes: Whole = _count("storm.window_minutes", 1, 1440)


class Window(BaseModel):
    model_config = _STRICT
    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1, max_length=7)
    start: str = Field(pattern=CLOCK)
    end: str = Field(pattern=CLOCK)
    # The schema lists the zones this server knows, so a client sees them before it asks.
    tz: str = Field("UTC", max_length=64, json_schema_extra={"enum": ZONES})

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        try:
            time.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a time of day like 09:00") from None
        return v

    @field_validator("tz")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone like Europe/Berlin") from None
        return v


class Windows(BaseModel):
    model_config = _STRICT
    allow: list[Window] = Field(default_factory=list, max_length=50)
    deny: list[Window] = Field(default_factory=list, max_length=50)


class Rules(BaseModel):
    """Every key a policy may hold, its type and its range. Missing keys take the default."""

    model_config = _STRICT
    auto_approve: AutoApprove = Field(default_factory=AutoApprove)
    approvals_required: ApprovalsRequired = Field(default_factory=ApprovalsRequired)
    approval_ttl_minutes: Whole = _count("approval_ttl_minutes", 1, 1440)
    budgets: Budgets = Field(default_factory=Budgets)
    storm: Storm = Field(default_factory=Storm)
    windows: Windows = Field(default_factory=Windows)
    execution_timeout_seconds: Whole = _count("execution_timeout_seconds", 1, 86_400)
    verify_timeout_seconds: Whole = _count("verify_timeout_seconds", 1, 3600)
    pdb_retry_seconds: Whole = _count("pdb_retry_seconds", 0, 86_400)
    resources_watch_seconds: Whole = _count("resources_watch_seconds", 0, 3600)
    quiet_period_minutes: Whole = _count("quiet_period_minutes", 0, 1440)


def bounds(path: str) -> tuple[float | None, float | None]:
    """(min, max) of a numeric rule, e.g. bounds("budgets.concurrent_per_cluster"), so a form
    offers exactly what the schema accepts."""
    model, name = Rules, path
    while "." in name:
        head, name = name.split(".", 1)
        model = model.model_fields[head].annotation
    lo = hi = None
    for m in model.model_fields[name].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def validate(rules: dict) -> dict:
    """The rules checked against the schema, with defaults filled in; raises RulesError naming
    the first bad key by its dotted path."""
    if not isinstance(rules, dict):
        raise RulesError("rules must be an object")
    try:
        return Rules.model_validate(rules).model_dump()
    except ValidationError as exc:
        e = exc.errors()[0]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
        path = path.lstrip(".") or "rules"
        value = "" if e["type"] == "missing" else f" (got {e['input']!r:.60})"
        raise RulesError(f"{path}: {e['msg']}{value}", field=f"rules.{path}") from None


def validate_or_safe(rules) -> tuple[dict, str]:
    """(rules, "") for a valid stored policy; for one that is not (written before this schema,
    or edited in the database), the defaults with auto-approval off and why: fail closed, and
    never a broken page."""
    try:
        return validate(rules), ""
    except RulesError as exc:
        safe = validate({})
        safe["auto_approve"] = {"severities": [], "risks": []}
        return safe, str(exc)


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
