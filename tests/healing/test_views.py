"""Incident pages and the JSON API, with the roles that may read, approve and run a cycle."""

import pytest
from django.test import Client

from apps.governance.action_models import Action
from apps.healing import services
from apps.healing.models import Incident
from tests.support.sandbox import collect_through
from tests.support.users import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def leak_incident(scenario):
    server, cluster = scenario("memory-leak")
    collect_through(server, cluster, 22)
    services.heal_cycle(cluster=cluster)
    return Incident.objects.get(cluster=cluster)


def test_the_incidents_page_lists_it_and_its_partial_refreshes(leak_incident, vic):
    client = login(Client(), vic)
    page = client.get("/healing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="incident-row"' in html and "shop/api: memory leak" in html
    assert 'data-testid="healing-figures"' in html
    assert 'data-testid="heal-now"' not in html  # viewers do not run cycles
    part = client.get("/healing/", {"status": "active"}, headers={"HX-Request": "true"})
    assert part.status_code == 200 and 'id="incident-list"' in part.content.decode()
    assert "<h1>" not in part.content.decode()
    bad = client.get("/healing/", {"severity": "P9"})
    assert bad.status_code == 400 and "severity" in bad.content.decode()


def test_the_list_says_what_it_shows_against_what_there_is(leak_incident, vic):
    Incident.objects.filter(pk=leak_incident.pk).update(status="resolved")
    client = login(Client(), vic)
    html = client.get("/healing/").content.decode()  # active by default, and it says so
    assert '<option value="active" selected>' in html
    assert "Showing 0 active of 1 incident: " in html and "1 resolved" in html
    html = client.get("/healing/", {"status": ""}).content.decode()  # all
    assert "Showing 1 of 1 incident" in html and 'data-testid="incident-row"' in html


def test_the_incident_page_explains_it_and_lets_an_approver_approve_the_fix(
    leak_incident, vic, alice
):
    url = f"/healing/{leak_incident.pk}/"
    viewer = login(Client(), vic).get(url).content.decode()
    assert "rises steadily" in viewer and 'data-testid="incident-chart"' in viewer
    assert 'data-testid="timeline-detected"' in viewer and 'data-testid="approve"' not in viewer
    client = login(Client(), alice)
    assert 'data-testid="approve"' in client.get(url).content.decode()
    action = leak_incident.action
    response = client.post(
        f"/actions/{action.pk}/approve",
        {"reason": "the leak is real", "next": url, "fingerprint": action.fingerprint},
    )
    assert response.status_code == 302 and response["Location"] == url
    action.refresh_from_db()
    assert action.status in ("approved", "queued")
    evil = client.post(
        f"/actions/{action.pk}/reject", {"reason": "x", "next": "https://evil.example/"}
    )
    assert evil["Location"] == "/approvals/"  # never redirected off the site
    assert login(Client(), vic).get("/healing/999999/").status_code == 404


def test_running_a_cycle_from_the_page_needs_an_operator(leak_incident, vic, olivia):
    assert login(Client(), vic).post("/healing/heal").status_code == 403
    response = login(Client(), olivia).post("/healing/heal", follow=True)
    assert response.status_code == 200 and "Healing cycle: 1 problems found" in (
        response.content.decode()
    )
    assert Incident.objects.count() == 1  # the same incident, not a second one


def test_the_api_lists_incidents_with_figures_and_runs_a_cycle(leak_incident, vic, olivia):
    client = login(Client(), vic)
    body = client.get("/ai/incidents", {"status": "active"}).json()
    (item,) = body["items"]
    assert item["cause"] == "memory_leak" and item["action_status"] == "proposed"
    assert body["figures"]["incidents"] == 1 and body["figures"]["mttd_seconds"] is not None
    detail = client.get(f"/ai/incidents/{item['id']}").json()
    assert [t["kind"] for t in detail["timeline"]] == ["started", "detected", "proposed"]
    assert client.get("/ai/incidents/999999").status_code == 404
    bad = client.get("/ai/incidents", {"cluster": "nope"})
    assert bad.status_code == 404 and bad.json()["field"] == "cluster"
    assert client.post("/ai/heal", {}, content_type="application/json").status_code == 403
    status = client.get("/ai/status").json()
    assert status["healing"]["open"] == 1 and "by_cause" in status["healing"]
    healing = client.get("/ai/metrics").json()["healing"]
    assert healing["incidents"] == 1 and healing["by_severity"][leak_incident.severity]["open"] == 1

    ops = login(Client(), olivia)
    (run,) = ops.post(
        "/ai/heal", {"cluster": "memory-leak"}, content_type="application/json"
    ).json()
    assert run["found"][0]["cause"] == "memory_leak" and run["proposed"] == []
    extra = ops.post("/ai/heal", {"clusters": "x"}, content_type="application/json")
    assert extra.status_code == 400 and extra.json()["field"] == "clusters"
    assert Action.objects.count() == 1


def test_the_overview_ties_incidents_approvals_and_risks_together(leak_incident, vic):
    html = login(Client(), vic).get("/").content.decode()
    assert 'data-testid="overview-incidents"' in html and leak_incident.title in html
    pending = html.split('data-testid="pending-approvals"')[1].split("</section>")[0]
    assert f"#{leak_incident.action_id} " in pending  # the incident's fix waits for a person
    assert 'data-testid="overview-risks"' in html and 'data-testid="overview-anomalies"' in html


def test_the_runbooks_page_lists_every_cause_with_its_fix_or_escalation(client, vic):
    from apps.healing import runbooks

    html = login(client, vic).get("/healing/runbooks/").content.decode()
    causes = {*runbooks.RUNBOOKS, *runbooks.ESCALATIONS}
    assert html.count('data-testid="runbook-row"') == len(causes)
    assert "<code>rollout_undo</code>" in html and "the image name and tag exist" in html
