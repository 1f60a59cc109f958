"""The beat entry's task on a real Celery worker: it queues collections, the worker collects
the sandbox over HTTPS into PostgreSQL."""

import time

import pytest

from apps.clusters.models import ContainerSample, Pod
from apps.clusters.services import cluster_create
from apps.clusters.tasks import collect_due
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_worker_collects_due_clusters(celery_worker_process, sandbox):
    cluster_create(
        actor="system:test",
        name="sandbox",
        connection="sandbox",
        kubeconfig_path=str(sandbox.kubeconfig),
        context="sandbox",
        collect_interval_seconds=5,
    )
    collect_due.delay()  # what beat sends every 5 s
    wait_for(lambda: Pod.objects.count() > 10, timeout=60, what="the worker's collection")
    first = ContainerSample.objects.count()
    assert first == Pod.objects.count()
    t0 = sandbox.sandbox.now
    sandbox.sandbox.advance(30)
    time.sleep(5.5)  # the cluster's interval elapses
    collect_due.delay()
    wait_for(
        lambda: ContainerSample.objects.count() >= 2 * first, timeout=60, what="a second collection"
    )
    # Samples carry the cluster's clock, not the worker's.
    assert set(ContainerSample.objects.values_list("ts", flat=True).distinct()) == {
        t0,
        sandbox.sandbox.now,
    }
