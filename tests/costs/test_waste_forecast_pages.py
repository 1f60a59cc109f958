"""The waste and capacity-forecast pages on a collected sandbox (issue 7)."""

import re

import pytest

from apps.clusters.connect import gateway_for
from tests.support.sandbox import collect_through, sandbox_cluster

pytestmark = pytest.mark.django_db


def _page(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_it_shows_findings_and_what_could_not_be_judged(client, vic, collected):
    response = _page(client, vic, "/costs/waste/?cluster=sandbox")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="waste-findings"' in body
    assert "idle workloads need 24 h of samples; this cluster has 1.1" in body.lower()
    assert "a month" in body


def test_it_shows_storage_still_held_by_a_deployment_scaled_to_zero(client, vic, collected, live):
    gw = gateway_for(collected)
    gw.scale("payments", "ledger", replicas=0)
    gw.close()
    collect_through(live, collected, 4, step=120)
    body = _page(client, vic, "/costs/waste/?cluster=sandbox").content.decode()
    kind = 'data-kind="scaled_to_zero_storage"'
    row = re.search(rf'<tr data-testid="waste-row" {kind}>(.*?)</tr>', body, re.S)
    assert row, body
    assert "payments/ledger" in row.group(1) and "ledger-data (20 GiB)" in row.group(1)
    assert "$2.00" in row.group(1)  # 20 GiB at $0.10 per GiB-month


def test_it_says_how_much_more_history_the_forecast_needs(client, vic, collected):
    response = _page(client, vic, "/costs/forecast/?cluster=sandbox")
    body = response.content.decode()
    assert response.status_code == 200
    assert "CPU requests: not enough history: needs 10 more hours of samples" in body
    assert 'data-testid="chart-cpu"' in body and 'data-testid="chart-memory"' in body


def test_it_forecasts_capacity_from_two_days_of_history(client, vic, live):
    cluster = sandbox_cluster(live)
    collect_through(live, cluster, 60 * 50, step=1800)
    response = _page(client, vic, "/costs/forecast/?cluster=sandbox&horizon_days=7")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="forecast-cpu-data"' in body and 'id="forecast-memory-data"' in body
    assert "forecast (mean)" not in body
    statements = re.findall(r'data-testid="forecast-statement">([^<]*)', body)
    assert len(statements) == 4
    for text in statements:
        assert "would reach allocatable around" in text or "within 7 days" in text, text
    assert "model: Holt" in body


def test_it_refuses_a_horizon_out_of_range_naming_it(client, vic):
    response = _page(client, vic, "/costs/forecast/?horizon_days=0")
    assert response.status_code == 400
    assert "horizon_days" in response.content.decode()
