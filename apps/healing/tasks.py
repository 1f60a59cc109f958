"""Thin Celery tasks: a healing cycle follows each scoring of a cluster; a person's request for
an incident's latest log lines is read here, where the cluster's credentials are."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from apps.clusters.models import Cluster

from . import log_fetch, services

log = logging.getLogger(__name__)


@shared_task(name="healing.cycle", ignore_result=True, soft_time_limit=60, time_limit=90)
def cycle(cluster_id: int) -> None:
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is None:
        return
    r = services.heal_cycle(cluster=cluster)
    if r.opened or r.proposed or r.resolved or r.escalated:
        log.info(
            "healing %s: %d found, opened %s, proposed %s, resolved %s, escalated %s",
            cluster.name,
            len(r.found),
            r.opened,
            r.proposed,
            r.resolved,
            r.escalated,
        )


@shared_task(
    name=log_fetch.TASK,
    ignore_result=True,
    acks_late=True,
    soft_time_limit=log_fetch.TIME_LIMIT - 5,
    time_limit=log_fetch.TIME_LIMIT,
)
def logs_fetch(excerpt_id: int) -> None:
    """Fill the pending LogExcerpt `excerpt_id` with the latest lines (queued with `expires`
    by log_fetch_request: a request no worker took in time is marked lost there)."""
    try:
        log_fetch.log_fetch_run(excerpt_id=excerpt_id)
    except SoftTimeLimitExceeded:
        log_fetch.log_fetch_fail(excerpt_id=excerpt_id, error="the cluster took too long to answer")
