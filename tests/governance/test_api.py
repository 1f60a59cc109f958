import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import ApiToken, AuditEvent
from apps.core.selectors import safety_state_get
from apps.core.services import api_token_create, api_token_revoke, safety_mode_set

pytestmark = pytest.mark.django_db

ENABLE = ("/ai/safety/enable", {"mode": "halted", "reason": "incident 42"})
DISABLE = ("/ai/safety/disable", {"reason": "all clear"})
SWITCH_ON = (
    "/ai/safety/switch",
    {"name": "allow_chaos", "enabled": True, "reason": "game day", "expires_in_minutes": 60},
)
SWITCH_OFF = ("/ai/safety/switch", {"name": "allow_chaos", "enabled": False, "reason": "stop"})


def post(client, url, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=headers)


# --- The role matrix: every safety endpoint x every persona ---------------------------------

MATRIX = {
    # endpoint: {persona: expected status}
    "status": {"anon": 401, "nobody": 403, "vic": 200, "olivia": 200, "alice": 200, "adam": 200},
    "enable": {"anon": 401, "nobody": 403, "vic": 403, "olivia": 200, "alice": 200, "adam": 200},
    "disable": {"anon": 401, "nobody": 403, "vic": 403, "olivia": 403, "alice": 403, "adam": 200},
    "switch_on": {"anon": 401, "nobody": 403, "vic": 403, "olivia": 403, "alice": 403, "adam": 200},
    "switch_off": {
        "anon": 401,
        "nobody": 403,
        "vic": 403,
        "olivia": 200,
        "alice": 200,
        "adam": 200,
    },
}
CASES = [(ep, who, code) for ep, row in MATRIX.items() for who, code in row.items()]


@pytest.mark.parametrize(("endpoint", "who", "expected"), CASES)
def test_it_enforces_the_role_matrix(endpoint, who, expected, request, adam):
    client = Client()
    if who != "anon":
        user = adam if who == "adam" else request.getfixturevalue(who)
        client.force_login(user)
    if endpoint == "switch_off":  # something to turn off
        from apps.core.services import safety_switch_set

        safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="setup")
    if endpoint == "disable":
        safety_mode_set(actor=adam, mode="halted", reason="setup")
    before = AuditEvent.objects.count()
    if endpoint == "status":
        response = client.get("/ai/status")
    else:
        url, body = {
            "enable": ENABLE,
            "disable": DISABLE,
            "switch_on": SWITCH_ON,
            "switch_off": SWITCH_OFF,
        }[endpoint]
        response = post(client, url, body)
    assert response.status_code == expected, response.content
    wrote = AuditEvent.objects.count() - before
    if endpoint != "status" and expected == 200:
        assert wrote == 1
    else:
        assert wrote == 0
    if expected in (401, 403):
        assert "detail" in response.json()
        assert "incident" not in response.content.decode()


def test_it_reports_status_with_health_and_switch_expiries(client, vic, adam):
    soon = timezone.now() + timedelta(hours=1)
    from apps.core.services import safety_switch_set

    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="gd", expires_at=soon)
    client.force_login(vic)
    body = client.get("/ai/status").json()
    assert body["safety"]["mode"] == "supervised"
    chaos = next(s for s in body["safety"]["switches"] if s["name"] == "allow_chaos")
    assert chaos["enabled"] is True and chaos["expires_at"].startswith(soon.strftime("%Y-%m-%dT"))
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["roles"] == ["viewer"]
    assert isinstance(body["workers"], list) and body["clusters"] == []


def test_it_never_loosens_when_engaging(client, olivia, adam):
    safety_mode_set(actor=adam, mode="halted", reason="stop")
    client.force_login(olivia)
    response = post(client, "/ai/safety/enable", {"mode": "supervised", "reason": "hm"})
    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert safety_state_get().mode == "halted"


def test_it_defaults_enable_to_supervised_and_disable_to_autonomous(client, adam):
    client.force_login(adam)
    safety_mode_set(actor=adam, mode="autonomous", reason="baseline")
    assert post(client, "/ai/safety/enable", {"reason": "odd"}).json()["safety"]["mode"] == (
        "supervised"
    )
    assert post(client, "/ai/safety/disable", {"reason": "ok"}).json()["safety"]["mode"] == (
        "autonomous"
    )


def test_it_takes_an_expiry_and_shows_the_fallback(client, alice):
    client.force_login(alice)
    body = post(
        client,
        "/ai/safety/enable",
        {"mode": "dry_run", "reason": "deploy", "expires_in_minutes": 30},
    ).json()
    assert body["safety"]["mode"] == "dry_run"
    assert body["safety"]["fallback_mode"] == "supervised"
    assert body["safety"]["expires_at"] is not None


# --- Bad input: 400 naming the field, nothing written ---------------------------------------

BAD = [
    ("/ai/safety/enable", "{not json", "body"),
    ("/ai/safety/enable", {"mode": "yolo", "reason": "x"}, "mode"),
    ("/ai/safety/enable", {"mode": "halted"}, "reason"),
    ("/ai/safety/enable", {"mode": "halted", "reason": ""}, "reason"),
    (
        "/ai/safety/enable",
        {"mode": "halted", "reason": "x", "expires_at": "2001-01-01T00:00:00Z"},
        "expires_at",
    ),
    (
        "/ai/safety/enable",
        {"mode": "halted", "reason": "x", "expires_at": "tomorrow"},
        "expires_at",
    ),
    (
        "/ai/safety/enable",
        {"mode": "halted", "reason": "x", "expires_in_minutes": 0},
        "expires_in_minutes",
    ),
    ("/ai/safety/enable", {"mode": "halted", "reason": "x", "surprise": 1}, "surprise"),
    (
        "/ai/safety/enable",
        {
            "mode": "halted",
            "reason": "x",
            "expires_in_minutes": 5,
            "expires_at": "2100-01-01T00:00:00Z",
        },
        "expires_at",
    ),
    ("/ai/safety/disable", {}, "reason"),
    ("/ai/safety/switch", {"name": "allow_everything", "enabled": True, "reason": "x"}, "name"),
    ("/ai/safety/switch", {"name": "allow_chaos", "enabled": "maybe", "reason": "x"}, "enabled"),
    (
        "/ai/safety/switch",
        {"name": "allow_chaos", "enabled": False, "reason": "x", "expires_in_minutes": 5},
        "expires_at",
    ),
    ("/ai/safety/enable", {"mode": "halted", "reason": "x" * 300_000}, "body"),
    ("/ai/safety/enable", {"mode": "halted", "reason": "a\u0000b"}, "reason"),
    ("/ai/safety/switch", {"name": "allow_chaos\u0000", "enabled": True, "reason": "x"}, "name"),
]


@pytest.mark.parametrize(("url", "body", "field"), BAD)
def test_it_answers_bad_input_with_400_naming_the_field(client, adam, url, body, field):
    client.force_login(adam)
    response = post(client, url, body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["field"] == field, payload
    assert payload["detail"]
    if len(str(body)) > 100_000:
        assert "too large" in payload["detail"]
    assert not AuditEvent.objects.exists()
    assert safety_state_get().mode == "supervised"


# --- Tokens and CSRF ------------------------------------------------------------------------


def test_it_accepts_a_bearer_token_and_records_its_use(alice):
    token, raw = api_token_create(user=alice, name="pager bot")
    client = Client()
    response = post(
        client,
        "/ai/safety/enable",
        {"mode": "halted", "reason": "bot"},
        Authorization=f"Bearer {raw}",
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(verb="safety.mode_changed", actor="alice").exists()
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert raw not in str(ApiToken.objects.values_list()[0])  # only the digest is stored


def test_it_refuses_revoked_expired_and_unknown_tokens(alice):
    token, raw = api_token_create(user=alice, name="old")
    client = Client()
    api_token_revoke(actor=alice, token_id=token.pk)
    assert client.get("/ai/status", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    token2, raw2 = api_token_create(user=alice, name="short", expires_in_days=1)
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/ai/status", headers={"Authorization": f"Bearer {raw2}"}).status_code == 401
    assert client.get("/ai/status", headers={"Authorization": "Bearer zt_nope"}).status_code == 401
    _, raw3 = api_token_create(user=alice, name="valid")
    assert client.get("/ai/status", headers={"Authorization": f"Bearer {raw3}"}).status_code == 200
    alice.is_active = False  # a deactivated user's tokens stop working at once
    alice.save()
    assert client.get("/ai/status", headers={"Authorization": f"Bearer {raw3}"}).status_code == 401


def test_it_refuses_session_posts_without_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = post(client, "/ai/safety/enable", {"mode": "halted", "reason": "x"})
    assert response.status_code == 403
    assert safety_state_get().mode == "supervised"


def test_it_serves_the_openapi_schema_to_users_only(client, vic):
    assert client.get("/api/schema").status_code == 401  # JSON: tools read it with a token
    assert client.get("/api/docs").status_code == 302  # a page: sign in first
    client.force_login(vic)
    schema = client.get("/api/schema").json()
    for path in ("/ai/status", "/ai/safety/enable", "/ai/safety/disable", "/ai/safety/switch"):
        assert path in schema["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    page = docs.content.decode()  # the product's navigation and banner, then Swagger UI
    assert 'nav aria-label="Main"' in page and 'href="/safety/"' in page
    assert 'id="swagger-ui"' in page and "/static/ninja/swagger-ui-bundle" in page
