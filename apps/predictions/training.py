"""The learning loop. A base model from sandbox histories serves until a cluster has enough
labelled history of its own; then challengers are trained on stored samples (daily, and after
enough new failures), judged against the champion on a time-ordered hold-out, and promoted
only when they beat it. Every version keeps its figures; promotions are audited."""

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sklearn
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.clusters.models import Cluster, ContainerSample, NodeSample
from apps.core.services import audit_record

from . import artifacts, dataset, failure, labels, selectors, simulate
from .models import ModelVersion
from .services import anomaly_refit_due, make_champion, served, version_create

log = logging.getLogger(__name__)
STALE_TRAINING = timedelta(minutes=40)  # longer than a training task's time limit
RETRAIN_COOLDOWN = timedelta(hours=1)
FAILING_WAIT = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerError")


@dataclass(frozen=True)
class FollowUps:
    """What training a scoring run should queue (each at most once at a time)."""

    fit_anomaly: bool = False
    train_base: bool = False
    retrain: bool = False


def follow_ups_due(*, cluster: Cluster, uncovered: int = 0) -> FollowUps:
    """After scoring `cluster`: mark training runs whose worker died failed (they stop
    reporting progress and would block training for good), then say what to queue: the
    cluster's anomaly refit when its schedule says so, the base model when no failure model
    serves, a challenger after enough new failures (at most hourly)."""
    now = timezone.now()
    selectors.training_now().filter(updated_at__lt=now - STALE_TRAINING).update(
        status=ModelVersion.Status.FAILED,
        error="interrupted: no progress reported for 40 minutes (the worker stopped?)",
        finished_at=now,
    )
    busy = selectors.training_now()
    fitting = busy.filter(kind=ModelVersion.Kind.ANOMALY, cluster=cluster).exists()
    fit = not fitting and anomaly_refit_due(cluster=cluster, uncovered=uncovered)
    if not settings.PREDICTION_AUTO_TRAIN or busy.filter(kind=ModelVersion.Kind.FAILURE).exists():
        return FollowUps(fit_anomaly=fit)
    if served(ModelVersion.Kind.FAILURE).model is None:  # none, or none loads
        return FollowUps(fit_anomaly=fit, train_base=True)
    recent = ModelVersion.objects.filter(
        kind=ModelVersion.Kind.FAILURE, source="cluster", created_at__gte=now - RETRAIN_COOLDOWN
    ).exists()
    more = not recent and failures_since_last_training() >= retrain_after()
    return FollowUps(fit_anomaly=fit, retrain=more)


def retrain_after() -> int:
    return settings.PREDICTION_RETRAIN_AFTER_FAILURES


def watermarks() -> dict[int, datetime]:
    """Per cluster, where the last training attempt's data ended. Each cluster keeps its own
    clock (a sandbox in fast-forward runs ahead of the wall), so one global mark would hide
    one cluster's failures behind another's newer samples."""
    last = (
        ModelVersion.objects.filter(kind=ModelVersion.Kind.FAILURE, source="cluster")
        .order_by("-created_at", "-pk")
        .values_list("params", flat=True)
        .first()
    )
    marks = (last or {}).get("watermarks", {})
    return {int(k): datetime.fromisoformat(v) for k, v in marks.items()}


def failures_since_last_training() -> int:
    """Pods seen failing (OOM, back-off) and nodes seen NotReady since each cluster's
    watermark: a cheap count that says when a retrain is worth it."""
    marks, total = watermarks(), 0
    retention = timedelta(days=settings.SAMPLE_RETENTION_DAYS)
    for cluster in Cluster.objects.filter(enabled=True, last_cluster_time__isnull=False):
        since = marks.get(cluster.pk) or cluster.last_cluster_time - retention
        pods = (
            ContainerSample.objects.filter(cluster=cluster, ts__gt=since)
            .filter(Q(oom_killed=True) | Q(waiting_reason__in=FAILING_WAIT))
            .values("namespace", "pod")
            .distinct()
            .count()
        )
        nodes = (
            NodeSample.objects.filter(cluster=cluster, ts__gt=since, ready=False)
            .values("node")
            .distinct()
            .count()
        )
        total += pods + nodes
    return total


def _start(*, source: str, trigger: str, actor: str, low_confidence: bool) -> ModelVersion:
    return version_create(
        kind=ModelVersion.Kind.FAILURE,
        source=source,
        trigger=trigger,
        trained_by=actor,
        low_confidence=low_confidence,
        sklearn_version=sklearn.__version__,
        params={"horizon_minutes": settings.PREDICTION_HORIZON_MINUTES},
    )


def _progress(version: ModelVersion) -> Callable[[int, str], None]:
    """Progress is written as it happens (autocommit), so the Models page can show it."""

    def report(pct: int, note: str) -> None:
        ModelVersion.objects.filter(pk=version.pk).update(
            progress=pct, progress_note=note[:200], updated_at=timezone.now()
        )

    return report


def _failed(version: ModelVersion, exc: BaseException) -> None:
    log.exception("training %s failed", version)
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.FAILED,
        error="".join(traceback.format_exception_only(exc)).strip()[:2000],
        finished_at=timezone.now(),
    )


def _fill(version: ModelVersion, model, train: dataset.Dataset, test: dataset.Dataset) -> None:
    version.rows_train, version.rows_test = len(train), len(test)
    version.positives_train, version.positives_test = train.positives, test.positives
    version.feature_importances = {
        k: round(v, 5) for k, v in sorted(model.importances.items(), key=lambda kv: -kv[1])
    }
    version.params = {
        **version.params,
        "threshold": round(model.threshold, 4),
        "max_fpr": model.max_fpr,
        "calibration": model.calibration,
        "n_features": len(model.feature_names),
    }
    name = f"failure-v{version.version}.pkl"
    version.artifact, version.artifact_sha256 = artifacts.write(settings.MODEL_DIR, name, model)
    version.finished_at, version.progress, version.progress_note = timezone.now(), 100, "done"


# --- the base model -------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseSpec:
    """Which sandbox histories the base model learns from and is judged on."""

    scenarios: tuple[str, ...] = tuple(dataset.BASE_SCENARIOS)
    train_seeds: tuple[int, ...] = tuple(dataset.BASE_TRAIN_SEEDS)
    holdout_seeds: tuple[int, ...] = tuple(dataset.BASE_HOLDOUT_SEEDS)
    hours: float = dataset.BASE_HOURS


def base_model_ensure(
    *, actor: str = "system:install", spec: BaseSpec = BaseSpec()
) -> ModelVersion | None:
    """Train the cold-start base model when no failure model can serve."""
    if served(ModelVersion.Kind.FAILURE).model is not None:
        return None
    version = _start(
        source="sandbox-base",
        trigger="no usable failure model: cold start",
        actor=actor,
        low_confidence=True,
    )
    try:
        return _train_base(version, _progress(version), spec)
    except Exception as exc:
        _failed(version, exc)
        raise


def simulated(spec: BaseSpec, seeds, report=None, first: int = 0, last: int = 0):
    """Labelled rows from sandbox runs of every scenario in `spec` under each seed."""
    horizon = settings.PREDICTION_HORIZON_MINUTES
    runs = [(s, seed) for seed in seeds for s in spec.scenarios]
    parts = []
    for i, (scenario, seed) in enumerate(runs):
        if report:
            report(first + (last - first) * i // len(runs), f"simulating {scenario}, seed {seed}")
        sim = simulate.simulate(scenario, seed=seed, hours=spec.hours, vary=True)
        parts.append(
            dataset.from_frames(sim.frames, horizon_minutes=horizon, group=f"{scenario}#{seed}")
        )
    return dataset.concat(parts)


def _train_base(version: ModelVersion, report, spec: BaseSpec) -> ModelVersion:
    train = simulated(spec, spec.train_seeds, report, 0, 60)
    test = simulated(spec, spec.holdout_seeds, report, 60, 80)
    report(80, f"training on {len(train):,} rows ({train.positives:,} before a failure)")
    model = fit_failure(train)
    report(95, "evaluating on sandbox seeds it never saw")
    version.figures = dataset.score(model, test)
    version.data_from, version.data_to = None, None
    version.params.update(
        scenarios=list(spec.scenarios),
        train_seeds=list(spec.train_seeds),
        holdout_seeds=list(spec.holdout_seeds),
        hours=spec.hours,
    )
    _fill(version, model, train, test)
    with transaction.atomic():
        make_champion(
            version,
            version.trained_by,
            "base model from sandbox histories (low confidence until the cluster has labelled "
            "history of its own)",
        )
    return version


# --- challengers ----------------------------------------------------------------------------


def _history() -> dataset.Dataset | None:
    horizon = settings.PREDICTION_HORIZON_MINUTES
    parts = []
    for cluster in Cluster.objects.all():
        first, last = selectors.samples_span(cluster=cluster)
        if first is None:
            continue
        since = max(first, last - timedelta(days=settings.PREDICTION_TRAIN_DAYS))
        frames = selectors.samples_frames(cluster=cluster, since=since, until=last)
        outcomes = labels.outcome_failures(
            selectors.action_outcomes(cluster=cluster, since=since, until=last)
        )
        parts.append(
            dataset.from_frames(
                frames, horizon_minutes=horizon, group=cluster.name, outcomes=outcomes
            )
        )
    return dataset.concat(parts) if any(len(p) for p in parts) else None


def challenger_train(*, trigger: str, actor: str) -> ModelVersion:
    """Train on every cluster's stored history; promote only if better than the champion."""
    version = _start(source="cluster", trigger=trigger, actor=actor, low_confidence=False)
    # Every attempt moves each cluster's watermark, so failures already seen never trigger
    # it again.
    marks = {}
    for cluster in Cluster.objects.all():
        _, newest = selectors.samples_span(cluster=cluster)
        if newest is not None:
            marks[str(cluster.pk)] = newest.isoformat()
    version.params = {**version.params, "watermarks": marks}
    version.data_to = max(map(datetime.fromisoformat, marks.values()), default=timezone.now())
    version.save(update_fields=["params", "data_to"])
    report = _progress(version)
    try:
        report(5, "reading stored samples")
        history = _history()
        if history is None:
            return _reject(version, "no stored samples yet; the current model keeps serving")
        episodes = len(history.episodes)
        if episodes < settings.PREDICTION_MIN_FAILURES or history.positives == 0:
            return _reject(
                version,
                f"not enough labelled history: {episodes} failure episodes observed, "
                f"{settings.PREDICTION_MIN_FAILURES} needed; the current model keeps serving",
            )
        train, test = dataset.split_by_time(history)
        if train.positives == 0 or test.positives == 0 or len(test.episodes) == 0:
            return _reject(version, "failures fall on one side of the time split only; waiting")
        report(30, f"training on {len(train):,} rows")
        try:
            model = fit_failure(train)
        except ValueError as exc:  # e.g. the calibration slice holds no failure
            return _reject(version, f"cannot train on this history yet: {exc}")
        report(80, "judging against the champion on the latest 30% of the history")
        return _judge(version, model, train, test, history)
    except Exception as exc:
        _failed(version, exc)
        raise


def fit_failure(train: dataset.Dataset):
    """The failure model from a labelled dataset, as every training here fits it."""
    return failure.train(
        train.features,
        train.y,
        groups=train.group,
        times=train.features["ts"],
        minutes_to_failure=train.minutes_to_failure,
        horizon_minutes=settings.PREDICTION_HORIZON_MINUTES,
    )


def _judge(version, model, train, test, history) -> ModelVersion:
    version.figures = dataset.score(model, test)
    current = served(ModelVersion.Kind.FAILURE)
    if current.model is not None:
        version.champion_figures = dataset.score(current.model, test)
    version.data_from = history.features["ts"].min()
    _fill(version, model, train, test)
    better, why = beats(version.figures, version.champion_figures or None)
    if not better:
        return _reject(version, why, keep_artifact=True)
    with transaction.atomic():
        make_champion(version, version.trained_by, why)
    return version


def beats(new: dict, old: dict | None) -> tuple[bool, str]:
    """Promotion rule: no worse PR-AUC, false-positive rate (within 5%) and event recall, and
    strictly better on at least one of them — or no champion to beat. Says why either way."""
    if old is None:
        return True, "no champion to compare with"

    def get(d: dict, k: str) -> float:
        return d.get(k) if d.get(k) is not None else 0.0

    checks = []
    for key, label, no_worse, better in (
        ("pr_auc", "PR-AUC", lambda n, o: n >= o, lambda n, o: n > o),
        ("fpr", "false-positive rate", lambda n, o: n <= max(o, 0.05), lambda n, o: n < o),
        ("event_recall", "event recall", lambda n, o: n >= o, lambda n, o: n > o),
    ):
        n, o = get(new, key), get(old, key)
        checks.append((no_worse(n, o), better(n, o), f"{label} {n:.3f} vs {o:.3f}"))
    said = "; ".join(text for *_, text in checks)
    lost = [text for ok, _, text in checks if not ok]
    if lost:
        return False, "kept the champion: worse on " + "; ".join(lost)
    if not any(gain for _, gain, _ in checks):
        return False, "kept the champion: no better on any figure (" + said + ")"
    return True, "beats the champion: " + said


def _reject(version: ModelVersion, why: str, keep_artifact: bool = False) -> ModelVersion:
    with transaction.atomic():
        version.status = ModelVersion.Status.REJECTED
        version.decision = why
        version.finished_at, version.progress = timezone.now(), 100
        if not keep_artifact:
            version.progress_note = "not trained"
        version.save()
        audit_record(
            actor=version.trained_by,
            verb="model.rejected",
            target_type="model",
            target_id=str(version.pk),
            target_repr=f"failure model v{version.version}",
            after={"figures": version.figures, "champion": version.champion_figures},
            reason=why,
        )
    return version
