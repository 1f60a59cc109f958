"""The policy page: every reader sees the rules; admins change them into a new audited
version; bad input and a stale edit are refused with the problem named and nothing written."""

import json

import pytest

from apps.core.models import AuditEvent
from apps.governance import policy as rules_mod
from apps.governance.action_models import Policy
from apps.governance.actions import policy_active, policy_update, rules
from apps.governance.policy_views import PolicyForm

pytestmark = pytest.mark.django_db


def _form(version: int, **change) -> dict:
    data = {
        "base_version": version,
        "p1": 2,
        "p2": 1,
        "p3": 1,
        "p4": 1,
        "auto_severities": ["P3", "P4"],
        "auto_risks": ["low"],
        "approval_ttl_minutes": 30,
        "per_namespace_hour": 10,
        "concurrent": 3,
        "disruption_share": 0.25,
        "storm_failures": 3,
        "storm_minutes": 10,
        "execution_timeout_seconds": 300,
        "verify_timeout_seconds": 120,
        "pdb_retry_seconds": 300,
        "quiet_period_minutes": 30,
        "windows": json.dumps({"allow": [], "deny": []}),
        "reason": "tighter budgets for the sale",
    }
    return {**data, **change}


def test_it_shows_the_rules_to_a_viewer_without_the_form(client, vic):
    client.force_login(vic)
    response = client.get("/policy/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="approvers-P1">2<' in body
    assert "at most 10 actions per hour" in body
    assert 'data-testid="policy-form"' not in body


def test_an_admin_saves_a_new_audited_version(client, adam):
    client.force_login(adam)
    v = policy_active().version
    freeze = {"days": ["fri"], "start": "16:00", "end": "23:59", "tz": "Europe/Berlin"}
    response = client.post(
        "/policy/",
        _form(v, per_namespace_hour=4, p2=2, windows=json.dumps({"allow": [], "deny": [freeze]})),
    )
    assert response.status_code == 302
    new = policy_active()
    assert new.version == v + 1 and new.created_by == "adam"
    assert new.rules["budgets"]["actions_per_namespace_per_hour"] == 4
    assert new.rules["approvals_required"]["P2"] == 2
    assert new.rules["windows"]["deny"] == [freeze]
    event = AuditEvent.objects.filter(verb="policy.changed").latest("id")
    assert event.reason == "tighter budgets for the sale"
    assert event.before["version"] == v and event.after["version"] == v + 1
    page = client.get("/policy/").content.decode()
    assert "at most 4 actions per hour" in page
    assert "freeze fri 16:00\u201323:59 Europe/Berlin" in page


def test_an_operator_cannot_change_it(client, olivia):
    client.force_login(olivia)
    v = policy_active().version
    assert client.post("/policy/", _form(v, per_namespace_hour=1)).status_code == 403
    assert policy_active().version == v
    assert not AuditEvent.objects.filter(verb="policy.changed").exists()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"windows": "{not json"}, "not valid JSON"),
        (
            {
                "windows": json.dumps(
                    {"allow": [{"start": "09:00", "end": "17:00", "tz": "Mars/Base"}]}
                )
            },
            "windows.allow[0]",
        ),
        ({"disruption_share": 0}, "Share of a workload disrupted at once"),
        ({"p1": 9}, "Approvers for P1"),
        ({"reason": ""}, "Reason"),
    ],
)
def test_bad_input_names_the_problem_and_writes_nothing(client, adam, change, named):
    client.force_login(adam)
    version = policy_active().version  # the installed default (a flushed database has none)
    before = Policy.objects.count()
    response = client.post("/policy/", _form(version, **change))
    assert response.status_code == 400
    assert named in response.content.decode()
    assert Policy.objects.count() == before


def test_an_edit_of_a_version_that_is_no_longer_active_is_refused(client, adam):
    client.force_login(adam)
    v = policy_active().version
    policy_update(actor=adam, rules={**policy_active().rules}, reason="someone else first")
    response = client.post("/policy/", _form(v, per_namespace_hour=2))
    assert response.status_code == 409
    assert f"now version {v + 1}" in response.content.decode()
    assert policy_active().rules["budgets"]["actions_per_namespace_per_hour"] == 10


def test_the_api_refuses_a_stale_base_version(client, adam):
    client.force_login(adam)
    v = policy_active().version
    policy_update(actor=adam, rules={**policy_active().rules}, reason="first")
    response = client.post(
        "/api/policy",
        json.dumps({"rules": policy_active().rules, "reason": "second", "base_version": v}),
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "changed while you edited" in response.json()["detail"]


# --- One schema for the API, the form and the loader (issue 18, defect 4) -------------------

WRONG_SHAPES = [
    ({"auto_approve": 5}, "rules.auto_approve"),
    ({"approval_ttl_minutes": 10**12}, "rules.approval_ttl_minutes"),
    ({"storm": "x"}, "rules.storm"),
    ({"approvals_required": {"P1": True}}, "rules.approvals_required.P1"),
    ({"approvals_required": "two"}, "rules.approvals_required"),
    ({"auto_approve": {"severities": "P4"}}, "rules.auto_approve.severities"),
    ({"auto_approve": {"risks": ["none"]}}, "rules.auto_approve.risks[0]"),
    ({"budgets": {"concurrent_per_cluster": "3"}}, "rules.budgets.concurrent_per_cluster"),
    ({"budgets": {"max_disruption_share": None}}, "rules.budgets.max_disruption_share"),
    ({"windows": {"allow": "always"}}, "rules.windows.allow"),
    ({"windows": {"deny": [{"start": "09:00"}]}}, "rules.windows.deny[0].end"),
    ({"windows": {"deny": [{"start": "9", "end": "10:00"}]}}, "rules.windows.deny[0].start"),
    ({"verify_timeout_seconds": 1.5}, "rules.verify_timeout_seconds"),
    ({"pdb_retry_seconds": -1}, "rules.pdb_retry_seconds"),
    ({"approvals_needed": {"P1": 2}}, "rules.approvals_needed"),
]


@pytest.mark.parametrize(("rules", "field"), WRONG_SHAPES)
def test_every_wrong_shape_is_a_400_naming_the_field_and_nothing_is_stored(
    client, adam, olivia, rules, field
):
    client.force_login(adam)
    before = policy_active().version
    r = client.post(
        "/api/policy",
        json.dumps({"rules": rules, "reason": "probe"}),
        content_type="application/json",
    )
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field
    assert policy_active().version == before
    assert not AuditEvent.objects.filter(verb="policy.changed").exists()
    # ... and every page and proposal still works.
    assert client.get("/policy/").status_code == 200
    assert client.get("/api/policy").status_code == 200


def test_a_stored_policy_that_breaks_the_schema_fails_closed_and_breaks_no_page(client, vic):
    """A policy row written before the schema (or edited in the database) runs as the safe
    defaults with auto-approval off, and the page says so."""
    Policy.objects.filter(pk=policy_active().pk).update(rules={"auto_approve": 5, "storm": "x"})
    r = rules()
    assert r["auto_approve"] == {"severities": [], "risks": []}
    assert r["storm"] == {"failures": 3, "window_minutes": 10}
    client.force_login(vic)
    page = client.get("/policy/")
    assert page.status_code == 200 and 'data-testid="policy-broken"' in page.content.decode()
    assert client.get("/api/policy").json()["rules"]["auto_approve"]["severities"] == []


def test_the_form_offers_exactly_the_schemas_ranges():
    form = PolicyForm()
    assert (
        form.fields["approval_ttl_minutes"].min_value,
        form.fields["approval_ttl_minutes"].max_value,
    ) == rules_mod.bounds("approval_ttl_minutes")
    assert (
        form.fields["concurrent"].max_value == rules_mod.bounds("budgets.concurrent_per_cluster")[1]
    )
