"""Thin Celery tasks: the hourly usage rollups the cost plan and waste report read."""

import logging

from celery import shared_task
from django.utils import timezone

from apps.clusters.models import Cluster

from . import rollups

log = logging.getLogger(__name__)


@shared_task(name="costs.rollup_usage", ignore_result=True, soft_time_limit=240, time_limit=300)
def rollup_usage() -> int:
    """Beat, every minute: roll up each cluster's complete hours (a catch-up takes up to a day
    of hours per run, so 14 days of history are rolled within a quarter of an hour), and drop
    rollups past the samples' retention."""
    rollups.prune(now=timezone.now())
    total = 0
    for cluster in Cluster.objects.order_by("pk"):
        hours = rollups.rollup_cluster(cluster)
        if hours:
            log.info("rolled up %d hour(s) of %s", hours, cluster.name)
        total += hours
    return total
