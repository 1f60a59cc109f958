"""The cost plan: rightsizing recommendations per workload and idle workloads to scale to zero,
ranked by savings, and the service that turns chosen items into governance Actions.

`plan_build` reads (usage history, the cluster's default prices, the waste report's idle rule);
`plan_apply` proposes, all or none, one `patch_resources` Action per workload and container, or
one `scale` to 0 replicas for an idle workload, through `action_propose`: approval, guards,
execution and verification are governance's. Exports live in `exports.py`.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.clusters.quantity import memory_bytes
from apps.core.errors import Conflict, ValidationFailed
from apps.core.formatting import usd
from apps.core.registry import WORKLOAD_HOLDS
from apps.core.roles import Cap, require
from apps.governance.action_models import Action, Kind, Risk, Severity, Source, Status
from apps.governance.actions import Prepared, action_prepare, action_record

from . import rightsizing
from .exports import plan_csv, plan_yaml  # noqa: F401 (the plan's exports, re-exported)
from .prices import Prices
from .rightsizing import MemoryFloor, NotEnoughHistory, Recommendation
from .selectors import idle_for, prices_for_cluster
from .usage import usage_read

CONFIDENCE_ORDER = {"low": 0, "medium": 1, "high": 2}
RIGHTSIZE, SCALE_TO_ZERO = "rightsize", "scale_to_zero"
# Idle over six days of the 7-day waste window: high confidence; one to six days: medium. (The
# samples of a 7-day window span a collection interval less than 7 days: a week is never seen.)
IDLE_HIGH_CONFIDENCE_HOURS = 6 * 24
MISSING = ("no CPU request set", "no memory request set", "no memory limit")


@dataclass(frozen=True)
class PlanItem:
    cluster: str
    namespace: str
    workload: str
    recommendations: list[Recommendation]
    savings_per_month: float
    risk_memory: float  # the highest of its containers
    risk_cpu_limit: float | None  # the highest; None when no container has a CPU limit
    confidence: str  # the lowest of its containers
    findings: list[str]
    hpa_name: str = ""
    hpa_target_now: int | None = None
    hpa_target: int | None = None
    hpa_metrics: tuple[dict, ...] = ()  # the HPA's spec.metrics now
    change: str = RIGHTSIZE  # or SCALE_TO_ZERO: no recommendations, replicas -> 0
    replicas_now: int | None = None  # for SCALE_TO_ZERO

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.workload}"

    @property
    def scales_to_zero(self) -> bool:
        return self.change == SCALE_TO_ZERO

    @property
    def hpa_changes(self) -> bool:
        return bool(self.hpa_name) and self.hpa_target not in (None, self.hpa_target_now)


@dataclass(frozen=True)
class Finding:
    namespace: str
    workload: str
    container: str
    text: str


@dataclass(frozen=True)
class Held:
    """A workload the plan leaves alone now, and why, as a phrase after its name ("has
    incident #4 (memory leak, verifying) not over", "already has an active action #7 ...")."""

    namespace: str
    workload: str
    why: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.workload}"


@dataclass
class Plan:
    cluster: Cluster
    namespace: str
    min_savings: float
    prices: Prices
    price_source: str
    generated_at: datetime
    since: datetime | None
    until: datetime | None
    items: list[PlanItem] = field(default_factory=list)
    not_enough_history: list[NotEnoughHistory] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # missing requests and limits
    notes: list[str] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)  # left alone now, and why

    @property
    def total_savings(self) -> float:
        return round(sum(i.savings_per_month for i in self.items), 2)

    @property
    def containers(self) -> int:
        return sum(len(i.recommendations) for i in self.items)

    def item(self, namespace: str, workload: str) -> PlanItem | None:
        return next(
            (i for i in self.items if (i.namespace, i.workload) == (namespace, workload)), None
        )


def plan_build(*, cluster: Cluster, namespace: str = "", min_savings: float = 0.0) -> Plan:
    """Every Deployment container of `cluster` (or one namespace) rightsized, grouped per
    workload and ranked by savings a month. `min_savings` > 0 keeps workloads saving at least
    that much; at 0 under-provisioned workloads (negative savings) stay in, at the bottom."""
    usage = usage_read(cluster, namespace=namespace)
    sheet = prices_for_cluster(cluster)
    prices = sheet.default.prices
    floors = memory_floors(cluster)
    containers = [
        replace(c, memory_floor=floors.get((c.namespace, c.workload, c.container)))
        for c in usage.containers
    ]
    results = rightsizing.recommend_many(containers, prices=prices)
    plan = Plan(
        cluster=cluster,
        namespace=namespace,
        min_savings=min_savings,
        prices=prices,
        price_source=sheet.source or "the cluster's own price sheet",
        generated_at=timezone.now(),
        since=usage.since,
        until=usage.until,
        notes=usage.notes,
    )
    per_workload: dict[tuple[str, str], list[Recommendation]] = {}
    for r in results:
        if isinstance(r, NotEnoughHistory):
            plan.not_enough_history.append(r)
        else:
            per_workload.setdefault((r.namespace, r.workload), []).append(r)
    for c in usage.containers:
        for text in rightsizing.missing_findings(c.current):
            plan.findings.append(Finding(c.namespace, c.workload, c.container, text))
    idle = {
        (w.namespace, w.name): idle_item(cluster, w, f)
        for w, f in idle_for(cluster, namespace=namespace)
    }
    items = [
        _item(cluster, recs, usage.hpas.get(key))
        for key, recs in per_workload.items()
        if key not in idle  # scaled to zero, its rightsizing would save nothing more
    ] + list(idle.values())
    holds = workload_holds(cluster)
    plan.held = sorted(
        (
            Held(i.namespace, i.workload, holds[(i.namespace, i.workload)])
            for i in items
            if (i.namespace, i.workload) in holds
        ),
        key=lambda h: h.key,
    )
    items = [i for i in items if (i.namespace, i.workload) not in holds]
    if min_savings > 0:
        items = [i for i in items if i.savings_per_month >= min_savings]
    plan.items = sorted(items, key=lambda i: (-i.savings_per_month, i.namespace, i.workload))
    return plan


RAISED_FLOOR_DAYS = 7  # a memory limit a fix set is not cut below for this long


def memory_floors(cluster: Cluster, *, now=None) -> dict[tuple[str, str, str], MemoryFloor]:
    """The memory limits that fixes set on each container in the last RAISED_FLOOR_DAYS (the
    highest), as floors: the plan never cuts a limit healing or a person just raised. The cost
    plan's own cuts do not count."""
    since = (now or timezone.now()) - timedelta(days=RAISED_FLOOR_DAYS)
    done = Action.objects.filter(
        cluster=cluster, kind=Kind.PATCH_RESOURCES, status=Status.SUCCEEDED, finished_at__gte=since
    ).exclude(source=Source.COSTS)
    out: dict[tuple[str, str, str], MemoryFloor] = {}
    for a in done.order_by("finished_at"):
        memory = ((a.parameters or {}).get("limits") or {}).get("memory")
        if not memory:
            continue
        key = (a.namespace, a.workload or a.target_name, a.parameters.get("container", ""))
        value = memory_bytes(memory)
        if key not in out or value >= out[key].bytes:
            why = (
                f"action #{a.pk} ({a.get_source_display().lower()}) set it on "
                f"{a.finished_at:%Y-%m-%d %H:%M} UTC, within {RAISED_FLOOR_DAYS} days"
            )
            out[key] = MemoryFloor(value, why)
    return out


def workload_holds(cluster: Cluster) -> dict[tuple[str, str], str]:
    """Why each workload should be left alone now, from every app that says (core's
    WORKLOAD_HOLDS): healing's incidents not over, active actions. The first reason wins."""
    out: dict[tuple[str, str], str] = {}
    for holds in WORKLOAD_HOLDS:
        for key, why in holds(cluster).items():
            out.setdefault(key, why)
    return out


def _item(cluster: Cluster, recs: list[Recommendation], hpa) -> PlanItem:
    cpu_risks = [r.risk_cpu_limit for r in recs if r.risk_cpu_limit is not None]
    targets = [r.hpa_target for r in recs if r.hpa_target is not None]
    return PlanItem(
        cluster=cluster.name,
        namespace=recs[0].namespace,
        workload=recs[0].workload,
        recommendations=recs,
        savings_per_month=round(sum(r.savings_per_month for r in recs), 2),
        risk_memory=max(r.risk_memory for r in recs),
        risk_cpu_limit=max(cpu_risks) if cpu_risks else None,
        confidence=min((r.confidence for r in recs), key=CONFIDENCE_ORDER.__getitem__),
        findings=list(dict.fromkeys(f"{r.container}: {f}" for r in recs for f in r.findings)),
        hpa_name=hpa.name if hpa else "",
        hpa_target_now=hpa.hpa.target_cpu_utilization if hpa else None,
        hpa_target=max(targets) if targets else None,
        hpa_metrics=hpa.metrics if hpa else (),
    )


def idle_item(cluster: Cluster, w, finding) -> PlanItem:
    """An idle workload: scaling it to zero saves all it requests. Its confidence comes from
    how long it has been idle."""
    confidence = "high" if w.window_hours >= IDLE_HIGH_CONFIDENCE_HOURS else "medium"
    return PlanItem(
        cluster=cluster.name,
        namespace=w.namespace,
        workload=w.name,
        recommendations=[],
        savings_per_month=finding.monthly_cost,
        risk_memory=0.0,
        risk_cpu_limit=None,
        confidence=confidence,
        findings=[
            f"idle: {finding.evidence}",
            "scaling to zero removes every replica: any "
            "traffic it still gets fails until it is scaled up again",
        ],
        change=SCALE_TO_ZERO,
        replicas_now=w.replicas,
    )


def parameters(r: Recommendation) -> dict:
    """A recommendation as patch_resources parameters, in Kubernetes quantities."""
    new = r.recommended
    limits = {"memory": new.memory_limit}
    if new.cpu_limit is not None:
        limits = {"cpu": new.cpu_limit, **limits}
    return {
        "container": r.container,
        "requests": {"cpu": new.cpu_request, "memory": new.memory_request},
        "limits": limits,
    }


def _risk(r: Recommendation) -> str:
    # Changing resources rolls the workload's pods: never "low". Any past sample above the new
    # memory limit (an OOM kill replayed) makes it high.
    return Risk.HIGH if r.risk_memory > 0 else Risk.MEDIUM


def _evidence(item: PlanItem, r: Recommendation, plan: Plan) -> dict:
    return {
        "plan": {"cluster": item.cluster, "generated_at": plan.generated_at.isoformat()},
        "savings_per_month_usd": r.savings_per_month,
        "workload_savings_per_month_usd": item.savings_per_month,
        "risk_memory": r.risk_memory,
        "risk_cpu_limit": r.risk_cpu_limit,
        "share_above_cpu_request": r.share_above_cpu_request,
        "confidence": r.confidence,
        "history_seconds": r.history.total_seconds(),
        "samples": r.samples,
        "current": {
            "requests": {"cpu": r.current.cpu_request, "memory": r.current.memory_request},
            "limits": {"cpu": r.current.cpu_limit, "memory": r.current.memory_limit},
        },
        "hpa_target": r.hpa_target,
        "reasons": r.reasons,
        "findings": r.findings,
    }


def plan_apply(
    *,
    actor: AbstractBaseUser,
    cluster: Cluster,
    items: list[tuple[str, str]],
    reason: str,
) -> list[Action]:
    """Propose the chosen plan items: one patch_resources Action per workload and container.
    Each is prepared on the cluster first (no transaction open while it answers), then all are
    recorded in one transaction: all or none. Refused whole (409) when an item is not in the
    current plan (a stale page) or its workload is held (an active Action, an incident not
    over)."""
    require(actor, Cap.PROPOSE)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required", field="reason")
    chosen = list(dict.fromkeys((ns, wl) for ns, wl in items))
    if not chosen:
        raise ValidationFailed("choose at least one workload", field="items")
    plan = plan_build(cluster=cluster)
    held = {(h.namespace, h.workload): h.why for h in plan.held}
    for ns, wl in chosen:
        if (ns, wl) in held:
            raise Conflict(
                f"{ns}/{wl} {held[(ns, wl)]}; one change at a time — nothing was proposed",
                field="items",
            )
    missing = [f"{ns}/{wl}" for ns, wl in chosen if plan.item(ns, wl) is None]
    if missing:
        raise Conflict(
            f"not in the current plan of {cluster.name}: {', '.join(missing)}; "
            "reload the plan and choose again",
            field="items",
        )
    prepared = []
    for ns, wl in chosen:
        item = plan.item(ns, wl)
        if item.scales_to_zero:
            prepared.append(_prepare_zero(actor, cluster, item, plan, reason.strip()))
        for r in item.recommendations:
            prepared.append(_prepare(actor, cluster, item, r, plan, reason.strip()))
    with transaction.atomic():
        return [action_record(p) for p in prepared]


def _prepare_zero(actor, cluster: Cluster, item: PlanItem, plan: Plan, reason: str) -> Prepared:
    """Scale an idle workload to zero: high risk (it removes every replica), so people decide,
    and the executor's snapshot holds the replica count a rollback restores."""
    summary = (
        f"cost plan: {item.key} is idle; scale {item.replicas_now} -> 0 replicas; saves "
        f"{usd(item.savings_per_month)} a month; {item.confidence} confidence"
    )
    evidence = {
        "plan": {"cluster": item.cluster, "generated_at": plan.generated_at.isoformat()},
        "change": SCALE_TO_ZERO,
        "replicas_now": item.replicas_now,
        "savings_per_month_usd": item.savings_per_month,
        "workload_savings_per_month_usd": item.savings_per_month,
        "confidence": item.confidence,
        "findings": item.findings,
    }
    return action_prepare(
        actor=actor,
        cluster=cluster,
        kind=Kind.SCALE,
        target_name=item.workload,
        namespace=item.namespace,
        parameters={"replicas": 0},
        reason=f"{reason} — {summary}",
        judged=(Severity.P4, Risk.HIGH),
        source=Source.COSTS,
        evidence=evidence,
    )


def _prepare(
    actor, cluster: Cluster, item: PlanItem, r: Recommendation, plan: Plan, reason
) -> Prepared:
    p = parameters(r)
    summary = (
        f"cost plan: {item.key}/{r.container} requests cpu {r.current.cpu_request or 'none'} -> "
        f"{p['requests']['cpu']}, memory {r.current.memory_request or 'none'} -> "
        f"{p['requests']['memory']}; saves ${r.savings_per_month:.2f} a month; "
        f"memory risk {r.risk_memory:.1%}; {r.confidence} confidence"
    )
    return action_prepare(
        actor=actor,
        cluster=cluster,
        kind=Kind.PATCH_RESOURCES,
        target_name=item.workload,
        namespace=item.namespace,
        parameters=p,
        reason=f"{reason} — {summary}",
        judged=(Severity.P4, _risk(r)),
        source=Source.COSTS,
        evidence=_evidence(item, r, plan),
    )
