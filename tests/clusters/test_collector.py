"""Collection into PostgreSQL: inventory, samples and events from the sandbox, and clusters
that fail in every way a real one can."""

import pytest
import yaml

from apps.clusters.models import (
    Cluster,
    ClusterEvent,
    ContainerSample,
    Node,
    NodeSample,
    Pod,
    Workload,
)
from apps.clusters.services import cluster_collect, cluster_create, samples_prune
from apps.core.models import AuditEvent
from tests.support.sandbox import start_sandbox

pytestmark = pytest.mark.django_db


def _register(server, name="sandbox", context="sandbox") -> Cluster:
    return cluster_create(
        actor="system:test",
        name=name,
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context=context,
    )


def test_it_stores_inventory_samples_and_events(sandbox):
    cluster = _register(sandbox)
    result = cluster_collect(cluster=cluster)
    assert result.ok, result.message
    cluster.refresh_from_db()
    assert cluster.health == "healthy" and cluster.reachable and cluster.node_count == 3
    assert cluster.server_version.startswith("v1.31")
    assert cluster.last_cluster_time == sandbox.sandbox.now
    assert Node.objects.filter(cluster=cluster, ready=True).count() == 3
    assert set(Workload.objects.values_list("name", flat=True)) == {
        "web",
        "api",
        "worker",
        "ledger",
        "coredns",
    }
    web = Pod.objects.filter(cluster=cluster, workload="web")
    assert web.count() == 3 and all(p.ready for p in web)
    samples = ContainerSample.objects.filter(cluster=cluster)
    assert samples.count() == Pod.objects.count()  # one container per pod in this scenario
    s = samples.filter(workload="web").first()
    assert s.cpu_m > 0 and s.memory > 0 and s.limit_memory == 512 * 2**20 and s.ready
    assert s.ts == sandbox.sandbox.now
    assert NodeSample.objects.filter(cluster=cluster).count() == 3
    assert ClusterEvent.objects.filter(cluster=cluster, reason="Scheduled").exists()
    assert AuditEvent.objects.filter(verb="cluster.registered").count() == 1


def test_a_second_collection_updates_without_duplicating(sandbox):
    cluster = _register(sandbox)
    cluster_collect(cluster=cluster)
    events = ClusterEvent.objects.count()
    victim = Pod.objects.filter(workload="web").first().name
    sandbox.sandbox.store.get("pods", "shop", victim)  # exists now
    from apps.clusters.gateway import Gateway

    gw = Gateway.from_kubeconfig(sandbox.kubeconfig, "sandbox")
    pod = gw.pod("shop", victim)
    gw.delete_pod("shop", victim, uid=pod.uid)
    sandbox.sandbox.advance(45)
    cluster.refresh_from_db()
    cluster_collect(cluster=cluster)
    assert not Pod.objects.filter(name=victim).exists()  # gone from the inventory
    assert Pod.objects.filter(workload="web").count() == 3
    assert Node.objects.count() == 3
    assert ContainerSample.objects.count() == 2 * Pod.objects.count()  # two snapshots
    assert ClusterEvent.objects.count() > events  # Killing, SuccessfulCreate, Scheduled...
    assert ClusterEvent.objects.values("uid").distinct().count() == ClusterEvent.objects.count()


def test_an_unreachable_cluster_is_marked_with_the_reason(tmp_path):
    server = start_sandbox(tmp_path)
    cluster = _register(server)
    server.stop()
    result = cluster_collect(cluster=cluster)
    assert not result.ok
    cluster.refresh_from_db()
    assert cluster.reachable is False and cluster.health == "unreachable"
    assert "Unreachable" in cluster.last_error and "Connection refused" in cluster.last_error
    assert not Pod.objects.exists()


def test_a_bad_kubeconfig_and_rbac_refusal_are_reported_not_raised(sandbox, tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_text("not: [a kubeconfig")
    broken = cluster_create(
        actor="system:test", name="broken", connection="kubeconfig", kubeconfig_path=str(garbage)
    )
    assert not cluster_collect(cluster=broken).ok
    broken.refresh_from_db()
    assert broken.reachable is False and "ConfigInvalid" in broken.last_error

    forbidden = _register(sandbox, name="forbidden", context="sandbox-nobody")
    assert not cluster_collect(cluster=forbidden).ok
    forbidden.refresh_from_db()
    assert forbidden.reachable is True and "Forbidden" in forbidden.last_error

    expired = yaml.safe_load(sandbox.kubeconfig.read_text())
    expired["users"][0]["user"]["token"] = "expired-token"
    path = tmp_path / "expired"
    path.write_text(yaml.safe_dump(expired))
    stale = cluster_create(
        actor="system:test",
        name="stale",
        connection="kubeconfig",
        kubeconfig_path=str(path),
        context="sandbox",
    )
    cluster_collect(cluster=stale)
    stale.refresh_from_db()
    assert "Unauthorized" in stale.last_error

    good = _register(sandbox, name="good")  # the others' failures do not touch this one
    assert cluster_collect(cluster=good).ok


def test_a_cluster_without_metrics_is_degraded_but_collected(tmp_path):
    server = start_sandbox(tmp_path, metrics_api=False)
    try:
        cluster = _register(server)
        result = cluster_collect(cluster=cluster)
        assert result.ok and "metrics unavailable" in result.message
        cluster.refresh_from_db()
        assert cluster.health == "degraded" and cluster.metrics_available is False
        assert Pod.objects.count() > 0
        assert ContainerSample.objects.filter(cpu_m__isnull=True).count() == Pod.objects.count()
    finally:
        server.stop()


def test_retention_drops_old_samples_only(sandbox, settings):
    from datetime import timedelta

    cluster = _register(sandbox)
    cluster_collect(cluster=cluster)
    settings.SAMPLE_RETENTION_DAYS = 14
    now = sandbox.sandbox.now
    assert samples_prune(now=now + timedelta(days=13)) == 0
    total = ContainerSample.objects.count() + NodeSample.objects.count()
    assert samples_prune(now=now + timedelta(days=15)) >= total
    assert not ContainerSample.objects.exists() and not NodeSample.objects.exists()
    assert Pod.objects.exists()  # inventory is current state, not history


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"connection": "carrier-pigeon"}, "connection"),
        ({"connection": "kubeconfig", "kubeconfig_path": ""}, "kubeconfig_path"),
        (
            {
                "connection": "sandbox",
                "kubeconfig_path": "/tmp/x",
                "protected_namespaces": ["Bad_NS"],
            },
            "protected_namespaces",
        ),
        (
            {"connection": "sandbox", "kubeconfig_path": "/tmp/x", "collect_interval_seconds": 1},
            "collect_interval_seconds",
        ),
        (
            {"connection": "sandbox", "kubeconfig_path": "/tmp/x", "prometheus_url": "ftp://x"},
            "prometheus_url",
        ),
    ],
)
def test_registration_names_the_bad_field(data, field):
    from apps.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        cluster_create(actor="system:test", name="c1", **data)
    assert exc.value.field == field
    assert not Cluster.objects.exists() and not AuditEvent.objects.exists()


def test_a_collected_scenario_leaves_its_failures_in_the_samples(tmp_path):
    """Collect the memory-leak scenario every 30 s of cluster time: the OOM kills, restarts
    and warning events the predictions will learn from are all in the database."""
    server = start_sandbox(tmp_path, "memory-leak")
    try:
        cluster = _register(server)
        for _ in range(50):  # 25 minutes of cluster time
            server.sandbox.advance(30)
            cluster.refresh_from_db()
            assert cluster_collect(cluster=cluster).ok
        api = ContainerSample.objects.filter(cluster=cluster, workload="api")
        assert api.values("ts").distinct().count() == 50
        assert api.filter(oom_killed=True).exists()
        assert api.filter(restarts__gt=0).exists()
        assert max(api.values_list("memory", flat=True)) > 600 * 2**20  # it grew to the limit
        assert ClusterEvent.objects.filter(
            cluster=cluster, reason="OOMKilling", type="Warning"
        ).exists()
        web = ContainerSample.objects.filter(cluster=cluster, workload="web")
        assert not web.filter(restarts__gt=0).exists()  # the others stayed healthy
    finally:
        server.stop()


def test_a_broken_metrics_server_degrades_but_does_not_hide_the_cluster(tmp_path):
    server = start_sandbox(tmp_path, metrics_api="broken")  # 503 from metrics.k8s.io
    try:
        cluster = _register(server)
        result = cluster_collect(cluster=cluster)
        assert result.ok and "metrics unavailable" in result.message
        cluster.refresh_from_db()
        assert cluster.health == "degraded" and Pod.objects.count() > 10
    finally:
        server.stop()


def test_one_collection_at_a_time_per_cluster(sandbox):
    from datetime import timedelta

    from django.utils import timezone

    cluster = _register(sandbox)
    Cluster.objects.filter(pk=cluster.pk).update(
        collecting_until=timezone.now() + timedelta(minutes=1)
    )  # another run holds the lease
    result = cluster_collect(cluster=cluster)
    assert not result.ok and "another collection" in result.message
    assert not Pod.objects.exists()
    Cluster.objects.filter(pk=cluster.pk).update(
        collecting_until=timezone.now() - timedelta(seconds=1)
    )  # a lease left by a dead worker
    assert cluster_collect(cluster=cluster).ok
    cluster.refresh_from_db()
    assert cluster.collecting_until is None  # released


def test_a_cluster_not_collected_for_three_intervals_reads_stale(sandbox):
    from datetime import timedelta

    cluster = _register(sandbox)
    cluster_collect(cluster=cluster)
    cluster.refresh_from_db()
    assert cluster.health == "healthy"
    cluster.last_collected_at -= timedelta(seconds=3 * cluster.collect_interval_seconds + 31)
    assert cluster.health == "stale"


def test_a_terminating_pod_is_listed_as_such_and_not_sampled(tmp_path):
    """Drained off a lost node it stays Terminating; its replacement is what gets sampled."""
    server = start_sandbox(tmp_path, "node-not-ready")
    try:
        cluster = _register(server)
        server.sandbox.advance(21 * 60)  # node-2 NotReady since minute 20
        from apps.clusters.gateway import Gateway

        gw = Gateway.from_kubeconfig(server.kubeconfig, "sandbox")
        [going, *_] = [p for p in gw.pods() if p.node == "node-2"]
        gw.evict_pod(going.namespace, going.name)
        gw.close()
        assert cluster_collect(cluster=cluster).ok
        row = Pod.objects.get(cluster=cluster, name=going.name)
        assert row.reason == "Terminating" and row.node == "node-2"
        assert not ContainerSample.objects.filter(cluster=cluster, pod=going.name).exists()
        sampled = set(ContainerSample.objects.filter(cluster=cluster).values_list("pod", flat=True))
        assert sampled == set(
            Pod.objects.exclude(reason="Terminating").values_list("name", flat=True)
        )
    finally:
        server.stop()
