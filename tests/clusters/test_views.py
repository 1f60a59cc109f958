import pytest

from apps.clusters.models import Cluster, Workload
from apps.clusters.services import cluster_collect
from apps.core.models import AuditEvent
from tests.support.sandbox import sandbox_cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def collected(sandbox):
    cluster = sandbox_cluster(sandbox)
    cluster_collect(cluster=cluster)
    sandbox.sandbox.advance(30)
    cluster.refresh_from_db()
    cluster_collect(cluster=cluster)
    return cluster


def test_it_lists_clusters_with_health_and_marks_the_simulated_one(client, vic, collected):
    client.force_login(vic)
    html = client.get("/clusters/").content.decode()
    assert "simulated" in html and 'data-testid="health-sandbox">healthy' in html
    assert "v1.31.0-zerotouch-sandbox" in html
    part = client.get("/clusters/", headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<div id="cluster-table"')


def test_it_shows_nodes_workloads_events_and_a_usage_chart(client, vic, collected):
    client.force_login(vic)
    response = client.get("/clusters/sandbox/")
    html = response.content.decode()
    assert response.status_code == 200
    for text in (
        "node-1",
        "node-3",
        "web",
        "ledger",
        "protected",
        'data-chart="usage-chart-data"',
        "/static/plotly/plotly.min.js",
    ):
        assert text in html, text
    part = client.get("/clusters/sandbox/", headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<div id="cluster-live"')
    assert client.get("/clusters/nope/").status_code == 404


def test_an_admin_registers_a_cluster_and_it_is_audited(client, adam, tmp_path):
    client.force_login(adam)
    assert client.get("/clusters/new").status_code == 200
    response = client.post(
        "/clusters/new",
        {
            "name": "prod-eu",
            "connection": "kubeconfig",
            "kubeconfig_path": str(tmp_path / "kc"),
            "context": "prod",
            "environment": "production",
            "protected_namespaces": "kube-system, payments",
            "collect_interval_seconds": "60",
            "prometheus_url": "",
            "enabled": "on",
            "reason": "new region",
        },
    )
    assert response.status_code == 302
    c = Cluster.objects.get(name="prod-eu")
    assert c.protected_namespaces == ["kube-system", "payments"] and c.environment == "production"
    ev = AuditEvent.objects.get(verb="cluster.registered")
    assert ev.actor == "adam" and ev.reason == "new region"


def test_bad_registration_input_says_which_field(client, adam):
    client.force_login(adam)
    response = client.post(
        "/clusters/new",
        {
            "name": "x",
            "connection": "kubeconfig",
            "kubeconfig_path": "",
            "environment": "staging",
            "protected_namespaces": "kube-system",
            "collect_interval_seconds": "30",
        },
    )
    assert response.status_code == 400
    assert "kubeconfig_path: a kubeconfig path is required" in response.content.decode()
    assert not Cluster.objects.exists() and not AuditEvent.objects.exists()


def test_only_admins_may_register(client, olivia):
    client.force_login(olivia)
    assert client.get("/clusters/new").status_code == 403
    assert client.post("/clusters/new", {"name": "x"}).status_code == 403
    assert not Cluster.objects.exists()


def test_status_lists_clusters(client, vic, collected):
    client.force_login(vic)
    (c,) = client.get("/ai/status").json()["clusters"]
    assert c["name"] == "sandbox" and c["health"] == "healthy" and c["simulated"] is True
    assert c["nodes"] == 3 and c["pods"] > 10


def test_a_cluster_with_a_workload_not_ready_reads_degraded_and_says_which(client, vic, collected):
    assert collected.state == "healthy" and collected.failing_workloads == []
    Workload.objects.filter(cluster=collected, namespace="shop", name="api").update(
        ready_replicas=1
    )  # as a collection of a crash-looping api would store it
    client.force_login(vic)
    (c,) = client.get("/ai/status").json()["clusters"]
    api = Workload.objects.get(name="api")
    assert c["health"] == "degraded" and c["failing_workloads"] == [f"shop/api (1/{api.replicas})"]
    listing = client.get("/clusters/").content.decode()
    assert 'data-testid="health-sandbox">degraded' in listing and "1 workload not ready" in listing
    detail = client.get("/clusters/sandbox/").content.decode()
    assert 'data-testid="cluster-state">degraded' in detail and "shop/api (1/" in detail
