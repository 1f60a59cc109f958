import re

import pytest
from django.test import Client

from apps.core.models import ApiToken, AuditEvent
from apps.core.selectors import safety_state_get
from apps.core.services import audit_record, safety_mode_set

pytestmark = pytest.mark.django_db


def test_it_logs_in_and_audits_the_login(client, adam):
    response = client.post("/login/", {"username": "adam", "password": "adam-pass"})
    assert response.status_code == 302 and response["Location"] == "/"
    ev = AuditEvent.objects.get(verb="auth.login")
    assert ev.actor == "adam" and ev.after == {"roles": ["admin"]}
    assert ev.client_ip == "127.0.0.1" and ev.request_id


def test_it_refuses_a_wrong_password_and_audits_the_failure(client, adam):
    response = client.post("/login/", {"username": "adam", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content
    ev = AuditEvent.objects.get()
    assert (ev.verb, ev.actor, ev.after) == ("auth.login_failed", "anonymous", {"username": "adam"})
    assert "nope" not in str(ev.__dict__)


def test_it_shows_the_mode_banner_on_every_page(client, vic, adam):
    safety_mode_set(actor=adam, mode="halted", reason="stop")
    client.force_login(vic)
    for url in (
        "/",
        "/predictions/",
        "/healing/",
        "/chaos/",
        "/costs/",
        "/approvals/",
        "/safety/",
        "/audit/",
        "/account/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b'id="safety-banner"' in response.content, url
        assert b"banner-halted" in response.content, url


def test_it_sets_the_mode_from_the_page_with_htmx(client, olivia):
    client.force_login(olivia)
    response = client.post(
        "/safety/mode",
        {"mode": "halted", "reason": "db failover", "expires_in": "60"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="safety-panel">')
    assert 'hx-swap-oob="true"' in html and "banner-halted" in html  # banner updated too
    state = safety_state_get()
    assert state.mode == "halted" and state.expires_at is not None
    assert AuditEvent.objects.get(verb="safety.mode_changed").reason == "db failover"


def test_it_works_without_javascript_too(client, adam):
    client.force_login(adam)
    response = client.post(
        "/safety/switch/allow_chaos", {"enabled": "on", "reason": "game day", "expires_in": "15"}
    )
    assert response.status_code == 302
    assert safety_state_get().switch("allow_chaos").enabled
    page = client.get("/safety/").content.decode()
    assert "Switch allow_chaos is on." in page


def test_it_shows_a_clear_message_and_writes_nothing_on_bad_input(client, olivia):
    client.force_login(olivia)
    response = client.post(
        "/safety/mode", {"mode": "halted", "reason": ""}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "reason: This field is required." in response.content.decode()
    response = client.post("/safety/mode", {"mode": "autonomous", "reason": "loosen"})
    assert response.status_code == 403
    assert "manage_safety" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_it_hides_controls_a_viewer_cannot_use(client, vic):
    client.force_login(vic)
    html = client.get("/safety/").content.decode()
    assert 'action="/safety/mode"' not in html
    assert 'action="/safety/switch/' not in html


def test_it_filters_and_pages_the_audit_log(client, vic):
    for i in range(60):
        audit_record(
            actor="system:test" if i % 2 else "policy:auto@1",
            verb=f"test.v{i % 3}",
            target_type="thing",
            target_id=str(i),
            target_repr=f"thing-{i}",
        )
    client.force_login(vic)
    html = client.get("/audit/?actor=policy").content.decode()
    assert "30 events" in html and "system:test" not in html.split("<tbody>")[1]
    html = client.get("/audit/?verb=test.v1&page=1").content.decode()
    assert "20 events" in html
    html = client.get("/audit/?target=thing-7", headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="audit-results">') and "1 event" in html
    html = client.get("/audit/").content.decode()
    assert "Page 1 of 2" in html
    bad = client.get("/audit/?since=yesterday")
    assert bad.status_code == 400
    assert "since: Enter a valid date/time." in bad.content.decode()
    assert "No events match." in bad.content.decode()  # a bad filter never shows everything
    csv = client.get("/audit.csv?until=soon")
    assert csv.status_code == 400 and b"until" in csv.content


def test_it_exports_the_filtered_audit_log_as_csv(client, vic):
    audit_record(actor="system:test", verb="test.csv", target_id="1", reason="=HYPERLINK(1)")
    audit_record(actor="system:test", verb="test.other", target_id="2")
    client.force_login(vic)
    response = client.get("/audit.csv?verb=test.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("seq,created_at,actor,actor_user_id,verb")
    assert len(lines) == 2 and "test.csv" in lines[1]
    assert "'=HYPERLINK(1)" in lines[1]  # no formula injection


def test_it_shows_a_new_token_once_and_revokes_it(client, vic):
    client.force_login(vic)
    response = client.post("/account/tokens", {"name": "laptop", "expires_in_days": "30"})
    raw = re.search(r'data-testid="new-token">(zt_[^<]+)<', response.content.decode()).group(1)
    assert Client().get("/ai/status", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert raw not in client.get("/account/").content.decode()  # never shown again
    token = ApiToken.objects.get(user=vic)
    assert client.post(f"/account/tokens/{token.pk}/revoke").status_code == 302
    assert Client().get("/ai/status", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    verbs = list(AuditEvent.objects.order_by("seq").values_list("verb", flat=True))
    assert verbs == ["token.created", "token.revoked"]


def test_it_does_not_let_one_user_revoke_anothers_token(client, vic, adam):
    client.force_login(adam)
    client.post("/account/tokens", {"name": "admin bot", "expires_in_days": "30"})
    token = ApiToken.objects.get(user=adam)
    client.force_login(vic)
    assert client.post(f"/account/tokens/{token.pk}/revoke").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_sends_security_headers(client, vic):
    client.force_login(vic)
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]


def test_it_serves_htmx_and_plotly_from_bundled_files(client, vic):
    client.force_login(vic)
    html = client.get("/").content.decode()
    src = re.search(r'<script src="([^"]*htmx[^"]*)"', html).group(1)
    assert src.startswith("/static/")
    assert client.get(src).status_code == 200
    plotly = client.get("/static/plotly/plotly.min.js")
    assert plotly.status_code == 200
    assert not re.search(r"https?://(cdn|unpkg|cdnjs)", html)


def test_it_logs_out_on_post_only_and_audits_it(client, vic):
    client.force_login(vic)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.get(verb="auth.logout").actor == "vic"


def test_it_sends_an_expired_htmx_session_to_the_login_page(client):
    response = client.get("/safety/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/safety/"
    assert response.content == b""


def test_it_offers_an_operator_only_the_modes_they_may_pick(client, olivia, adam):
    safety_mode_set(actor=adam, mode="dry_run", reason="rehearsal")
    client.force_login(olivia)
    html = client.get("/safety/").content.decode()
    form = html[html.index('action="/safety/mode"') :][:3000]
    assert 'value="dry_run"' in form and 'value="halted"' in form
    assert 'value="autonomous"' not in form and 'value="supervised"' not in form
    assert 'data-testid="loosen-needs-admin"' in html
    client.force_login(adam)
    html = client.get("/safety/").content.decode()
    form = html[html.index('action="/safety/mode"') :][:3000]
    assert 'value="autonomous"' in form and 'data-testid="loosen-needs-admin"' not in html


def test_a_refusal_is_a_whole_page_or_for_htmx_a_message_for_the_page(client, vic):
    client.force_login(vic)
    plain = client.post("/safety/mode", {"mode": "halted", "reason": "x"})
    assert plain.status_code == 403
    html = plain.content.decode()
    assert 'nav aria-label="Main"' in html and "app.css" in html  # styled, with navigation
    htmx = client.post(
        "/safety/mode", {"mode": "halted", "reason": "x"}, headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 403 and htmx["HX-Retarget"] == "#messages"
    assert (
        'data-testid="htmx-error"' in htmx.content.decode() and "<nav" not in htmx.content.decode()
    )
    gone = client.get("/healing/999999/", headers={"HX-Request": "true"})
    assert gone.status_code == 404 and "Not found" in gone.content.decode()
