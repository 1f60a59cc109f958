"""Scoring: after each collection, the serving failure model scores every workload and node
and the cluster's anomaly detectors update its anomalies. Pages and the API read the rows
written here; nothing is trained inline (training lives in training.py)."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import sklearn
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core.errors import ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record

from . import anomaly, artifacts, labels, schedule, selectors
from .features import FRESH_S, build_features, latest
from .models import Anomaly, ModelVersion, RiskScore
from .schedule import (
    ANOMALY_GAP,
    ANOMALY_NEW_ENTITY_REFIT,
    ANOMALY_REFIT_HOURS,
    ANOMALY_TRAIN_HOURS,
    ANOMALY_WINDOW,
)
from .series import METRIC_LABELS, all_series, metrics_for, split_entity

log = logging.getLogger(__name__)

FAILING_NOW = timedelta(minutes=3)  # a failure seen this recently: "failing", not a risk
STALE_ENTITY = timedelta(seconds=FRESH_S)  # entities not sampled lately are gone
_cache: dict[tuple[str, int | None], tuple[tuple[int, str], object]] = {}


# --- serving models -------------------------------------------------------------------------


@dataclass
class Served:
    version: ModelVersion | None
    model: object | None
    problems: list[str] = field(default_factory=list)  # shown on the pages


def load(version: ModelVersion) -> object:
    """The artifact, cached per process; one entry per (kind, cluster) stays in memory."""
    slot = (version.kind, version.cluster_id)
    key = (version.pk, version.artifact_sha256)
    cached = _cache.get(slot)
    if cached is None or cached[0] != key:
        model = artifacts.read(settings.MODEL_DIR, version.artifact, version.artifact_sha256)
        _cache[slot] = (key, model)
    return _cache[slot][1]


def served(kind: str, cluster: Cluster | None = None) -> Served:
    """The champion, or when its artifact cannot be used, the most recent earlier champion
    that loads — with the reason, so the page can say so."""
    problems: list[str] = []
    mine = ModelVersion.objects.filter(kind=kind, cluster=cluster)
    candidates = [
        *mine.filter(status=ModelVersion.Status.CHAMPION),
        *mine.filter(status=ModelVersion.Status.RETIRED).order_by("-promoted_at", "-version")[:4],
    ]
    for version in candidates:
        try:
            return Served(version, load(version), problems)
        except artifacts.ArtifactError as exc:
            problems.append(f"{kind} model v{version.version} cannot be used: {exc}")
    return Served(None, None, problems)


# --- risk -----------------------------------------------------------------------------------


@dataclass
class ScoreResult:
    scored: int = 0
    unknown: int = 0
    anomalies_opened: int = 0
    uncovered: int = 0  # entities with enough history but no anomaly detector yet
    message: str = "ok"


def cluster_score(*, cluster: Cluster) -> ScoreResult:
    """Score the cluster's latest samples; write one RiskScore per workload and node."""
    until = cluster.last_cluster_time
    if until is None:
        return ScoreResult(message="not collected yet")
    window = timedelta(minutes=settings.PREDICTION_WINDOW_MINUTES)
    frames = selectors.samples_frames(cluster=cluster, since=until - window, until=until)
    features = build_features(frames, latest_within=FRESH_S)
    result = ScoreResult()
    if len(features):
        now = latest(features)
        now = now[now["ts"] >= pd.Timestamp(until) - STALE_ENTITY]
        result = _write_scores(cluster, until, now, failing_now(frames, until))
    series = all_series(frames)
    with transaction.atomic():
        Cluster.objects.select_for_update().filter(pk=cluster.pk).first()  # one writer
        result.anomalies_opened = anomalies_update(cluster=cluster, series=series, until=until)
    result.uncovered = anomaly_uncovered(cluster=cluster, series=series)
    return result


def failing_now(frames, until: datetime) -> dict[str, str]:
    """Entities with a failure observed in the last minutes: entity -> what was seen."""
    seen = labels.observe_failures(frames)
    recent = seen[seen["time"] >= pd.Timestamp(until) - FAILING_NOW]
    out: dict[str, str] = {}
    for r in recent.itertuples(index=False):
        text = r.kind + (f" ({r.detail})" if r.detail else "")
        if text not in out.get(r.entity, ""):
            out[r.entity] = f"{out[r.entity]}; {text}" if r.entity in out else text
    return out


def _write_scores(
    cluster: Cluster, at: datetime, rows: pd.DataFrame, failing: dict[str, str]
) -> ScoreResult:
    use = served(ModelVersion.Kind.FAILURE)
    if use.model is None:
        pred = rows[["entity", "entity_kind"]].assign(
            status="no model",
            probability=np.nan,
            risk=None,
            level="unknown",
            expected_lead_minutes=np.nan,
            reasons=[[] for _ in range(len(rows))],
            missing="no failure model is trained yet",
        )
    else:
        pred = use.model.predict(rows)
    scores = [_risk_row(cluster, at, r, use.version) for r in pred.itertuples(index=False)]
    for score, entity in zip(scores, pred["entity"], strict=True):
        if entity in failing:  # observed, not predicted: say so, and rank it first
            score.level, score.risk, score.probability = "failing", 100, None
            score.reasons = [f"failing now: {failing[entity]}"[:500], *score.reasons[:2]]
            score.missing, score.lead_minutes = "", 0.0
    with transaction.atomic():
        # Two scorings of one cluster at once: the second waits, then replaces the first.
        Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
        RiskScore.objects.filter(cluster=cluster, scored_at=at).delete()
        RiskScore.objects.bulk_create(scores, batch_size=1000)
    unknown = sum(1 for s in scores if s.risk is None)
    return ScoreResult(scored=len(scores) - unknown, unknown=unknown)


def _risk_row(cluster: Cluster, at: datetime, r, version: ModelVersion | None) -> RiskScore:
    ns, name = split_entity(r.entity_kind, r.entity)
    ok = r.status == "ok"
    lead = getattr(r, "expected_lead_minutes", np.nan)
    return RiskScore(
        cluster=cluster,
        scored_at=at,
        entity_kind=r.entity_kind,
        namespace=ns,
        name=name,
        probability=float(r.probability) if ok else None,
        risk=int(r.risk) if ok else None,
        level=r.level if ok else RiskScore.Level.UNKNOWN,
        lead_minutes=float(lead) if ok and pd.notna(lead) else None,
        lead_basis=str(getattr(r, "lead_basis", "") or "") if ok and pd.notna(lead) else "",
        reasons=list(r.reasons) if ok else [],
        missing="" if ok else str(r.missing or r.status)[:300],
        low_confidence=bool(version and version.low_confidence),
        model=version,
    )


# --- anomalies ------------------------------------------------------------------------------


def anomalies_update(*, cluster: Cluster, series: dict, until: datetime) -> int:
    """Score each entity's recent samples (`series.all_series` of the frames) with the
    cluster's detectors; open, extend or close its Anomaly rows. Returns the number opened."""
    use = served(ModelVersion.Kind.ANOMALY, cluster)
    if use.model is None:
        return 0
    detectors: dict = use.model["detectors"]
    since = use.version.data_to or until - timedelta(minutes=30)
    opened = 0
    for kind, table in series.items():
        for entity, rows in table.groupby("entity", sort=False):
            det = detectors.get((kind, entity))
            if det is None or len(rows) < 2:
                continue
            opened += _entity_anomalies(cluster, use.version, kind, entity, rows, det, since)
    _close_quiet(cluster, until)
    return opened


def anomaly_refit_due(*, cluster: Cluster, uncovered: int = 0) -> bool:
    """Whether the cluster's detectors should learn again now (schedule.refit_due), given
    enough history to learn from. The task queues the fit; the soak runs it in place."""
    det = selectors.champion(ModelVersion.Kind.ANOMALY, cluster)
    if det is not None:
        if not (det.data_to and cluster.last_cluster_time):
            return False
        age = cluster.last_cluster_time - det.data_to
        learned = det.data_to - det.data_from if det.data_from else None
        if not schedule.refit_due(learned=learned, age=age, uncovered=uncovered):
            return False
    first, last = selectors.samples_span(cluster=cluster)
    return bool(first and last - first >= schedule.ANOMALY_MIN_HISTORY)


def anomaly_uncovered(*, cluster: Cluster, series: dict) -> int:
    """Workloads and nodes with enough samples to learn from but no detector of their own
    (they appeared after the last refit)."""
    use = served(ModelVersion.Kind.ANOMALY, cluster)
    known = use.model["detectors"] if use.model is not None else {}
    return sum(
        1
        for kind, table in series.items()
        for entity, size in table.groupby("entity", sort=False).size().items()
        if size >= anomaly.MIN_TRAIN_ROWS and (kind, entity) not in known
    )


def _entity_anomalies(cluster, version, kind, entity, rows, det, trained_until) -> int:
    metrics = metrics_for(kind)
    x = rows[metrics].to_numpy(float)
    step = det["step_seconds"]
    first = pd.Timestamp(rows["ts"].iloc[0])
    start = det["detector"].n_train + max(
        0, int((first - pd.Timestamp(trained_until)).total_seconds() // step)
    )
    scores = det["detector"].score(x, start=start)
    flagged = np.flatnonzero(det["detector"].alarms_of(scores))
    flagged = flagged[flagged >= ANOMALY_WINDOW]  # windows warm up on the first rows
    if not len(flagged):
        return 0
    ns, name = split_entity(kind, entity)
    last = (
        Anomaly.objects.filter(cluster=cluster, entity_kind=kind, namespace=ns, name=name)
        .order_by("-end")
        .first()
    )
    opened = 0
    learned = version.data_to - version.data_from if version.data_from and version.data_to else None
    learning = learned is None or learned < schedule.ANOMALY_TRUSTED

    def involved(i: int) -> list[dict]:  # explain() recomputes evidence: only when needed
        return [
            {"metric": METRIC_LABELS[metrics[j]], "key": metrics[j], "share": round(s, 3)}
            for j, s in det["detector"].explain(x, i, start=start)[:3]
            if s >= 0.05
        ]

    for i in flagged:
        ts = pd.Timestamp(rows["ts"].iloc[i]).to_pydatetime()
        if last is not None and ts <= last.end:
            continue  # scored before
        if last is not None and last.open and ts - last.end <= ANOMALY_GAP:
            last.end, last.samples = ts, last.samples + 1
            if scores[i] > last.peak_score:
                last.peak_score, last.metrics = float(scores[i]), involved(int(i))
            last.save(update_fields=["end", "samples", "peak_score", "metrics"])
        else:
            last = Anomaly.objects.create(
                cluster=cluster,
                entity_kind=kind,
                namespace=ns,
                name=name,
                start=ts,
                end=ts,
                peak_score=float(scores[i]),
                threshold=det["detector"].threshold,
                metrics=involved(int(i)),
                model=version,
                learning=learning,
            )
            opened += 1
    return opened


def _close_quiet(cluster: Cluster, until: datetime) -> None:
    Anomaly.objects.filter(cluster=cluster, open=True, end__lt=until - ANOMALY_GAP).update(
        open=False
    )


def version_create(**fields) -> ModelVersion:
    """A new ModelVersion row (status training) with the next number for its kind; two
    trainings starting at once each get their own."""
    for _ in range(5):
        last = ModelVersion.objects.filter(kind=fields["kind"]).aggregate(m=Max("version"))["m"]
        try:
            with transaction.atomic():
                return ModelVersion.objects.create(version=(last or 0) + 1, **fields)
        except IntegrityError:
            continue
    raise RuntimeError("could not number a new model version")


def anomaly_fit(*, cluster: Cluster, actor: str = "system:beat") -> ModelVersion | None:
    """Learn each workload's and node's normal from the last hours of the cluster's samples.
    Entities with too little history are skipped until they have it."""
    until = cluster.last_cluster_time
    if until is None:
        return None
    current = ModelVersion.objects.filter(
        kind=ModelVersion.Kind.ANOMALY, cluster=cluster, status=ModelVersion.Status.CHAMPION
    ).first()
    if current and current.data_to and until - current.data_to < ANOMALY_NEW_ENTITY_REFIT / 2:
        return current  # a duplicate of a refit that already ran
    first, _ = selectors.samples_span(cluster=cluster)
    since = until - timedelta(hours=ANOMALY_TRAIN_HOURS)
    version = version_create(
        kind=ModelVersion.Kind.ANOMALY,
        cluster=cluster,
        trained_by=actor,
        trigger=f"refit every {ANOMALY_REFIT_HOURS} h (sooner while history is young)",
        sklearn_version=sklearn.__version__,
        data_from=max(first, since) if first else since,  # what it could learn from
        data_to=until,
    )
    try:
        detectors, skipped = _fit_detectors(cluster, until)
    except Exception as exc:
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    if not detectors:  # nothing learned yet: no row worth keeping
        version.delete()
        return None
    version.rows_train = sum(d["detector"].n_train for d in detectors.values())
    version.params = {"window": ANOMALY_WINDOW, "entities": len(detectors), "skipped": skipped}
    version.progress, version.finished_at = 100, timezone.now()
    version.artifact, version.artifact_sha256 = artifacts.write(
        settings.MODEL_DIR,
        f"anomaly-{cluster.name}-v{version.version}.pkl",
        {"detectors": detectors},
    )
    with transaction.atomic():
        make_champion(version, actor, "detectors refit on the cluster's recent history")
    return version


def _fit_detectors(cluster: Cluster, until: datetime) -> tuple[dict, int]:
    frames = selectors.samples_frames(
        cluster=cluster, since=until - timedelta(hours=ANOMALY_TRAIN_HOURS), until=until
    )
    detectors, skipped = {}, 0
    for kind, table in all_series(frames).items():
        for entity, rows in table.groupby("entity", sort=False):
            if len(rows) < anomaly.MIN_TRAIN_ROWS:
                skipped += 1
                continue
            ts = pd.to_datetime(rows["ts"], utc=True)
            step = float(np.median(np.diff(ts.astype("int64"))) / 1e9) if len(ts) > 1 else 30.0
            x = rows[metrics_for(kind)].to_numpy(float)
            try:
                rate = anomaly.contamination_for(max(step, 1.0))  # the alarm budget
                det = anomaly.fit(x, window=ANOMALY_WINDOW, contamination=rate)
            except ValueError:  # e.g. too many empty rows: wait for more history
                skipped += 1
                continue
            detectors[(kind, entity)] = {"detector": det, "step_seconds": max(step, 1.0)}
    return detectors, skipped


def make_champion(version: ModelVersion, actor: str, why: str) -> None:
    """Within the caller's transaction: retire the old champion, crown this one, audit."""
    # Lock the serving champion: a second promotion waits here instead of racing.
    list(
        ModelVersion.objects.select_for_update().filter(
            kind=version.kind, cluster=version.cluster, status=ModelVersion.Status.CHAMPION
        )
    )
    old = ModelVersion.objects.filter(
        kind=version.kind, cluster=version.cluster, status=ModelVersion.Status.CHAMPION
    ).exclude(pk=version.pk)
    before = [f"v{v}" for v in old.values_list("version", flat=True)]
    old.update(status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.CHAMPION
    version.promoted_by, version.promoted_at, version.decision = actor, timezone.now(), why
    version.save()
    audit_record(
        actor=actor,
        verb="model.promoted",
        target_type="model",
        target_id=str(version.pk),
        target_repr=f"{version.kind} model v{version.version}"
        + (f" for {version.cluster.name}" if version.cluster else ""),
        before={"champion": before},
        after={"champion": f"v{version.version}", "figures": version.figures},
        reason=why,
    )


def scores_prune(*, now=None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.SAMPLE_RETENTION_DAYS)
    n, _ = RiskScore.objects.filter(scored_at__lt=cutoff).delete()
    m, _ = Anomaly.objects.filter(end__lt=cutoff).delete()
    return n + m


@transaction.atomic
def retrain_request(*, actor, reason: str) -> None:
    """An admin asks for a challenger now; the request is audited (the task does the work)."""
    require(actor, Cap.MANAGE_POLICY)
    if not reason.strip() or len(reason) > 500:
        raise ValidationFailed("reason: 1 to 500 characters", field="reason")
    audit_record(
        actor=actor,
        verb="model.retrain_requested",
        target_type="model",
        target_id="failure",
        target_repr="failure model",
        reason=reason,
    )
