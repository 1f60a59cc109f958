"""Cost allocation on the database (the sandbox collected by the collector's own code) and the
Costs page: every reader sees the charts, the namespace and workload tables and the prices
used; bad input names its field; a cluster without samples says so."""

import html
from datetime import timedelta

import pytest

from apps.clusters.models import ContainerSample
from apps.clusters.services import cluster_create
from apps.costs import rollups
from apps.costs.selectors import allocation_for
from tests.support.sandbox import collect_through, sandbox_cluster, start_sandbox
from tests.support.users import login

URL = "/costs/"
CENT = 0.01


@pytest.fixture
def served(db, tmp_path):
    """The healthy sandbox collected every 30 s for 20 simulated minutes, and its server."""
    server = start_sandbox(tmp_path)
    cluster = sandbox_cluster(server)
    try:
        collect_through(server, cluster, 20)
        yield server, cluster
    finally:
        server.stop()


@pytest.fixture
def collected(served):
    return served[1]


@pytest.fixture
def empty(db):
    return cluster_create(
        actor="system:test", name="prod", connection="kubeconfig", kubeconfig_path="/tmp/x"
    )


def _body(response) -> str:
    return html.unescape(response.content.decode())


def test_it_allocates_every_dollar_of_the_sandbox_nodes(collected):
    until = collected.last_cluster_time
    a = allocation_for(collected, since=until - timedelta(hours=1), until=until)
    assert not a.empty and a.node_cost > 0
    assert a.total == pytest.approx(sum(n.total for n in a.namespaces) + a.idle, abs=CENT)
    assert a.allocated + a.idle - a.over_allocated == pytest.approx(a.node_cost, abs=CENT)
    assert sum(w.total for w in a.workloads) == pytest.approx(a.allocated, abs=CENT)
    assert a.covered_until == until
    assert any(m.startswith("no samples before") for m in a.missing)  # an hour asked, 20 min kept
    shared = allocation_for(collected, since=until - timedelta(hours=1), until=until, idle="even")
    assert sum(n.idle for n in shared.namespaces) == pytest.approx(a.idle, abs=CENT)


def test_it_shows_vic_the_charts_and_the_namespace_table(client, vic, collected):
    response = login(client, vic).get(URL)
    assert response.status_code == 200
    body = _body(response)
    for chart in ("cost-namespaces-data", "cost-workloads-data", "cost-idle-data"):
        assert f'<script id="{chart}" type="application/json">' in body
    assert "$ per hour" in body and "$ over the range" in body
    assert 'data-testid="namespace-table"' in body and 'data-testid="workload-table"' in body
    a = allocation_for(
        collected,
        since=collected.last_cluster_time - timedelta(hours=24),
        until=collected.last_cluster_time,
    )
    for n in a.namespaces:
        assert f"<td>{n.name}</td>" in body
    assert "simulated" in body
    assert 'href="/costs/prices/#prices-sandbox"' in body and "$ per vCPU-hour" in body


def test_it_takes_an_iso_range_and_shares_idle(client, vic, collected):
    until = collected.last_cluster_time
    since = (until - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = login(client, vic).get(URL, {"cluster": "sandbox", "since": since, "idle": "even"})
    assert response.status_code == 200
    body = _body(response)
    assert "shared evenly across namespaces" in body
    assert 'data-testid="idle-row"' not in body  # every idle dollar is carried by a namespace


def test_a_bad_since_is_named_and_the_page_still_renders(client, vic, collected):
    response = login(client, vic).get(URL, {"since": "yesterday-ish"})
    assert response.status_code == 400  # the house pattern for bad filters
    body = _body(response)
    assert "since: 'yesterday-ish' is not an ISO 8601 time" in body
    assert 'data-testid="allocation-form"' in body and "<h1>Costs</h1>" in body


def test_a_range_over_14_days_is_refused(client, vic, empty):
    response = login(client, vic).get(
        URL, {"since": "2026-01-01T00:00:00Z", "until": "2026-01-20T00:00:00Z"}
    )
    assert response.status_code == 400
    assert "since: the range may be at most 14 days" in _body(response)


def test_a_cluster_without_samples_says_no_samples_yet(client, vic, empty):
    response = login(client, vic).get(URL, {"cluster": "prod"})
    assert response.status_code == 200
    body = _body(response)
    assert "No samples yet" in body and "It has not been collected yet" in body
    assert "cost-namespaces-data" not in body
    assert 'href="/costs/prices/"' in body  # the Prices link stays


def test_every_role_sees_it_and_anonymous_is_sent_to_log_in(client, olivia, alice, adam, empty):
    assert client.get(URL).status_code == 302
    for user in (olivia, alice, adam):
        assert login(client, user).get(URL).status_code == 200


def test_a_range_with_more_samples_than_one_read_takes_is_refused_with_one_that_fits(
    client, vic, served, settings
):
    """Allocation reads the raw samples of its range outside the cost rollups: past
    COSTS_ALLOCATION_MAX_SAMPLES it says so, with the hours that fit, instead of taking the
    web worker's memory."""
    server, collected = served
    settings.COSTS_ALLOCATION_MAX_SAMPLES = 100_000
    per = ContainerSample.objects.filter(cluster=collected, ts=collected.last_cluster_time).count()
    assert 3 <= per < 800  # so an hour fits and 14 days do not
    page = login(client, vic)
    ok = page.get(URL, {"cluster": collected.name, "range": "1h"})
    assert ok.status_code == 200
    refused = page.get(URL, {"cluster": collected.name, "range": "14d"})
    assert refused.status_code == 400
    body = _body(refused)
    assert f"about {per * 14 * 2880:,} container samples, more than the 100,000" in body
    hours = int(14 * 24 * 100_000 / (per * 14 * 2880))
    assert f"choose at most {hours} hours" in body
    # Once the hours are rolled up, the read takes only the raw samples outside them.
    collect_through(server, collected, 60, step=600)  # past a whole hour
    assert rollups.rollup_cluster(collected) >= 1
    served = page.get(URL, {"cluster": collected.name, "range": "14d"})
    assert served.status_code == 200
    assert "read from the hourly cost rollups" in _body(served)
