"""On a real Celery worker: a collection is followed by scoring, so risk scores appear
without anyone asking; the API reads them."""

import pytest
from django.test import Client

from apps.clusters.tasks import collect
from apps.predictions import training
from apps.predictions.models import RiskScore
from tests.support.base_model import SMALL
from tests.support.paths import WORKER_MODEL_DIR
from tests.support.sandbox import sandbox_cluster
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_scores_follow_each_collection_on_the_worker(celery_worker_process, sandbox, settings, vic):
    settings.MODEL_DIR = WORKER_MODEL_DIR  # the worker reads the model trained here
    base = training.base_model_ensure(spec=SMALL)
    cluster = sandbox_cluster(sandbox)
    for _ in range(12):  # six minutes of history: every workload has enough to be scored
        sandbox.sandbox.advance(30)
        collect.delay(cluster.pk)
        wait_for(
            lambda: (
                cluster.__class__.objects.get(pk=cluster.pk).last_cluster_time
                == sandbox.sandbox.now
            ),
            timeout=30,
            what="the worker's collection",
        )
    at = sandbox.sandbox.now
    wait_for(
        lambda: RiskScore.objects.filter(
            cluster=cluster, scored_at=at, risk__isnull=False
        ).exists(),
        timeout=60,
        what="scores of the last collection",
    )
    client = Client()
    client.force_login(vic)
    body = client.get("/ai/predict", {"cluster": "sandbox", "kind": "workload"}).json()
    assert body["model"]["version"] == base.version and body["model"]["low_confidence"]
    names = {i["name"] for i in body["items"]}
    assert {"web", "api", "worker", "ledger", "coredns"} <= names
    assert all(i["risk"] is not None and 0 <= i["risk"] <= 100 for i in body["items"])
    assert all(i["level"] in ("low", "medium", "high", "critical") for i in body["items"])
