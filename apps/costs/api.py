"""JSON: GET /ai/optimize, the cost plan — rightsizing recommendations per workload and idle
workloads to scale to zero, ranked by savings, with totals, workloads without enough history,
findings and the prices used."""

from datetime import datetime

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from apps.clusters.models import Cluster
from apps.clusters.selectors import cluster_named
from apps.core.api import AUTH, NameFilter
from apps.core.roles import Cap, require

from .plans import Plan, PlanItem, plan_build
from .prices import plain
from .rightsizing import Recommendation

router = Router(auth=AUTH, tags=["costs"])


class OptimizeFilter(Schema):
    cluster: NameFilter = ""  # "" plans every enabled cluster
    namespace: NameFilter = ""
    # USD a month per workload; 0 keeps under-provisioned ones too.
    min_savings: float = Field(0.0, ge=0, le=1e9)


class OptimizeOut(Schema):
    generated_at: datetime
    currency: str
    total_savings_per_month_usd: float
    workloads: int
    containers: int
    clusters: list[dict]
    items: list[dict]
    not_enough_history: list[dict]
    findings: list[dict]
    # Workloads left alone now, and why: an incident not over, an action active on them.
    held: list[dict]


@router.get("/optimize", response=OptimizeOut, summary="The cost plan: rightsizing, ranked")
def optimize(request, filters: Query[OptimizeFilter]):
    require(request.auth, Cap.VIEW)
    cluster = cluster_named(filters.cluster)
    clusters = [cluster] if cluster else list(Cluster.objects.filter(enabled=True))
    plans = [
        plan_build(cluster=c, namespace=filters.namespace, min_savings=filters.min_savings)
        for c in clusters
    ]
    items = sorted(
        (i for p in plans for i in p.items), key=lambda i: (-i.savings_per_month, i.cluster)
    )
    return {
        "generated_at": max((p.generated_at for p in plans), default=None) or _now(),
        "currency": "USD",
        "total_savings_per_month_usd": round(sum(p.total_savings for p in plans), 2),
        "workloads": len(items),
        "containers": sum(p.containers for p in plans),
        "clusters": [_cluster(p) for p in plans],
        "items": [_item(i) for i in items],
        "not_enough_history": [_short(p, n) for p in plans for n in p.not_enough_history],
        "findings": [_finding(p, f) for p in plans for f in p.findings],
        "held": [
            {
                "cluster": p.cluster.name,
                "namespace": h.namespace,
                "workload": h.workload,
                "why": h.why,
            }
            for p in plans
            for h in p.held
        ],
    }


def _now() -> datetime:
    return timezone.now()


def _short(p: Plan, n) -> dict:
    return {
        "cluster": p.cluster.name,
        "namespace": n.namespace,
        "workload": n.workload,
        "container": n.container,
        "history_seconds": n.history.total_seconds(),
        "samples": n.samples,
        "missing_history_seconds": n.missing_history.total_seconds(),
        "missing_samples": n.missing_samples,
        "message": n.message,
    }


def _finding(p: Plan, f) -> dict:
    return {
        "cluster": p.cluster.name,
        "namespace": f.namespace,
        "workload": f.workload,
        "container": f.container,
        "finding": f.text,
    }


def _cluster(p: Plan) -> dict:
    return {
        "name": p.cluster.name,
        "simulated": p.cluster.simulated,
        "history_since": p.since,
        "history_until": p.until,
        "total_savings_per_month_usd": p.total_savings,
        "prices": {
            "source": p.price_source,
            "currency": p.prices.currency,
            "cpu_per_vcpu_hour_usd": plain(p.prices.cpu_per_vcpu_hour),
            "memory_per_gib_hour_usd": plain(p.prices.memory_per_gib_hour),
            "hours_per_month": 730,
        },
        "notes": p.notes,
    }


def _item(i: PlanItem) -> dict:
    return {
        "cluster": i.cluster,
        "namespace": i.namespace,
        "workload": i.workload,
        "change": i.change,  # rightsize | scale_to_zero (an idle workload)
        "replicas": {"now": i.replicas_now, "recommended": 0} if i.scales_to_zero else None,
        "savings_per_month_usd": i.savings_per_month,
        "risk_memory": i.risk_memory,
        "risk_cpu_limit": i.risk_cpu_limit,
        "confidence": i.confidence,
        "findings": i.findings,
        "hpa": {"name": i.hpa_name, "target_now": i.hpa_target_now, "target": i.hpa_target}
        if i.hpa_name
        else None,
        "containers": [_recommendation(r) for r in i.recommendations],
    }


def _resources(res) -> dict:
    return {
        "requests": {"cpu": res.cpu_request, "memory": res.memory_request},
        "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit},
        "cpu_request_millicores": res.cpu_request_millis,
        "memory_request_bytes": res.memory_request_bytes,
    }


def _recommendation(r: Recommendation) -> dict:
    return {
        "container": r.container,
        "current": _resources(r.current),
        "recommended": _resources(r.recommended),
        "hpa_target": r.hpa_target,
        "savings_per_month_usd": r.savings_per_month,
        "risk_memory": r.risk_memory,
        "risk_cpu_limit": r.risk_cpu_limit,
        "share_above_cpu_request": r.share_above_cpu_request,
        "confidence": r.confidence,
        "history_seconds": r.history.total_seconds(),
        "samples": r.samples,
        "startup_samples": r.startup_samples,
        "reasons": r.reasons,
        "findings": r.findings,
    }
