"""JSON API: GET /ai/status, the installation at a glance: the caller, the safety state, the
database, the broker, the workers, the clusters, and the parts other apps add (STATUS_PARTS).
The safety endpoints beside it are core's (apps/core/api.py)."""

from datetime import datetime

from ninja import Router, Schema

from apps.clusters.selectors import cluster_summaries
from apps.core import selectors as core_selectors
from apps.core.api import AUTH, SafetyOut, safety_out
from apps.core.registry import STATUS_PARTS
from apps.core.roles import Cap, require, user_roles

router = Router(auth=AUTH, tags=["ai"])


class ServiceHealth(Schema):
    ok: bool
    detail: str


class WorkerOut(Schema):
    hostname: str
    last_seen: datetime


class ClusterOut(Schema):
    name: str
    health: str  # the connection's, and "degraded" while a workload is not fully ready
    failing_workloads: list[str]  # "namespace/name (ready/desired)"
    simulated: bool
    environment: str
    server_version: str
    nodes: int
    pods: int
    last_collected_at: datetime | None
    last_error: str


class StatusOut(Schema):
    user: str
    roles: list[str]
    safety: SafetyOut
    database: ServiceHealth
    broker: ServiceHealth
    workers: list[WorkerOut]
    clusters: list[ClusterOut]
    healing: dict | None = None  # incidents and MTTD/MTTR, from the healing app


@router.get("/status", response=StatusOut, summary="Mode, switches, and health")
def status(request):
    require(request.auth, Cap.VIEW)
    db_ok, db_detail = core_selectors.database_healthy()
    broker_ok, broker_detail = core_selectors.broker_healthy()
    return {
        "user": request.auth.get_username(),
        "roles": sorted(r.value for r in user_roles(request.auth)),
        "safety": safety_out(),
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
        "workers": [
            {"hostname": w.hostname, "last_seen": w.last_seen}
            for w in core_selectors.worker_list_recent()
        ],
        "clusters": cluster_summaries(),
        **{name: part() for name, part in STATUS_PARTS.items()},
    }
