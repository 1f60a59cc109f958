"""The cost plan page: everyone reads it and downloads its YAML and CSV; operators propose
chosen workloads as Actions (one per container) that wait for approval; viewers cannot."""

import html

import pytest

from apps.core.models import AuditEvent
from apps.governance.action_models import Action
from tests.support.users import login

pytestmark = pytest.mark.django_db
URL = "/costs/plan/"


def _body(response) -> str:
    return html.unescape(response.content.decode())


def test_it_shows_the_ranked_plan_to_a_viewer(client, vic, collected):
    login(client, vic)
    response = client.get(URL, {"cluster": "sandbox"})
    assert response.status_code == 200
    body = _body(response)
    assert "payments/ledger" in body and "250m →" in body and "Download YAML" in body
    assert 'name="item"' not in body  # no checkboxes for a viewer
    yaml_response = client.get("/costs/plan.yaml", {"cluster": "sandbox"})
    assert yaml_response.status_code == 200 and b"kind: Deployment" in yaml_response.content
    csv_response = client.get("/costs/plan.csv", {"cluster": "sandbox", "namespace": "shop"})
    assert csv_response.content.decode().startswith("cluster,namespace,workload,container")
    assert "ledger" not in csv_response.content.decode()


def test_a_viewer_cannot_propose(client, vic, collected):
    login(client, vic)
    data = {"cluster": "sandbox", "item": ["payments/ledger"], "reason": "cheaper"}
    assert client.post(URL, data).status_code == 403
    assert not Action.objects.exists()


def test_an_operator_proposes_two_workloads_and_not_twice(client, olivia, collected):
    login(client, olivia)
    page = _body(client.get(URL, {"cluster": "sandbox"}))
    assert 'value="payments/ledger"' in page and "Propose selected" in page
    data = {"cluster": "sandbox", "item": ["payments/ledger", "shop/web"], "reason": "cheaper"}
    response = client.post(URL, data)
    assert response.status_code == 302 and response["Location"] == "/approvals/"
    actions = {a.target_name: a for a in Action.objects.all()}
    assert set(actions) == {"ledger", "web"}
    ledger = actions["ledger"]
    assert ledger.status == "proposed" and ledger.kind == "patch_resources"
    assert ledger.source == "costs" and ledger.requester == "olivia"
    assert ledger.parameters["container"] == "ledger"
    assert ledger.parameters["requests"]["cpu"] == "120m"  # the plan's, as quantities
    assert ledger.parameters["limits"] == {
        "cpu": "500m",
        "memory": ledger.parameters["requests"]["memory"],
    }
    assert ledger.evidence["savings_per_month_usd"] > 0 and ledger.evidence["reasons"]
    assert AuditEvent.objects.filter(verb="action.proposed").count() == 2
    followed = _body(client.get(response["Location"]))
    assert "Proposed 2 change(s)" in followed

    again = client.post(URL, {**data, "item": ["payments/ledger"]}, follow=True)
    assert "payments/ledger already has an active action" in _body(again)
    assert Action.objects.count() == 2


def test_a_stale_item_is_refused(client, olivia, collected):
    login(client, olivia)
    data = {"cluster": "sandbox", "item": ["shop/gone"], "reason": "cheaper"}
    body = _body(client.post(URL, data, follow=True))
    assert "not in the current plan of sandbox: shop/gone" in body
    assert not Action.objects.exists()
