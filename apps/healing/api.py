"""JSON: GET /ai/incidents, GET /ai/incidents/{id}, POST /ai/heal. Reads stored incidents;
POST /ai/heal runs one detection and proposal cycle now, under every guard."""

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema

from apps.clusters.models import Cluster
from apps.clusters.selectors import cluster_named
from apps.core.api import AUTH, NameFilter
from apps.core.errors import NotFound
from apps.core.roles import Cap, require

from . import figures, selectors, services

router = Router(auth=AUTH, tags=["healing"])
StatusFilter = Literal["active", "open", "acting", "verifying", "escalated", "resolved"]


class IncidentOut(Schema):
    id: int
    cluster: str
    severity: str
    status: str
    cause: str
    scope: str
    namespace: str
    name: str
    title: str
    hypothesis: str
    confidence: float
    evidence: list[str]
    preventive: bool
    runbook: str
    action_id: int | None
    action_status: str | None
    resolution: str
    started_at: datetime
    detected_at: datetime
    resolved_at: datetime | None
    mttd_seconds: float
    mttr_seconds: float | None
    healed_by_zerotouch: bool


class TimelineOut(Schema):
    at: datetime
    kind: str
    text: str
    action_id: int | None


class IncidentDetailOut(IncidentOut):
    timeline: list[TimelineOut]


class IncidentsOut(Schema):
    figures: dict
    items: list[IncidentOut]


class IncidentQuery(Schema):
    cluster: NameFilter = ""
    status: StatusFilter | None = None
    severity: Literal["P1", "P2", "P3", "P4"] | None = None
    namespace: NameFilter = ""


class HealIn(Schema):
    model_config = {"extra": "forbid"}
    cluster: NameFilter = ""  # empty: every enabled cluster


class HealOut(Schema):
    cluster: str
    message: str
    found: list[dict]
    opened: list[int]
    proposed: list[int]
    resolved: list[int]
    escalated: list[int]


def _out(i) -> dict:
    return {
        "id": i.pk,
        "cluster": i.cluster.name,
        "severity": i.severity,
        "status": i.status,
        "cause": i.cause,
        "scope": i.scope,
        "namespace": i.namespace,
        "name": i.name,
        "title": i.title,
        "hypothesis": i.hypothesis,
        "confidence": i.confidence,
        "evidence": i.evidence,
        "preventive": i.preventive,
        "runbook": i.runbook,
        "action_id": i.action_id,
        "action_status": i.action.status if i.action else None,
        "resolution": i.resolution,
        "started_at": i.started_at,
        "detected_at": i.detected_at,
        "resolved_at": i.resolved_at,
        "mttd_seconds": i.mttd_seconds,
        "mttr_seconds": i.mttr_seconds,
        "healed_by_zerotouch": i.healed_by_zerotouch,
    }


@router.get("/incidents", response=IncidentsOut, summary="Incidents, newest first, with figures")
def incidents(request, filters: Query[IncidentQuery]):
    require(request.auth, Cap.VIEW)
    cluster = cluster_named(filters.cluster)
    rows = selectors.incident_list(
        selectors.IncidentFilter(
            cluster=cluster,
            status=filters.status or "",
            severity=filters.severity or "",
            namespace=filters.namespace,
        )
    )
    return {"figures": figures.summary(cluster=cluster), "items": [_out(i) for i in rows]}


@router.get("/incidents/{incident_id}", response=IncidentDetailOut, summary="One incident")
def incident(request, incident_id: int):
    require(request.auth, Cap.VIEW)
    i = selectors.incident_get(incident_id)
    if i is None:
        raise NotFound(f"no incident #{incident_id}", field="incident_id")
    timeline = [
        {"at": t.at, "kind": t.kind, "text": t.text, "action_id": t.action_id}
        for t in i.timeline.all()
    ]
    return {**_out(i), "timeline": timeline}


@router.post("/heal", response=list[HealOut], summary="Run one healing cycle now")
def heal(request, payload: HealIn):
    """Detect, diagnose and propose now — the proposals go through approval and every guard
    like any other Action. Operators and admins only."""
    require(request.auth, Cap.PROPOSE)
    one = cluster_named(payload.cluster)
    clusters = [one] if one else list(Cluster.objects.filter(enabled=True))
    out = []
    for c in clusters:
        r = services.heal_cycle(cluster=c)
        out.append(
            {
                "cluster": c.name,
                "message": r.message,
                "found": r.found,
                "opened": r.opened,
                "proposed": r.proposed,
                "resolved": r.resolved,
                "escalated": r.escalated,
            }
        )
    return out
