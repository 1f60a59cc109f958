"""Actions over the JSON API and the pages."""

import json

import pytest
from django.test import Client

from apps.clusters.services import cluster_collect
from apps.core.models import AuditEvent
from apps.governance.action_models import Action, Status
from apps.governance.actions import action_propose, action_update_parameters

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


PROPOSAL = {
    "cluster": "sandbox",
    "kind": "scale",
    "namespace": "shop",
    "target_name": "web",
    "parameters": {"replicas": 4},
    "reason": "traffic",
}


def test_the_api_proposes_lists_approves_and_rejects(cluster, olivia, alice, bob):
    c = Client()
    c.force_login(olivia)
    r = _post(c, "/api/actions", PROPOSAL)
    assert r.status_code == 201, r.content
    action = r.json()
    assert action["status"] == "proposed" and action["requester"] == "olivia"
    assert c.get(f"/api/actions/{action['id']}").json()["target_name"] == "web"
    assert [a["id"] for a in c.get("/api/actions?status=proposed").json()] == [action["id"]]
    assert _post(c, f"/api/actions/{action['id']}/approve", {}).status_code == 403  # operator
    c.force_login(alice)
    body = {"reason": "ok", "fingerprint": action["fingerprint"]}
    r = _post(c, f"/api/actions/{action['id']}/approve", body)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    r = _post(c, f"/api/actions/{action['id']}/approve", {"reason": "again"})
    assert r.status_code == 409 and "not waiting for approval" in r.json()["detail"]
    c.force_login(olivia)
    second = _post(c, "/api/actions", PROPOSAL).json()
    c.force_login(bob)
    r = _post(c, f"/api/actions/{second['id']}/reject", {"reason": "no"})
    assert r.json()["status"] == "rejected"
    assert _post(c, f"/api/actions/{second['id']}/approve", {}).status_code == 409


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"kind": "reboot"}, 400, "kind"),
        ({"parameters": {"replicas": -1}}, 400, "parameters.replicas"),
        ({"parameters": {"replicas": 10_000}}, 400, "parameters.replicas"),
        ({"target_name": "nope"}, 404, "target_name"),
        ({"cluster": "elsewhere"}, 404, "cluster"),
        ({"reason": ""}, 400, "reason"),
        ({"severity": "P0"}, 400, "severity"),
        ({"surprise": True}, 400, "surprise"),
    ],
)
def test_bad_proposals_name_the_problem_and_write_nothing(cluster, olivia, change, status, field):
    c = Client()
    c.force_login(olivia)
    r = _post(c, "/api/actions", {**PROPOSAL, **change})
    assert r.status_code == status, r.content
    assert r.json()["field"] == field
    assert not Action.objects.exists()
    assert not AuditEvent.objects.filter(target_type="action").exists()


def test_unknown_actions_are_404_and_anonymous_is_401(cluster, vic):
    assert Client().get("/api/actions").status_code == 401
    c = Client()
    c.force_login(vic)
    assert c.get("/api/actions/999").status_code == 404
    assert _post(c, "/api/actions", PROPOSAL).status_code == 403


def test_the_inbox_shows_pending_actions_and_decides_with_htmx(cluster, olivia, alice):
    c = Client()
    c.force_login(olivia)
    r = c.post(
        "/actions/new",
        {
            "cluster": "sandbox",
            "kind": "scale",
            "namespace": "shop",
            "target_name": "web",
            "replicas": "4",
            "severity": "P3",
            "risk": "low",
            "reason": "traffic",
        },
    )
    action = Action.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/actions/{action.pk}/"
    c.force_login(alice)
    html = c.get("/approvals/").content.decode()
    assert f'data-testid="pending-{action.pk}"' in html and "traffic" in html
    assert '<span class="setting">replicas: 3 → 4</span>' in html  # a setting, not a dict
    assert f'name="fingerprint" value="{action.fingerprint}"' in html  # what is approved
    htmx = {"HX-Request": "true"}
    bare = c.post(f"/actions/{action.pk}/approve", {"reason": "ok"}, headers=htmx)
    assert bare.status_code == 400 and "fingerprint is missing" in bare.content.decode()
    shown = {"reason": "ok", "fingerprint": action.fingerprint}
    r = c.post(f"/actions/{action.pk}/approve", shown, headers=htmx)
    assert r.status_code == 200
    assert r.content.decode().lstrip().startswith('<div id="inbox"')
    assert Action.objects.get().status == Status.QUEUED
    page = c.get(f"/actions/{action.pk}/").content.decode()
    for verb in ("action.proposed", "action.approved", "action.queued"):
        assert verb in page
    assert '<span class="setting">replicas: 3 → 4</span>' in page and "{&#x27;" not in page


def test_approving_a_changed_action_from_the_pages_or_the_api_is_refused(cluster, olivia, alice):
    action = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_name="web",
        parameters={"replicas": 4},
        reason="traffic",
    )
    c = Client()
    c.force_login(alice)
    inbox = c.get("/approvals/").content.decode()
    detail = c.get(f"/actions/{action.pk}/").content.decode()
    shown = action.fingerprint
    assert f'name="fingerprint" value="{shown}"' in inbox
    assert f'name="fingerprint" value="{shown}" form="decide-form"' in detail
    assert 'id="decide-form"' in detail
    action_update_parameters(actor=olivia, action=action, parameters={"replicas": 0}, reason="x")
    events = AuditEvent.objects.count()

    r = c.post(
        f"/actions/{action.pk}/approve",
        {"reason": "ok", "fingerprint": shown},
        headers={"HX-Request": "true"},
    )
    text = r.content.decode()
    assert r.status_code == 409 and text.lstrip().startswith('<div id="inbox"')
    assert "changed since it was shown to you" in text
    assert f'href="/actions/{action.pk}/">Open action #{action.pk} as it is now' in text
    assert f'name="fingerprint" value="{Action.objects.get().fingerprint}"' in text  # fresh
    page = c.post(
        f"/actions/{action.pk}/approve",
        {"fingerprint": shown, "next": f"/actions/{action.pk}/"},
        follow=True,
    )
    assert "changed since it was shown to you" in page.content.decode()  # back on its page
    api = _post(c, f"/api/actions/{action.pk}/approve", {"reason": "ok", "fingerprint": shown})
    assert api.status_code == 409 and api.json()["field"] == "fingerprint"
    assert api.json()["current_url"] == f"/api/actions/{action.pk}"
    bad = _post(c, f"/api/actions/{action.pk}/approve", {"fingerprint": "not-one"})
    assert bad.status_code == 400 and bad.json()["field"] == "fingerprint"
    action.refresh_from_db()
    assert action.status == Status.PROPOSED and not action.approvals.exists()
    assert AuditEvent.objects.count() == events
    fresh = c.get(f"/api/actions/{action.pk}").json()["fingerprint"]
    ok = _post(c, f"/api/actions/{action.pk}/approve", {"fingerprint": fresh})
    assert ok.status_code == 200 and ok.json()["status"] == "queued"


def test_the_propose_form_explains_bad_input(cluster, olivia):
    c = Client()
    c.force_login(olivia)
    r = c.post(
        "/actions/new",
        {
            "cluster": "sandbox",
            "kind": "scale",
            "namespace": "shop",
            "target_name": "web",
            "replicas": "-3",
            "severity": "P3",
            "risk": "low",
            "reason": "x",
        },
    )
    assert r.status_code == 400
    assert "replicas must be a whole number" in r.content.decode()
    assert not Action.objects.exists()


def test_admins_change_the_policy_as_data_and_it_is_audited(adam, olivia):
    c = Client()
    c.force_login(olivia)
    current = c.get("/api/policy").json()
    assert current["version"] == 1 and current["rules"]["approvals_required"]["P1"] == 2
    new_rules = {**current["rules"], "approval_ttl_minutes": 15}
    assert _post(c, "/api/policy", {"rules": new_rules, "reason": "x"}).status_code == 403
    c.force_login(adam)
    r = _post(
        c, "/api/policy", {"rules": {**new_rules, "approval_ttl_minutes": 0}, "reason": "tighter"}
    )
    assert r.status_code == 400 and r.json()["field"] == "rules.approval_ttl_minutes"
    r = _post(c, "/api/policy", {"rules": new_rules, "reason": "tighter"})
    assert r.status_code == 200 and r.json()["version"] == 2
    ev = AuditEvent.objects.get(verb="policy.changed")
    assert ev.before["version"] == 1 and ev.after["rules"]["approval_ttl_minutes"] == 15


# --- Severity and risk are ZeroTouch's, not the proposer's (issue 18, defect 1) -------------

LOWBALLED = [  # what an operator sent to get a dangerous change auto-approved
    {**PROPOSAL, "target_name": "worker", "parameters": {"replicas": 0}},
    {"cluster": "sandbox", "kind": "cordon", "target_name": "node-1", "reason": "maintenance"},
]


@pytest.fixture
def autonomy(adam):
    """The most permissive setting there is: auto-approval on, in the mode given."""
    from apps.core.services import safety_mode_set, safety_switch_set

    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="t")

    def set_mode(mode):
        safety_mode_set(actor=adam, mode=mode, reason="t")

    return set_mode


@pytest.mark.parametrize("mode", ["autonomous", "supervised", "dry_run", "halted"])
@pytest.mark.parametrize("body", LOWBALLED, ids=["scale-to-zero", "cordon"])
def test_an_operators_p4_low_proposal_waits_for_an_approver_in_every_mode(
    cluster, olivia, autonomy, mode, body
):
    autonomy(mode)
    c = Client()
    c.force_login(olivia)
    r = _post(c, "/api/actions", {**body, "severity": "P4", "risk": "low"})
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["status"] == "proposed" and out["approvals"] == []
    action = Action.objects.get(pk=out["id"])
    assert not action.approvals.exists()
    # The server's rating, not the one sent: scaling to zero is high, a cordon medium.
    assert (out["severity"], out["risk"]) == (
        ("P3", "high") if body["kind"] == "scale" else ("P4", "medium")
    )
    assert action.rating["requested"] == {"severity": "P4", "risk": "low"}
    proposed = AuditEvent.objects.get(verb="action.proposed", target_id=str(action.pk))
    assert proposed.after["risk"] == out["risk"] and proposed.after["rating"]["why"]


def test_a_proposer_may_raise_the_rating_and_a_p1_then_needs_two_approvers(cluster, olivia):
    c = Client()
    c.force_login(olivia)
    out = _post(c, "/api/actions", {**PROPOSAL, "severity": "P1", "risk": "high"}).json()
    assert (out["severity"], out["risk"], out["required_approvals"]) == ("P1", "high", 2)
    assert out["status"] == "proposed"


def test_the_action_page_says_why_it_is_rated_as_it_is(cluster, olivia):
    c = Client()
    c.force_login(olivia)
    out = _post(c, "/api/actions", {**LOWBALLED[0], "severity": "P4", "risk": "low"}).json()
    page = c.get(f"/actions/{out['id']}/").content.decode()
    assert 'data-testid="action-rating"' in page
    assert "removes every replica" in page and "development cluster" in page


# --- Bounds at the edge (issue 18, defects 2 and 7) -----------------------------------------

PATCH = {
    "cluster": "sandbox",
    "kind": "patch_resources",
    "namespace": "shop",
    "target_name": "worker",
    "reason": "memory",
}
CHAOS = {
    "cluster": "sandbox",
    "kind": "chaos_network_delay",
    "namespace": "shop",
    "target_name": "web",
    "reason": "game day",
}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {**PATCH, "parameters": {"container": "worker", "limits": {"memory": "1e30"}}},
            "parameters.limits.memory",
            "at most 1Pi",
        ),
        (
            {**PATCH, "parameters": {"container": "worker", "limits": {"memory": "64Gi"}}},
            "parameters.limits.memory",
            "largest node of this cluster has (32Gi)",
        ),
        (
            {**PATCH, "parameters": {"container": "worker", "requests": {"cpu": "9"}}},
            "parameters.requests.cpu",
            "largest node of this cluster can allocate",
        ),
        (
            {**PATCH, "parameters": {"container": "worker", "limits": {"cpu": 10**12}}},
            "parameters.limits.cpu",
            "at most 10000 cores",
        ),
        ({**PROPOSAL, "parameters": {"replicas": 2, "note": "x\u0000y"}}, "parameters", "NUL"),
        (
            {**PROPOSAL, "parameters": {"replicas": 2, "pad": "x" * 20_000}},
            "parameters",
            "at most 16,384",
        ),
        (
            {**PROPOSAL, "parameters": {"replicas": 2, "pad": 1}},
            "parameters.pad",
            "takes no parameter 'pad'",
        ),
        (
            {**PROPOSAL, "kind": "rollout_undo", "parameters": {"revision": 10**30}},
            "parameters.revision",
            "whole number from 1",
        ),
        ({**CHAOS, "parameters": {"duration": "99h"}}, "parameters.duration", "1:00:00"),
        ({**CHAOS, "parameters": {"latency": "banana"}}, "parameters.latency", "not a duration"),
    ],
)
def test_out_of_bounds_parameters_are_a_400_naming_the_field(cluster, olivia, body, field, words):
    c = Client()
    c.force_login(olivia)
    r = _post(c, "/api/actions", body)
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field and words in r.json()["detail"]
    assert not Action.objects.exists()


def test_the_propose_form_suggests_the_inventory_with_its_state(cluster, olivia):
    assert cluster_collect(cluster=cluster).ok
    c = Client()
    c.force_login(olivia)
    html = c.get("/actions/new").content.decode()
    assert "---------" not in html  # the cluster is chosen, not blank
    assert 'list="targets"' in html and 'list="namespaces"' in html
    assert 'value="web" label="sandbox · shop · Deployment · 3/3 ready"' in html
    assert "sandbox · node · Ready" in html and '<option value="shop">' in html
