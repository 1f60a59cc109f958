"""JSON: /ai/predict, /ai/anomalies, /ai/metrics. They read stored results; nothing trains
inline."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from apps.clusters.selectors import cluster_named
from apps.core.api import AUTH, IsoTime, NameFilter
from apps.core.errors import ValidationFailed
from apps.core.registry import METRICS_PARTS
from apps.core.roles import Cap, require

from . import selectors, services
from .models import ModelVersion, RiskScore

router = Router(auth=AUTH, tags=["predictions"])
Level = Literal[RiskScore.RANKED]
Kind = Literal["workload", "node"]


class RiskOut(Schema):
    cluster: str
    kind: str
    namespace: str
    name: str
    level: str
    risk: int | None
    probability: float | None
    lead_minutes: float | None
    lead_basis: str  # "trend" (at the current rate) | "history" (the usual lead) | ""
    reasons: list[str]
    missing: str
    low_confidence: bool
    scored_at: datetime
    model_version: int | None


class ModelBrief(Schema):
    version: int
    source: str
    low_confidence: bool
    figures: dict


class PredictOut(Schema):
    model: ModelBrief | None
    problems: list[str]
    items: list[RiskOut]


class PredictFilter(Schema):
    cluster: NameFilter = ""
    namespace: NameFilter = ""
    kind: Kind | None = None
    min_level: Level | None = None


def _brief(v: ModelVersion | None) -> dict | None:
    if v is None:
        return None
    return {
        "version": v.version,
        "source": v.source,
        "low_confidence": v.low_confidence,
        "figures": v.figures,
    }


@router.get("/predict", response=PredictOut, summary="Failure risk per workload and node")
def predict(request, filters: Query[PredictFilter]):
    require(request.auth, Cap.VIEW)
    rows = selectors.risk_list(
        selectors.RiskFilter(
            cluster=cluster_named(filters.cluster),
            namespace=filters.namespace,
            kind=filters.kind or "",
            min_level=filters.min_level or "",
        )
    )
    use = services.served(ModelVersion.Kind.FAILURE)
    items = [
        {
            "cluster": r.cluster.name,
            "kind": r.entity_kind,
            "namespace": r.namespace,
            "name": r.name,
            "level": r.level,
            "risk": r.risk,
            "probability": r.probability,
            "lead_minutes": r.lead_minutes,
            "lead_basis": r.lead_basis,
            "reasons": r.reasons,
            "missing": r.missing,
            "low_confidence": r.low_confidence,
            "scored_at": r.scored_at,
            "model_version": r.model.version if r.model else None,
        }
        for r in rows
    ]
    return {"model": _brief(use.version), "problems": use.problems, "items": items}


class AnomalyOut(Schema):
    cluster: str
    kind: str
    namespace: str
    name: str
    start: datetime
    end: datetime
    open: bool
    peak_score: float
    threshold: float
    samples: int
    metrics: list[dict]
    learning: bool  # its detector had learned from less than a day: shown, never acted on


class AnomalyFilter(Schema):
    """Default range: the day up to the newest sample of the clusters asked about."""

    cluster: NameFilter = ""
    namespace: NameFilter = ""
    name: NameFilter = ""
    kind: Kind | None = None
    since: IsoTime | None = None
    until: IsoTime | None = None
    limit: int = Field(500, ge=1, le=5000)


def _aware(when: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC."""
    if when is not None and timezone.is_naive(when):
        return when.replace(tzinfo=UTC)
    return when


@router.get("/anomalies", response=list[AnomalyOut], summary="Anomalies in a time range")
def anomalies(request, filters: Query[AnomalyFilter]):
    require(request.auth, Cap.VIEW)
    cluster = cluster_named(filters.cluster)
    until = _aware(filters.until) or selectors.clusters_now(cluster) or timezone.now()
    since = _aware(filters.since) or until - timedelta(days=1)
    if since > until:
        raise ValidationFailed("since must be before until", field="since")
    qs = selectors.anomaly_list(
        cluster=cluster,
        namespace=filters.namespace,
        name=filters.name,
        kind=filters.kind or "",
        since=since,
        until=until,
    )[: filters.limit]
    return [
        {
            "cluster": a.cluster.name,
            "kind": a.entity_kind,
            "namespace": a.namespace,
            "name": a.name,
            "start": a.start,
            "end": a.end,
            "open": a.open,
            "peak_score": a.peak_score,
            "threshold": a.threshold,
            "samples": a.samples,
            "metrics": a.metrics,
            "learning": a.learning,
        }
        for a in qs
    ]


class VersionOut(Schema):
    kind: str
    version: int
    cluster: str | None
    status: str
    source: str
    low_confidence: bool
    trigger: str
    trained_by: str
    created_at: datetime
    finished_at: datetime | None
    progress: int
    progress_note: str
    data_from: datetime | None
    data_to: datetime | None
    rows_train: int
    rows_test: int
    positives_train: int
    positives_test: int
    figures: dict
    champion_figures: dict
    feature_importances: dict
    decision: str
    promoted_by: str
    promoted_at: datetime | None
    sklearn_version: str
    error: str


class MetricsOut(Schema):
    serving: ModelBrief | None
    problems: list[str]
    versions: list[VersionOut]
    healing: dict | None = None  # MTTD, MTTR and auto-resolution, from the healing app


def version_out(v: ModelVersion) -> dict:
    fields = VersionOut.model_fields
    out = {k: getattr(v, k) for k in fields if k != "cluster"}
    out["cluster"] = v.cluster.name if v.cluster else None
    return out


@router.get("/metrics", response=MetricsOut, summary="Model figures and learning history")
def metrics(
    request,
    kind: Literal["failure", "anomaly"] = "failure",
    limit: Annotated[int, Field(ge=1, le=500)] = 50,
):
    require(request.auth, Cap.VIEW)
    use = services.served(ModelVersion.Kind.FAILURE) if kind == "failure" else None
    versions = selectors.model_versions(kind=kind)[:limit]
    return {
        "serving": _brief(use.version) if use else None,
        "problems": use.problems if use else [],
        "versions": [version_out(v) for v in versions],
        **{name: part() for name, part in METRICS_PARTS.items()},
    }
