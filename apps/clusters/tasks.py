import logging
import time

from celery import current_app, shared_task
from django.utils import timezone

from apps.core.services import work_observe

from . import services
from .models import Cluster

log = logging.getLogger(__name__)


@shared_task(name="clusters.collect_due", ignore_result=True)
def collect_due() -> int:
    """Beat, every 5 s: queue a collection for each enabled cluster whose interval elapsed."""
    now = timezone.now()
    queued = 0
    for c in Cluster.objects.filter(enabled=True):
        last = c.last_checked_at
        # The collection itself moves last_checked_at a moment after the claim: a second of
        # slack keeps a 5 s interval at 5 s instead of every other beat.
        if last is None or (now - last).total_seconds() >= c.collect_interval_seconds - 1:
            # Claim the slot first, so a slow collection is not queued twice.
            claimed = Cluster.objects.filter(pk=c.pk, last_checked_at=last).update(
                last_checked_at=now
            )
            if claimed:
                # A collection still queued after its interval is worthless: drop it.
                collect.apply_async((c.pk,), expires=max(c.collect_interval_seconds, 10))
                queued += 1
    return queued


@shared_task(
    name="clusters.collect", ignore_result=True, acks_late=True, soft_time_limit=120, time_limit=150
)
def collect(cluster_id: int) -> None:
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is None:
        return
    started, ok = time.monotonic(), False
    try:
        result = services.cluster_collect(cluster=cluster)
        ok = result.ok
    finally:  # /metrics: the collection's duration, and whether it failed
        work_observe(
            name="collection",
            labels={"cluster": cluster.name},
            seconds=time.monotonic() - started,
            ok=ok,
        )
    if result.ok:
        # Scoring belongs to predictions; by name, so clusters does not import it.
        # A scoring still queued after the next collection is stale: it expires.
        current_app.send_task(
            "predictions.score",
            args=(cluster.pk,),
            expires=max(cluster.collect_interval_seconds, 10),
        )
    log.info(
        "collected %s: %s (%d pods, %d samples, %d events)",
        cluster.name,
        result.message,
        result.pods,
        result.samples,
        result.events,
    )


@shared_task(name="clusters.prune_samples", ignore_result=True)
def prune_samples() -> int:
    """Beat, hourly: retention for samples and events."""
    return services.samples_prune()
