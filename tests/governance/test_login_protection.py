"""Login protection (issue 18, defect 3): repeated failures lock the account and the client
out for a while, every failure and lock-out is audited, and no answer says which part of the
credentials was wrong."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.selectors import audit_chain_problems

pytestmark = pytest.mark.django_db
LIMIT = settings.AXES_FAILURE_LIMIT


def _login(username, password, ip="10.0.0.1"):
    return Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": password})


def test_twenty_wrong_passwords_lock_the_account_and_the_right_one_then_waits(adam):
    codes = [_login("adam", f"guess-{i}").status_code for i in range(20)]
    assert codes[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its message
    assert set(codes[LIMIT:]) == {429}
    r = _login("adam", "adam-pass")
    assert r.status_code == 429 and "_auth_user_id" not in r.client.session
    page = r.content.decode()
    assert 'data-testid="locked-out"' in page and "this account or from this address" in page
    failed = AuditEvent.objects.filter(verb="auth.login_failed")
    assert 1 <= failed.count() <= LIMIT  # attempts while locked are not recorded one by one
    locked = AuditEvent.objects.get(verb="auth.locked_out")
    assert locked.after["username"] == "adam" and locked.client_ip == "10.0.0.1"
    assert not any("guess" in str(e.after) for e in AuditEvent.objects.all())
    assert not AuditEvent.objects.filter(verb="auth.login").exists()
    assert audit_chain_problems(first_only=True) == []


def test_one_client_trying_many_accounts_is_locked_out(adam, alice):
    for name in ("a1", "a2", "a3", "a4", "a5", "a6", "a7")[:LIMIT]:
        _login(name, "x", ip="10.0.0.2")
    assert _login("alice", "alice-pass", ip="10.0.0.2").status_code == 429
    assert _login("alice", "alice-pass", ip="10.0.0.3").status_code == 302  # another client


def test_one_account_tried_from_many_clients_is_locked_out(adam):
    for i in range(LIMIT):
        _login("adam", "x", ip=f"10.0.1.{i}")
    assert _login("adam", "adam-pass", ip="10.0.2.1").status_code == 429


def test_the_message_does_not_say_which_part_was_wrong(adam):
    unknown = _login("nobody-here", "x").content.decode()
    wrong = _login("adam", "x", ip="10.0.0.9").content.decode()
    for page in (unknown, wrong):
        assert "username and password didn't match" in page
        assert "no such user" not in page.lower() and "wrong password" not in page.lower()


def test_a_lock_ends_after_its_cool_off_and_a_success_resets_the_count(adam):
    for i in range(LIMIT):
        _login("adam", f"x{i}")
    assert _login("adam", "adam-pass").status_code == 429
    AccessAttempt.objects.update(  # the cool-off has passed
        attempt_time=AccessAttempt.objects.first().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert _login("adam", "adam-pass").status_code == 302
    for i in range(LIMIT - 1):  # a success started the count again
        assert _login("adam", f"y{i}").status_code == 200
    assert _login("adam", "adam-pass").status_code == 302
