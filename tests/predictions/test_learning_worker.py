"""The learning loop on a real Celery worker, on history the collector stored: a challenger
trained on the clusters' own failures is judged on a time-ordered hold-out and promoted;
a workload deployed after the anomaly refit gets a detector of its own without waiting for
the next six-hourly refit."""

from datetime import timedelta

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.core.models import AuditEvent
from apps.predictions import services, tasks
from apps.predictions.models import ModelVersion
from tests.support.paths import WORKER_MODEL_DIR
from tests.support.sandbox import START, collect_through, sandbox_cluster, start_sandbox
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _finished(kind: str, after: int = 0) -> ModelVersion | None:
    return (
        ModelVersion.objects.filter(kind=kind, pk__gt=after)
        .exclude(status=ModelVersion.Status.TRAINING)
        .order_by("-pk")
        .first()
    )


@pytest.fixture
def second_leak(tmp_path):
    """The same memory leak an hour later on another cluster: one failure before the
    hold-out's cut and one after it."""
    server = start_sandbox(
        tmp_path / "second", "memory-leak", seed=2, start=START + timedelta(hours=1)
    )
    yield server
    server.stop()


def test_a_challenger_trained_on_stored_failures_is_promoted_on_the_worker(
    celery_worker_process, settings, leak, leak_cluster, second_leak
):
    settings.MODEL_DIR = WORKER_MODEL_DIR
    other = sandbox_cluster(second_leak, name="leak-later")
    collect_through(leak, leak_cluster, 30)  # OOM kills from about minute 17
    collect_through(second_leak, other, 30)
    tasks.retrain.delay(trigger="after the incident", actor="adam")
    version = wait_for(lambda: _finished("failure"), timeout=120, what="the challenger's training")
    assert version.status == ModelVersion.Status.CHAMPION, version.decision or version.error
    assert version.source == "cluster" and not version.low_confidence
    assert version.trigger == "after the incident" and version.trained_by == "adam"
    assert version.positives_train > 0 and version.positives_test > 0
    assert version.figures["events"] >= 1 and version.figures["pr_auc"] > 0.5
    # Each cluster's watermark is its own clock, an hour apart.
    marks = version.params["watermarks"]
    assert marks[str(leak_cluster.pk)] == leak_cluster.last_cluster_time.isoformat()
    assert marks[str(other.pk)] == other.last_cluster_time.isoformat()
    promoted = AuditEvent.objects.get(verb="model.promoted", target_id=str(version.pk))
    assert promoted.actor == "adam" and "no champion" in promoted.reason
    served = services.served("failure")
    assert served.version.pk == version.pk and served.model is not None

    # Retrained on the same history, the challenger equals the champion: it is judged
    # against it and kept out, since it beats it on nothing.
    tasks.retrain.delay(trigger="again", actor="adam")
    again = wait_for(
        lambda: _finished("failure", after=version.pk), timeout=120, what="the second training"
    )
    assert again.status == ModelVersion.Status.REJECTED
    assert again.champion_figures["pr_auc"] == pytest.approx(version.figures["pr_auc"])
    assert "no better on any figure" in again.decision
    assert AuditEvent.objects.filter(verb="model.rejected", target_id=str(again.pk)).exists()
    assert services.served("failure").version.pk == version.pk


def _deploy(kubeconfig, namespace: str, name: str) -> None:
    """What a user's `kubectl apply` does: ZeroTouch itself never creates workloads."""
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(str(kubeconfig), context="sandbox"))
    labels = {"app": name}
    container = {
        "name": name,
        "image": f"registry.local/{namespace}/{name}:1.0.0",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
    }
    api.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
    )


def test_a_workload_deployed_after_the_refit_gets_its_detector_within_the_hour(
    celery_worker_process, settings, sandbox
):
    settings.MODEL_DIR = WORKER_MODEL_DIR
    cluster = sandbox_cluster(sandbox)
    collect_through(sandbox, cluster, 16)
    tasks.score.delay(cluster.pk)  # what each collection queues on the worker
    first = wait_for(lambda: _finished("anomaly"), timeout=120, what="the first refit")
    assert ("workload", "shop/cart") not in services.load(first)["detectors"]

    _deploy(sandbox.kubeconfig, "shop", "cart")
    collect_through(sandbox, cluster, 31)  # 30 min of samples of the new workload
    tasks.score.delay(cluster.pk)
    second = wait_for(
        lambda: _finished("anomaly", after=first.pk), timeout=120, what="the refit for cart"
    )
    assert second.status == ModelVersion.Status.CHAMPION
    assert ("workload", "shop/cart") in services.load(second)["detectors"]
    assert second.data_to - first.data_to < timedelta(hours=services.ANOMALY_REFIT_HOURS)
