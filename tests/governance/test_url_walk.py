"""Walk every URL pattern as anonymous and as a viewer: nothing leaks, nothing changes."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from aiops_site.urls import API_PREFIXES
from apps.clusters.models import Cluster
from apps.clusters.services import cluster_create
from apps.core.models import ApiToken, AuditEvent, SafetyMode, SafetySwitch
from apps.core.services import api_token_create, safety_mode_set, safety_switch_set
from apps.governance.action_models import Action, Policy
from apps.governance.actions import policy_active
from apps.healing.models import Alert, AlertReceiver, Incident, LogExcerpt

pytestmark = pytest.mark.django_db
MARKER = "SECRET-MARKER-7731"
ACTION_ID = 4242
# The docs are a page for people (login redirect); the schema is for tools too (401 JSON).
DOCS = {"api/docs"}

# Plausible bodies, so that only authentication or the role check can stop the request.
FORM_BODIES = {
    "safety/mode": {"mode": "autonomous", "reason": "walk"},
    "safety/switch/<str:name>": {"enabled": "on", "reason": "walk"},
    "account/tokens": {"name": "walk", "expires_in_days": "5"},
    "account/time-zone": {"time_zone": "Europe/Paris"},
    "actions/new": {
        "cluster": "sandbox",
        "kind": "scale",
        "namespace": "shop",
        "target_name": "web",
        "replicas": "2",
        "severity": "P3",
        "risk": "low",
        "reason": "walk",
    },
    "actions/<int:action_id>/<str:decision>": {"reason": "walk", "fingerprint": "f" * 64},
    "actions/confirm/<str:token>": {"reason": "walk"},
    "notifications/channels/new": {"name": "walk", "kind": "email", "recipients": "a@b.example"},
    "notifications/channels/<int:channel_id>/edit": {"name": "walk", "recipients": "a@b.example"},
    "notifications/channels/<int:channel_id>/test": {},
    "notifications/rules/new": {"name": "walk", "channel": "1", "min_severity": "P4"},
    "notifications/rules/<int:rule_id>/edit": {"name": "walk", "min_severity": "P4"},
    "predictions/models/retrain": {"reason": "walk"},
    "healing/heal": {},
    "healing/<int:incident_id>/logs/fetch": {},
    "healing/alert-receivers/new": {"name": "walk", "cluster": "sandbox"},
    "healing/alert-receivers/<int:receiver_id>/revoke": {"reason": "walk"},
    "chaos/preview": {"cluster": "sandbox", "namespace": "shop", "target": "web"},
    "chaos/start": {"cluster": "sandbox", "namespace": "shop", "target": "web"},
    "chaos/run/<int:run_id>/abort": {"reason": "walk"},
    "chaos/save": {"cluster": "sandbox", "namespace": "shop", "target": "web", "name": "walk"},
    "chaos/experiment/<int:experiment_id>/run": {},
    "chaos/experiment/<int:experiment_id>/enabled": {"enabled": "off", "reason": "walk"},
    "chaos/gameday/new": {"name": "walk", "experiments": ["1"]},
    "chaos/gameday/<int:gameday_id>/start": {},
    "clusters/new": {
        "name": "walk",
        "connection": "kubeconfig",
        "kubeconfig_path": "/tmp/x",
        "environment": "staging",
        "protected_namespaces": "kube-system",
        "collect_interval_seconds": "30",
    },
    "clusters/<slug:name>/safety": {"mode": "halted", "reason": "walk"},
    "clusters/<slug:name>/edit": {
        "name": "sandbox",
        "connection": "kubeconfig",
        "kubeconfig_path": "/tmp/y",
        "environment": "production",
        "protected_namespaces": "",
        "collect_interval_seconds": "30",
    },
}
JSON_BODIES = {
    "ai/safety/enable": {"mode": "halted", "reason": "walk"},
    "ai/safety/disable": {"reason": "walk"},
    "ai/safety/switch": {"name": "allow_chaos", "enabled": True, "reason": "walk"},
    "api/actions": {
        "cluster": "sandbox",
        "kind": "scale",
        "namespace": "shop",
        "target_name": "web",
        "parameters": {"replicas": 2},
        "reason": "walk",
    },
    "api/actions/<action_id>/approve": {"reason": "walk", "fingerprint": "f" * 64},
    "api/actions/<action_id>/reject": {"reason": "walk"},
    "api/policy": {"rules": {"approval_ttl_minutes": 1}, "reason": "walk"},
    "chaos/runs/<run_id>/abort": {"reason": "walk"},
    "chaos/experiments": {
        "cluster": "sandbox",
        "namespace": "shop",
        "target": "web",
        "fault": "pod-kill",
        "duration_seconds": 30,
        "name": "walk",
    },
    "chaos/experiments/<experiment_id>/run": {"reason": "walk"},
    "chaos/experiments/<experiment_id>/enabled": {"enabled": False, "reason": "walk"},
    "chaos/gamedays": {"name": "walk", "experiments": [1]},
    "chaos/gamedays/<gameday_id>/start": {},
    "chaos/inject-failure": {
        "cluster": "sandbox",
        "namespace": "shop",
        "target": "web",
        "fault": "pod-kill",
        "duration_seconds": 30,
    },
    "ai/heal": {},
    "ai/alert-receivers": {"name": "walk", "clusters": ["sandbox"]},
    "ai/alert-receivers/<receiver_id>/revoke": {"reason": "walk"},
    # Alertmanager's webhook: only a receiver's bearer token opens it (401 to anyone else).
    "integrations/alertmanager": {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "KubeNodeNotReady", "cluster": "sandbox", "node": "n"},
                "startsAt": "2026-12-07T10:00:00Z",
                "fingerprint": "0123456789abcdef",
            }
        ],
    },
}
RECEIVER_TOKEN_ONLY = {"integrations/alertmanager"}
PUBLIC = {"login/", "health", "assets/plotly.css"}  # say nothing about the installation


def _routes(patterns=None, prefix=""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern)


ROUTES = sorted(set(_routes()))


def _url(route: str, token_id: int) -> str:
    return "/" + (
        route.replace("<str:name>", "allow_chaos")
        .replace("<int:token_id>", str(token_id))
        .replace("<slug:name>", "sandbox")
        .replace("<int:action_id>", str(ACTION_ID))
        .replace("<str:decision>", "approve")
        .replace("<action_id>", str(ACTION_ID))
        .replace("<slug:cluster>", "sandbox")
        .replace("<str:namespace>", "shop")
        .replace("<int:incident_id>", "1")
        .replace("<incident_id>", "1")
        .replace("<experiment_id>", "1")
        .replace("<int:experiment_id>", "1")
        .replace("<int:run_id>", "1")
        .replace("<run_id>", "1")
        .replace("<int:gameday_id>", "1")
        .replace("<gameday_id>", "1")
        .replace("<int:receiver_id>", "1")
        .replace("<receiver_id>", "1")
        .replace("<str:token>", "walk-token")
        .replace("<int:channel_id>", "1")
        .replace("<int:rule_id>", "1")
    )


def _state() -> tuple:
    return (
        list(AuditEvent.objects.order_by("seq").values_list("seq", "hash")),
        list(SafetyMode.objects.values_list("scope", "mode", "expires_at", "version")),
        list(SafetySwitch.objects.values_list("name", "enabled", "expires_at", "version")),
        list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        list(Cluster.objects.values_list("name", "connection", "kubeconfig_path", "environment")),
        list(Action.objects.values_list("pk", "status", "parameters", "version")),
        list(Policy.objects.values_list("pk", "version", "active")),
        list(Incident.objects.values_list("pk", "status", "action_id")),
        list(AlertReceiver.objects.values_list("pk", "revoked_at")),
        list(Alert.objects.values_list("pk", "status", "updated_at")),
        list(LogExcerpt.objects.values_list("pk", "fetching")),
    )


@pytest.fixture
def secrets(adam):
    """Data a stranger must never see: reasons, an admin's token. The installation's default
    policy first: a test before may have flushed what the migrations wrote."""
    policy_active()
    safety_mode_set(actor=adam, mode="dry_run", reason=MARKER)
    safety_switch_set(actor=adam, name="lift_blast_radius", enabled=True, reason=MARKER)
    token, raw = api_token_create(user=adam, name=MARKER)
    cluster = cluster_create(
        actor=adam,
        name="sandbox",
        connection="kubeconfig",
        kubeconfig_path="/tmp/secret/" + MARKER,
        reason=MARKER,
    )
    Action.objects.create(
        pk=ACTION_ID,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_kind="Deployment",
        target_name="web",
        reason=MARKER,
        requester="adam",
        fingerprint="f" * 64,
        expires_at=timezone.now() + timedelta(minutes=30),
    )
    return token, raw


def _request(client, method, route, url):
    if method == "get":
        return client.get(url)
    if route in JSON_BODIES:
        return client.post(url, json.dumps(JSON_BODIES[route]), content_type="application/json")
    return client.post(url, FORM_BODIES.get(route, {}))


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


def test_the_walk_covers_every_app():
    for needle in (
        "safety/",
        "audit/",
        "ai/status",
        "predictions/",
        "healing/",
        "ai/incidents",
        "costs/",
        "api/schema",
    ):
        assert any(r.startswith(needle) for r in ROUTES), needle


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_gets_nothing_and_changes_nothing(route, method, secrets):
    token, raw = secrets
    before = _state()
    response = _request(Client(), method, route, _url(route, token.pk))
    assert _state() == before
    body = _body(response)
    assert MARKER not in body and raw not in body
    if route in PUBLIC or route == "logout/":
        assert response.status_code in (200, 302, 405)
    elif ("/" + route).startswith(API_PREFIXES) and route not in DOCS:
        assert response.status_code in (401, 405), response.status_code
    else:
        assert response.status_code in (302, 405), response.status_code
        if response.status_code == 302:
            assert response["Location"].startswith("/login/")


# A viewer may read everything and may manage their own API tokens, time zone and session;
# nothing else.
VIEWER_SELF_SERVICE = {"account/tokens", "account/time-zone", "logout/"}


VIEWER_CASES = [
    (r, m)
    for r in ROUTES
    for m in ("get", "post")
    if not (m == "post" and r in VIEWER_SELF_SERVICE)
]  # those: see test_views


@pytest.mark.parametrize(("route", "method"), VIEWER_CASES)
def test_a_viewer_reads_but_changes_nothing(route, method, secrets, vic):
    token, raw = secrets
    client = Client()
    client.force_login(vic)
    before = _state()
    response = _request(client, method, route, _url(route, token.pk))
    assert _state() == before, f"{method.upper()} /{route} changed state"
    assert raw not in _body(response)
    mutating = set(FORM_BODIES) | set(JSON_BODIES) | {"account/tokens/<int:token_id>/revoke"}
    if method == "post" and route in RECEIVER_TOKEN_ONLY:
        assert response.status_code == 401, (route, response.status_code)  # a session is no token
    elif method == "post" and route in mutating:
        # Every state-changing endpoint refuses a viewer (404 for another user's token).
        assert response.status_code in (403, 404), (route, response.status_code)
    elif method == "get":
        # forms a viewer may not open: cluster registry (admin), proposing (operator)
        admin_pages = {"clusters/new": 403, "clusters/<slug:name>/edit": 403, "actions/new": 403}
        admin_pages |= {"healing/alert-receivers/": 403, "ai/alert-receivers": 403}
        # notification channels and rules are admins'; an approval link is approvers'
        admin_pages |= {
            r: 403
            for r in ROUTES
            if r.startswith("notifications/") and not r.endswith("/test")  # POST only: 405
        }
        admin_pages |= {"actions/confirm/<str:token>": 403}
        readable = {"api/actions": 200, "api/policy": 200, "chaos/experiments": 200}  # GET reads
        # a workload's or node's timeline: this cluster has no samples for it
        readable |= {r: 404 for r in ROUTES if r.startswith("predictions/<slug:cluster>/")}
        # no incident #1 in this walk
        readable |= {"ai/incidents/<incident_id>": 404, "healing/<int:incident_id>/": 404}
        readable |= {"healing/<int:incident_id>/logs": 404}
        readable |= {"chaos/experiments/<experiment_id>": 404}  # no experiment #1 either
        readable |= {"chaos/run/<int:run_id>/": 404}  # nor run #1
        readable |= {  # nor GameDay #1
            "chaos/gameday/<int:gameday_id>/": 404,
            "chaos/gameday/<int:gameday_id>.csv": 404,
            "chaos/gamedays/<gameday_id>": 404,
        }
        expected = {"login/": 302, "logout/": 405, **admin_pages, **readable}.get(
            route, 405 if route in mutating else 200
        )
        assert response.status_code == expected, (route, response.status_code)
