"""The prediction pages and JSON API on stored results: a leaking workload ranked first with
its reasons, anomaly timelines, the models page, filters, and bad input named."""

import re

import pytest

from apps.core.models import AuditEvent
from apps.predictions import services
from apps.predictions.models import Anomaly, RiskScore
from tests.support.sandbox import collect_through

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(base_model, leak, leak_cluster):
    """The memory-leak sandbox 16 minutes in (the leak began at 10), scored, with anomalies."""
    collect_through(leak, leak_cluster, 9, step=15)
    services.anomaly_fit(cluster=leak_cluster)
    collect_through(leak, leak_cluster, 6)  # at the collector's 30 s
    services.cluster_score(cluster=leak_cluster)
    return leak_cluster


def test_the_pages_rank_the_leak_first_say_why_and_show_its_timeline(client, vic, scored):
    client.force_login(vic)
    page = client.get("/predictions/")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.index("shop/api") < body.index("shop/web")
    assert 'data-testid="low-confidence"' in body
    assert "memory" in body
    levels = ["low", "medium", "high", "critical", "failing"]
    api_level = RiskScore.objects.filter(name="api").latest("scored_at").level
    above = levels[levels.index(api_level) :]
    part = client.get("/predictions/", {"min_level": api_level}, headers={"HX-Request": "true"})
    assert part.status_code == 200
    html = part.content.decode()
    assert html.lstrip().startswith('<div id="risk-table"') and "shop/api" in html
    shown = set(re.findall(r'data-level="(\w+)"', html))
    assert shown and shown <= set(above)

    # Bad filters are named.
    page = client.get("/predictions/", {"min_level": "severe"})
    assert page.status_code == 400
    assert "min_level: Select a valid choice" in page.content.decode()
    page = client.get("/predictions/anomalies/", {"cluster": "nope"})
    assert page.status_code == 400 and "cluster: Select a valid choice" in page.content.decode()

    # The anomaly timelines; the range shown is the range read (6 hours when not chosen).
    assert Anomaly.objects.filter(cluster=scored, name="api").exists()
    default = client.get("/predictions/anomalies/").content.decode()
    assert re.search(r'<option value="6" selected>6 hours</option>', default)
    filtered = client.get("/predictions/anomalies/", {"cluster": "leak"}).content.decode()
    assert re.search(r'<option value="6" selected>6 hours</option>', filtered)  # not "1 hour"
    page = client.get("/predictions/anomalies/", {"cluster": "leak", "hours": 24})
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="anomaly-timeline"' in body and "shop/api" in body
    entity = client.get("/predictions/leak/workload/shop/api/")
    assert entity.status_code == 200
    body = entity.content.decode()
    assert 'data-testid="entity-timeline"' in body
    assert r"\"type\":\"rect\"" in body, "anomaly bands are drawn on the chart"
    node = client.get(f"/predictions/leak/node/{scored.nodes.first().name}/")
    assert node.status_code == 200
    assert client.get("/predictions/leak/workload/shop/nothing/").status_code == 404


def test_the_api_filters_and_names_bad_input(client, vic, scored):
    client.force_login(vic)
    body = client.get("/ai/predict", {"cluster": "leak"}).json()
    assert {"api", "web", "worker", "ledger"} <= {i["name"] for i in body["items"]}
    api = next(i for i in body["items"] if i["name"] == "api")
    assert api["reasons"] and any("memory" in r for r in api["reasons"]), api
    risks = [i["risk"] for i in body["items"]]
    assert risks == sorted(risks, reverse=True)
    assert all(i["risk"] is not None and i["probability"] is not None for i in body["items"])
    nodes = client.get("/ai/predict", {"cluster": "leak", "kind": "node"}).json()["items"]
    assert len(nodes) == 3 and all(i["kind"] == "node" for i in nodes)
    bad = client.get("/ai/predict", {"cluster": "nope"})
    assert bad.status_code == 404 and bad.json()["field"] == "cluster"
    bad = client.get("/ai/predict", {"min_level": "severe"})
    assert bad.status_code == 400 and bad.json()["field"] == "min_level"
    found = client.get("/ai/anomalies", {"cluster": "leak", "namespace": "shop"}).json()
    assert any(a["name"] == "api" and a["metrics"] for a in found)
    assert all(a["learning"] for a in found)  # its detectors have seen under an hour
    bad = client.get(
        "/ai/anomalies", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "since"
    naive = client.get("/ai/anomalies", {"since": "2026-01-05T09:00:00"})  # read as UTC
    assert naive.status_code == 200 and any(a["name"] == "api" for a in naive.json())
    metrics = client.get("/ai/metrics").json()
    assert metrics["serving"]["low_confidence"] is True
    v = metrics["versions"][0]
    assert v["status"] == "champion" and {"pr_auc", "fpr", "event_recall"} <= set(v["figures"])
    assert client.get("/ai/metrics", {"kind": "anomaly"}).json()["versions"][0]["cluster"] == "leak"
    # The detectors learned from the history there was (under an hour), not a 48-hour window.
    models = client.get("/predictions/models/").content.decode()
    span = re.search(r'data-testid="learned-span">([^<]+)<', models)
    assert span and span.group(1).endswith("of history") and "day" not in span.group(1), span


def test_the_models_page_and_who_may_retrain(client, vic, adam, base_model):
    client.force_login(vic)
    page = client.get("/predictions/models/")
    assert page.status_code == 200 and 'data-testid="serving-figures"' in page.content.decode()
    assert 'data-testid="retrain"' not in page.content.decode()
    assert client.post("/predictions/models/retrain", {"reason": "x"}).status_code == 403
    client.force_login(adam)
    response = client.post("/predictions/models/retrain", {"reason": "after the incident"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(verb="model.retrain_requested")
    assert event.reason == "after the incident" and event.actor == "adam"
    page = client.post("/predictions/models/retrain", {"reason": "x" * 501}, follow=True)
    assert "reason: 1 to 500 characters" in page.content.decode()
    assert AuditEvent.objects.filter(verb="model.retrain_requested").count() == 1


def test_a_broken_model_file_is_named_on_the_pages_and_nothing_is_made_up(
    client, vic, base_model, model_dir
):
    (model_dir / base_model.artifact).write_bytes(b"truncated")
    services._cache.clear()
    client.force_login(vic)
    for url in ("/predictions/", "/predictions/models/"):
        body = client.get(url).content.decode()
        assert f"failure model v{base_model.version} cannot be used" in body
        assert "does not match its recorded checksum" in body
        assert 'data-testid="no-model"' in body  # no older version to fall back to
    api = client.get("/ai/predict").json()
    assert api["model"] is None and "cannot be used" in api["problems"][0]
