"""Engaging safety never loosens it, at any moment: now, or after an expiry."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import Conflict, RoleRequired
from apps.core.selectors import safety_state_get
from apps.core.services import safety_engage, safety_mode_set

pytestmark = pytest.mark.django_db


def _in(minutes: int):
    return timezone.now() + timedelta(minutes=minutes)


def test_an_operator_cannot_cut_a_long_dry_run_short_with_a_short_halt(adam, olivia):
    safety_mode_set(actor=adam, mode="dry_run", reason="deploy day", expires_at=_in(24 * 60))
    with pytest.raises(RoleRequired, match="end the current dry_run early"):
        safety_mode_set(actor=olivia, mode="halted", reason="blip", expires_at=_in(15))
    with pytest.raises(Conflict, match="dry_run without an expiry"):
        safety_engage(actor=olivia, mode="halted", reason="blip", expires_at=_in(15))
    state = safety_state_get()
    assert state.mode == "dry_run" and state.fallback_mode == "supervised"


def test_an_operator_cannot_cancel_a_scheduled_return_to_halted(adam, olivia):
    safety_mode_set(actor=adam, mode="halted", reason="freeze")
    safety_mode_set(actor=adam, mode="autonomous", reason="window", expires_at=_in(60))
    with pytest.raises(RoleRequired, match="less strict than halted"):
        safety_mode_set(actor=olivia, mode="supervised", reason="hm")
    state = safety_state_get()
    assert (state.mode, state.fallback_mode) == ("autonomous", "halted")


def test_an_operator_may_make_a_temporary_halt_permanent(adam, olivia, client):
    safety_mode_set(actor=adam, mode="halted", reason="drill", expires_at=_in(10))
    client.force_login(olivia)
    response = client.post(
        "/ai/safety/enable",
        json.dumps({"mode": "halted", "reason": "keep it stopped"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True
    assert body["safety"]["mode"] == "halted" and body["safety"]["expires_at"] is None


def test_enable_never_loosens_even_for_an_admin_with_an_expiry(adam, client):
    safety_mode_set(actor=adam, mode="halted", reason="stop")
    client.force_login(adam)
    response = client.post(
        "/ai/safety/enable",
        json.dumps({"mode": "supervised", "reason": "x", "expires_in_minutes": 30}),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["changed"] is False
    assert safety_state_get().mode == "halted"


def test_enable_refuses_what_would_end_a_stricter_mode_early(adam, alice, client):
    safety_mode_set(actor=adam, mode="halted", reason="short stop", expires_at=_in(5))
    client.force_login(alice)
    response = client.post(
        "/ai/safety/enable",
        json.dumps({"mode": "supervised", "reason": "after the stop"}),
        content_type="application/json",
    )
    # Already covered: halted for 5 minutes, then supervised.
    assert response.status_code == 200 and response.json()["changed"] is False
    safety_mode_set(actor=adam, mode="autonomous", reason="baseline")
    safety_mode_set(actor=adam, mode="halted", reason="short stop", expires_at=_in(5))
    response = client.post(
        "/ai/safety/enable",
        json.dumps({"mode": "dry_run", "reason": "after the stop"}),
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "halted without an expiry" in response.json()["detail"]
    assert safety_state_get().mode == "halted"


def test_engaging_over_a_temporary_mode_keeps_the_later_fallback(adam, olivia):
    safety_mode_set(actor=adam, mode="dry_run", reason="deploy", expires_at=_in(30))
    row, changed = safety_engage(actor=olivia, mode="halted", reason="x", expires_at=_in(60))
    assert changed and row.mode == "halted" and row.fallback_mode == "supervised"
