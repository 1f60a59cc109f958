"""History from a real Prometheus (Debian's package) that scrapes the sandbox's /metrics."""

import os
from datetime import UTC, datetime, timedelta

import pytest

from apps.clusters.models import ContainerSample, NodeSample
from apps.clusters.promql import PrometheusError, query_range
from apps.clusters.services import cluster_collect, cluster_create
from tests.support.prometheus import PROMETHEUS, free_port, scraping
from tests.support.sandbox import start_sandbox

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not os.path.exists(PROMETHEUS) and os.environ.get("REQUIRE_SERVICES") != "1",
        reason="needs Debian's prometheus package (apt-get install prometheus)",
    ),
]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """A real-time sandbox and a Prometheus scraping it every second (shared by the module),
    once it holds a few seconds of history."""
    tmp_path = tmp_path_factory.mktemp("prometheus")
    server = start_sandbox(
        tmp_path, speed=1, start=datetime.now(UTC).replace(microsecond=0), warmup=0
    )
    server.sandbox.advance(0)
    try:
        with scraping(server, tmp_path, history=12) as url:
            yield server, url
    finally:
        server.stop()


def test_it_reads_history_through_query_range(scraped):
    _, url = scraped
    end = datetime.now(UTC)
    series = query_range(
        url,
        'container_memory_working_set_bytes{namespace="shop"}',
        end - timedelta(seconds=10),
        end,
        1,
    )
    assert len(series) >= 9  # web 3 + api 4 + worker 2 containers
    labels, points = series[0]
    assert {"namespace", "pod", "container"} <= set(labels)
    assert len(points) >= 5 and all(v > 0 for _, v in points)


def test_a_cluster_with_a_prometheus_url_learns_its_history_from_it(scraped):
    server, url = scraped
    cluster = cluster_create(
        actor="system:test",
        name="sandbox",
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context="sandbox",
        prometheus_url=url,
        collect_interval_seconds=5,
    )
    result = cluster_collect(cluster=cluster)
    assert result.ok and result.message == "ok", result.message  # no Prometheus warning
    samples = ContainerSample.objects.filter(cluster=cluster)
    assert samples.values("ts").distinct().count() >= 2  # history, not one snapshot
    web = samples.filter(workload="web")
    assert web.exists() and all(s.memory > 0 and s.limit_memory == 512 * 2**20 for s in web)
    assert {"web", "api", "worker", "ledger"} <= set(samples.values_list("workload", flat=True))
    assert NodeSample.objects.filter(cluster=cluster, ready=True).exists()
    cluster.refresh_from_db()
    assert cluster.history_until is not None


def test_an_unreachable_prometheus_is_a_warning_not_a_crash(sandbox):
    cluster = cluster_create(
        actor="system:test",
        name="sandbox",
        connection="sandbox",
        kubeconfig_path=str(sandbox.kubeconfig),
        context="sandbox",
        prometheus_url=f"http://127.0.0.1:{free_port()}",
    )
    result = cluster_collect(cluster=cluster)
    assert result.ok and "Prometheus" in result.message
    cluster.refresh_from_db()
    assert cluster.health == "degraded" and "unreachable" in cluster.last_error
    with pytest.raises(PrometheusError):
        query_range(cluster.prometheus_url, "up", datetime.now(UTC), datetime.now(UTC), 1)
