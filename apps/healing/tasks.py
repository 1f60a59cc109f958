"""Thin Celery tasks: a healing cycle follows each scoring of a cluster."""

import logging

from celery import shared_task

from apps.clusters.models import Cluster

from . import services

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
