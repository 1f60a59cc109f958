"""GET /ai/optimize: the plan as JSON, its filters, and 400s that name the field."""

import pytest

from tests.support.users import login

pytestmark = pytest.mark.django_db
URL = "/ai/optimize"


def test_it_returns_the_plan_with_prices_and_filters(client, vic, collected):
    login(client, vic)
    body = client.get(URL, {"cluster": "sandbox"}).json()
    assert body["currency"] == "USD" and body["workloads"] == len(body["items"]) == 5
    savings = [i["savings_per_month_usd"] for i in body["items"]]
    assert savings == sorted(savings, reverse=True)
    assert body["total_savings_per_month_usd"] == pytest.approx(sum(savings), abs=0.01)
    prices = body["clusters"][0]["prices"]
    assert prices["cpu_per_vcpu_hour_usd"] == "0.031611" and prices["hours_per_month"] == 730
    ledger = next(i for i in body["items"] if i["workload"] == "ledger")
    c = ledger["containers"][0]
    assert c["current"]["requests"]["cpu"] == "250m" and c["recommended"]["requests"]["cpu"]
    assert c["risk_memory"] == 0 and c["reasons"] and body["not_enough_history"] == []
    api = next(i for i in body["items"] if i["workload"] == "api")
    assert api["hpa"]["target_now"] == 70

    only = client.get(URL, {"cluster": "sandbox", "namespace": "payments"}).json()
    assert [i["workload"] for i in only["items"]] == ["ledger"]
    top = body["items"][0]
    rich = client.get(URL, {"min_savings": top["savings_per_month_usd"]}).json()
    assert [i["workload"] for i in rich["items"]] == [top["workload"]]


def test_it_refuses_unknown_clusters_and_negative_savings(client, vic, db):
    login(client, vic)
    response = client.get(URL, {"cluster": "nope"})
    assert response.status_code == 404 and response.json()["field"] == "cluster"
    response = client.get(URL, {"min_savings": "-1"})
    assert response.status_code == 400 and response.json()["field"] == "min_savings"
    response = client.get(URL, {"min_savings": "lots"})
    assert response.status_code == 400 and response.json()["field"] == "min_savings"


def test_it_needs_a_login(client, db):
    assert client.get(URL).status_code == 401
