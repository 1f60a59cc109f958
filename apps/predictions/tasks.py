"""Thin Celery tasks: ids in, services do the work. Scoring follows every collection;
training runs from beat (daily), after enough new failures, and once for the base model."""

import logging
import time
from contextlib import contextmanager

from celery import current_app, shared_task
from django.conf import settings

from apps.clusters.models import Cluster
from apps.core.services import work_observe

from . import selectors, services, training
from .models import ModelVersion

log = logging.getLogger(__name__)


@contextmanager
def _timed(kind: str):
    """/metrics: a training's duration, and whether it failed."""
    started, ok = time.monotonic(), False
    try:
        yield
        ok = True
    finally:
        work_observe(
            name="training", labels={"kind": kind}, seconds=time.monotonic() - started, ok=ok
        )


@shared_task(name="predictions.score", ignore_result=True, soft_time_limit=60, time_limit=90)
def score(cluster_id: int) -> None:
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is None:
        return
    started, ok = time.monotonic(), False
    try:
        result = services.cluster_score(cluster=cluster)
        ok = True
    finally:  # /metrics: the scoring's duration, and whether it failed
        work_observe(
            name="scoring",
            labels={"cluster": cluster.name},
            seconds=time.monotonic() - started,
            ok=ok,
        )
    log.info(
        "scored %s: %s (%d scored, %d without enough data, %d anomalies opened)",
        cluster.name,
        result.message,
        result.scored,
        result.unknown,
        result.anomalies_opened,
    )
    # Healing reads the fresh scores; by name, so predictions does not import it. A cycle
    # still queued after the next collection is stale: it expires.
    current_app.send_task(
        "healing.cycle", args=(cluster.pk,), expires=max(cluster.collect_interval_seconds, 10)
    )
    _follow_ups(cluster, uncovered=result.uncovered)


def _follow_ups(cluster: Cluster, *, uncovered: int = 0) -> None:
    """Queue the training the scoring needs (training.follow_ups_due decides)."""
    due = training.follow_ups_due(cluster=cluster, uncovered=uncovered)
    if due.fit_anomaly:
        fit_anomaly.delay(cluster.pk)
    if due.train_base:
        train_base.delay()
    if due.retrain:
        retrain.delay(trigger="new failures observed")


@shared_task(
    name="predictions.fit_anomaly", ignore_result=True, soft_time_limit=600, time_limit=660
)
def fit_anomaly(cluster_id: int) -> None:
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is not None:
        with _timed("anomaly"):
            services.anomaly_fit(cluster=cluster)


@shared_task(
    name="predictions.train_base", ignore_result=True, soft_time_limit=1800, time_limit=1900
)
def train_base() -> None:
    with _timed("failure"):
        training.base_model_ensure()


@shared_task(name="predictions.retrain", ignore_result=True, soft_time_limit=1800, time_limit=1900)
def retrain(trigger: str = "daily", actor: str = "system:beat") -> None:
    if trigger == "daily" and not settings.PREDICTION_AUTO_TRAIN:
        return
    if selectors.training_now().filter(kind=ModelVersion.Kind.FAILURE).exists():
        log.info("a failure model is already training: %s skipped", trigger)
        return
    with _timed("failure"):
        training.challenger_train(trigger=trigger, actor=actor)


@shared_task(name="predictions.prune", ignore_result=True)
def prune() -> int:
    return services.scores_prune()
