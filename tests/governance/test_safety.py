from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from apps.core.errors import RoleRequired, ValidationFailed
from apps.core.models import AuditEvent, SafetyMode, SafetySwitch
from apps.core.selectors import safety_state_get
from apps.core.services import safety_expire_due, safety_mode_set, safety_switch_set

pytestmark = pytest.mark.django_db


def test_it_starts_supervised_and_fails_closed():
    state = safety_state_get()
    assert state.mode == "supervised"
    assert not any(s.enabled for s in state.switches)


def test_it_lets_an_admin_set_any_mode_and_audits_before_and_after(adam):
    safety_mode_set(actor=adam, mode="autonomous", reason="calm week")
    ev = AuditEvent.objects.get(verb="safety.mode_changed")
    assert ev.actor == "adam" and ev.reason == "calm week"
    assert ev.before["mode"] == "supervised" and ev.after["mode"] == "autonomous"
    assert safety_state_get().mode == "autonomous"


@pytest.mark.parametrize("who", ["olivia", "alice"])
def test_it_lets_operators_and_approvers_engage_but_not_loosen(who, request, adam):
    user = request.getfixturevalue(who)
    safety_mode_set(actor=user, mode="halted", reason="pager storm")
    assert safety_state_get().mode == "halted"
    with pytest.raises(RoleRequired):
        safety_mode_set(actor=user, mode="supervised", reason="all clear")
    assert safety_state_get().mode == "halted"
    assert AuditEvent.objects.filter(verb="safety.mode_changed").count() == 1


def test_it_refuses_viewers_and_role_less_users(vic, nobody):
    for user in (vic, nobody):
        with pytest.raises(RoleRequired):
            safety_mode_set(actor=user, mode="halted", reason="x")
        with pytest.raises(RoleRequired):
            safety_switch_set(actor=user, name="allow_chaos", enabled=False, reason="x")
    assert not AuditEvent.objects.exists()
    assert not SafetyMode.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "yolo", "reason": "x"}, "mode"),
        ({"mode": "halted", "reason": "  "}, "reason"),
        ({"mode": "halted", "reason": "x" * 2001}, "reason"),
        ({"mode": "halted", "reason": "x", "expires_at": "past"}, "expires_at"),
        ({"mode": "halted", "reason": "x", "expires_at": "naive"}, "expires_at"),
        ({"mode": "halted", "reason": "x", "expires_at": "far"}, "expires_at"),
    ],
)
def test_it_names_the_bad_field_and_writes_nothing(adam, kwargs, field):
    now = timezone.now()
    special = {
        "past": now - timedelta(seconds=1),
        "naive": now.replace(tzinfo=None),
        "far": now + timedelta(days=91),
    }
    if "expires_at" in kwargs:
        kwargs["expires_at"] = special[kwargs["expires_at"]]
    with pytest.raises(ValidationFailed) as exc:
        safety_mode_set(actor=adam, **kwargs)
    assert exc.value.field == field
    assert not AuditEvent.objects.exists()
    assert safety_state_get().mode == "supervised"


def test_it_falls_back_to_the_previous_mode_when_a_temporary_mode_expires(adam):
    safety_mode_set(actor=adam, mode="autonomous", reason="baseline")
    soon = timezone.now() + timedelta(minutes=10)
    safety_mode_set(actor=adam, mode="halted", reason="maintenance", expires_at=soon)
    state = safety_state_get()
    assert (state.mode, state.fallback_mode) == ("halted", "autonomous")
    # A second temporary mode still falls back to the last permanent one.
    safety_mode_set(actor=adam, mode="dry_run", reason="rehearsal", expires_at=soon)
    assert safety_state_get().fallback_mode == "autonomous"
    later = soon + timedelta(seconds=1)
    # Checked on read: the expired mode is not in force even before the beat task runs.
    assert safety_state_get(now=later).mode == "autonomous"
    assert safety_expire_due(now=later) == 1
    ev = AuditEvent.objects.get(verb="safety.mode_expired")
    assert ev.actor == "system:expiry"
    assert (ev.before["mode"], ev.after["mode"]) == ("dry_run", "autonomous")
    assert SafetyMode.objects.get().mode == "autonomous"
    assert safety_expire_due(now=later) == 0  # nothing left to expire, nothing written twice
    assert AuditEvent.objects.filter(verb="safety.mode_expired").count() == 1


def test_it_turns_an_expired_switch_off_and_audits_it(adam):
    soon = timezone.now() + timedelta(minutes=5)
    safety_switch_set(
        actor=adam, name="allow_chaos", enabled=True, reason="game day", expires_at=soon
    )
    assert safety_state_get().switch("allow_chaos").enabled
    later = soon + timedelta(seconds=1)
    assert not safety_state_get(now=later).switch("allow_chaos").enabled
    assert safety_expire_due(now=later) == 1
    row = SafetySwitch.objects.get(name="allow_chaos")
    assert not row.enabled and row.changed_by == "system:expiry"
    ev = AuditEvent.objects.get(verb="safety.switch_expired")
    assert ev.before == {"enabled": True, "expires_at": soon.astimezone(UTC).isoformat()}
    assert ev.after == {"enabled": False, "expires_at": None}


def test_it_needs_an_admin_to_turn_a_switch_on_but_anyone_engaged_may_turn_it_off(adam, olivia):
    with pytest.raises(RoleRequired):
        safety_switch_set(actor=olivia, name="lift_blast_radius", enabled=True, reason="x")
    safety_switch_set(actor=adam, name="lift_blast_radius", enabled=True, reason="incident")
    safety_switch_set(actor=olivia, name="lift_blast_radius", enabled=False, reason="done")
    assert not safety_state_get().switch("lift_blast_radius").enabled
    verbs = list(AuditEvent.objects.order_by("seq").values_list("actor", "verb"))
    assert verbs == [("adam", "safety.switch_changed"), ("olivia", "safety.switch_changed")]


def test_it_refuses_unknown_switches_and_expiry_on_off(adam):
    with pytest.raises(ValidationFailed) as exc:
        safety_switch_set(actor=adam, name="allow_everything", enabled=True, reason="x")
    assert exc.value.field == "name"
    with pytest.raises(ValidationFailed) as exc:
        safety_switch_set(
            actor=adam,
            name="allow_chaos",
            enabled=False,
            reason="x",
            expires_at=timezone.now() + timedelta(hours=1),
        )
    assert exc.value.field == "expires_at"
    assert not AuditEvent.objects.exists()


def test_it_records_nothing_when_nothing_changes(adam):
    safety_mode_set(actor=adam, mode="halted", reason="stop")
    safety_mode_set(actor=adam, mode="halted", reason="stop again")
    assert AuditEvent.objects.filter(verb="safety.mode_changed").count() == 1
