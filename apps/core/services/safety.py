"""Safety modes and override switches: set, engage, expire. Every change is audited."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..errors import Conflict, RoleRequired, ValidationFailed
from ..models import MODE_STRICTNESS, Mode, SafetyMode, SafetySwitch, Switch
from ..registry import HALT_HOOKS
from ..roles import Cap, require, user_can
from .audit import Actor, audit_record
from .checks import MAX_REASON, clean_expiry, clean_reason, iso_text
from .deliveries import notification_emit

GLOBAL = "global"


EXPIRY_ACTOR = "system:expiry"


# --- Safety modes ---------------------------------------------------------------------------


def initial_mode(scope: str = GLOBAL) -> str:
    """A scope's mode before anyone set it: the installation's for the global scope; for a
    cluster, the least strict (it then follows the global mode: the stricter of the two
    applies, so a cluster can be made stricter, never looser)."""
    if scope != GLOBAL:
        return Mode.AUTONOMOUS
    mode = settings.ZEROTOUCH_INITIAL_MODE
    return mode if mode in Mode.values else Mode.SUPERVISED


def _locked_mode_row(scope: str) -> SafetyMode:
    SafetyMode.objects.bulk_create(
        [SafetyMode(scope=scope, mode=initial_mode(scope), changed_by="system:install")],
        ignore_conflicts=True,
    )
    return SafetyMode.objects.select_for_update().get(scope=scope)


def _snapshot(row: SafetyMode | SafetySwitch) -> dict:
    if isinstance(row, SafetyMode):
        return {
            "mode": row.mode,
            "expires_at": iso_text(row.expires_at),
            "fallback_mode": row.fallback_mode or None,
        }
    return {"enabled": row.enabled, "expires_at": iso_text(row.expires_at)}


def _target(row: SafetyMode | SafetySwitch) -> dict:
    if isinstance(row, SafetyMode):
        return {
            "target_type": "safety_mode",
            "target_id": row.scope,
            "target_repr": f"safety mode ({row.scope})",
        }
    return {
        "target_type": "safety_switch",
        "target_id": f"{row.scope}/{row.name}",
        "target_repr": f"switch {row.name} ({row.scope})",
    }


def _apply(row, *, actor: Actor, verb: str, reason: str, now: datetime, **changes):
    """Change a locked mode or switch row by a conditional UPDATE on its version, then record
    it, in the caller's transaction. Returns the fresh row."""
    before = _snapshot(row)
    changed_by = actor if isinstance(actor, str) else actor.get_username()
    n = (
        type(row)
        .objects.filter(pk=row.pk, version=row.version)
        .update(
            **changes,
            reason=reason[:MAX_REASON],
            changed_by=changed_by,
            changed_at=now,
            version=F("version") + 1,
        )
    )
    if n != 1:
        raise Conflict(f"{_target(row)['target_repr']} changed meanwhile; reload and try again")
    row.refresh_from_db()
    audit_record(
        actor=actor, verb=verb, **_target(row), before=before, after=_snapshot(row), reason=reason
    )
    return row


def _expired(row: SafetyMode | SafetySwitch, now: datetime) -> bool:
    live = row.mode if isinstance(row, SafetyMode) else row.enabled
    return bool(live) and row.expires_at is not None and row.expires_at <= now


def _expire_row(row: SafetyMode | SafetySwitch, now: datetime):
    """If the locked row has expired, fall back (mode) or switch off, and audit it."""
    if not _expired(row, now):
        return row
    reason = f"expiry {iso_text(row.expires_at)} passed"
    if isinstance(row, SafetyMode):
        before = row.mode
        row = _apply(
            row,
            actor=EXPIRY_ACTOR,
            verb="safety.mode_expired",
            reason=reason,
            now=now,
            mode=row.fallback_mode or initial_mode(row.scope),
            fallback_mode="",
            expires_at=None,
        )
        _notify_mode(row, before=before, actor=EXPIRY_ACTOR, reason=reason)
        return row
    return _apply(
        row,
        actor=EXPIRY_ACTOR,
        verb="safety.switch_expired",
        reason=reason,
        now=now,
        enabled=False,
        expires_at=None,
    )


def _strict(mode: str) -> int:
    return MODE_STRICTNESS[Mode(mode)]


def mode_change_loosens(row: SafetyMode, *, mode: str, expires_at: datetime | None) -> str:
    """Why moving `row` to `mode` (until `expires_at`) would make some moment, now or later,
    less strict than the current plan — or "" when it does not. The current plan is the mode
    until its expiry and its fallback after it."""
    if _strict(mode) < _strict(row.mode):
        return f"{mode} is less strict than the current {row.mode}"
    if row.expires_at is None:
        return ""  # a temporary mode on top falls back to the current one
    if _strict(mode) < _strict(row.fallback_mode or row.mode):
        return f"{mode} is less strict than {row.fallback_mode}, which follows at the expiry"
    if expires_at is not None and expires_at < row.expires_at:
        return (
            f"it would end the current {row.mode} early (it lasts until {iso_text(row.expires_at)})"
        )
    return ""


@transaction.atomic
def safety_mode_set(
    *,
    actor: AbstractBaseUser,
    mode: str,
    reason: str,
    expires_at: datetime | None = None,
    scope: str = GLOBAL,
) -> SafetyMode:
    """Change a scope's mode. A change that makes no moment less strict needs `engage_safety`;
    anything that loosens needs `manage_safety` (admin). With an expiry the mode returns by
    itself to the last permanent mode."""
    require(actor, Cap.ENGAGE_SAFETY)
    if mode not in Mode.values:
        raise ValidationFailed(
            f"unknown mode {mode!r}; expected one of {', '.join(Mode.values)}", field="mode"
        )
    now = timezone.now()
    reason = clean_reason(reason)
    expires_at = clean_expiry(expires_at, now)
    row = _expire_row(_locked_mode_row(scope), now)
    if mode == row.mode and expires_at == row.expires_at:
        return row  # nothing changes, nothing to record
    problem = mode_change_loosens(row, mode=mode, expires_at=expires_at)
    if problem and not user_can(actor, Cap.MANAGE_SAFETY):
        raise RoleRequired(
            f"{problem}: that loosens safety, which needs the 'manage_safety' permission (admin)"
        )
    if expires_at is None:
        fallback = ""
    else:  # return to the last permanent mode, not to another temporary one
        fallback = row.fallback_mode if row.expires_at else row.mode
    before = row.mode
    row = _apply(
        row,
        actor=actor,
        verb="safety.mode_changed",
        reason=reason,
        now=now,
        mode=mode,
        fallback_mode=fallback,
        expires_at=expires_at,
    )
    _notify_mode(row, before=before, actor=actor, reason=reason)
    if mode == Mode.HALTED:
        _halt_hooks_run(scope, reason)
    return row


def _halt_hooks_run(scope: str, reason: str) -> None:
    """Emergency stop: what other apps stop when a scope is halted (governance cancels its
    queued actions), at once, in the same transaction."""
    for hook in HALT_HOOKS:
        hook(scope, reason)


def safety_storm_brake(*, cluster_pk: int, reason: str) -> bool:
    """Halt automation on one cluster after a storm of failed actions, in the caller's
    transaction: the mode row goes to halted (no expiry), audited as safety.storm_brake, and
    its queued actions are cancelled (HALT_HOOKS). False when it was halted already."""
    scope = f"cluster:{cluster_pk}"
    row = _locked_mode_row(scope)
    if row.mode == Mode.HALTED:
        return False
    _apply(
        row,
        actor="system:storm-brake",
        verb="safety.storm_brake",
        reason=reason,
        now=timezone.now(),
        mode=Mode.HALTED,
        fallback_mode="",
        expires_at=None,
    )
    notification_emit(
        event="safety.storm_brake",
        severity="P1",
        title=f"Storm brake engaged: automation halted on {scope}",
        body=reason,
        cluster_id=cluster_pk,
        fields={"scope": scope, "mode": Mode.HALTED, "cause": reason},
        link="/safety/",
    )
    _halt_hooks_run(scope, reason)
    return True


# How loud a move to each mode is: a halt wakes people, a return to autonomous is news.
MODE_SEVERITY = {Mode.HALTED: "P1", Mode.DRY_RUN: "P2", Mode.SUPERVISED: "P3"}


def _notify_mode(row: SafetyMode, *, before: str, actor: Actor, reason: str) -> None:
    if row.mode == before:
        return
    by = actor if isinstance(actor, str) else actor.get_username()
    cluster_id = int(row.scope.split(":", 1)[1]) if row.scope.startswith("cluster:") else None
    notification_emit(
        event="safety.mode_changed",
        severity=MODE_SEVERITY.get(row.mode, "P3"),
        title=f"Safety mode {before} -> {row.mode} ({row.scope})",
        body=reason,
        cluster_id=cluster_id,
        fields={
            "scope": row.scope,
            "from": before,
            "to": row.mode,
            "by": by,
            "until": iso_text(row.expires_at) if row.expires_at else "",
        },
        link="/safety/",
    )


def _plan_covers(row: SafetyMode, *, mode: str, expires_at: datetime | None) -> bool:
    """True when the current plan is already at least as strict as `mode` at every moment
    until `expires_at` (forever when None)."""
    if _strict(row.mode) < _strict(mode):
        return False
    if row.expires_at is None:
        return True
    ends_in_time = expires_at is not None and expires_at <= row.expires_at
    return ends_in_time or _strict(row.fallback_mode or row.mode) >= _strict(mode)


@transaction.atomic
def safety_engage(
    *,
    actor: AbstractBaseUser,
    mode: str,
    reason: str,
    expires_at: datetime | None = None,
    scope: str = GLOBAL,
) -> tuple[SafetyMode, bool]:
    """Make the scope at least as strict as `mode` (until `expires_at`). Never loosens:
    nothing changes when the current plan already covers the request, and a request that could
    only be met by ending a stricter mode early is refused with a Conflict that says why."""
    require(actor, Cap.ENGAGE_SAFETY)
    if mode not in Mode.values or mode == Mode.AUTONOMOUS:
        raise ValidationFailed(
            f"cannot engage {mode!r}; expected supervised, dry_run or halted", field="mode"
        )
    now = timezone.now()
    reason = clean_reason(reason)
    expires_at = clean_expiry(expires_at, now)
    row = _expire_row(_locked_mode_row(scope), now)
    if _plan_covers(row, mode=mode, expires_at=expires_at):
        return row, False
    problem = mode_change_loosens(row, mode=mode, expires_at=expires_at)
    if problem:
        raise Conflict(
            f"cannot engage {mode}: the current plan is {row.mode} until "
            f"{iso_text(row.expires_at)}, then {row.fallback_mode}, and {problem}. Ask for "
            f"{row.mode} without an expiry, or with one after {iso_text(row.expires_at)}"
        )
    return safety_mode_set(
        actor=actor, mode=mode, reason=reason, expires_at=expires_at, scope=scope
    ), True


# --- Override switches ----------------------------------------------------------------------


def _locked_switch_row(scope: str, name: str) -> SafetySwitch:
    SafetySwitch.objects.bulk_create(
        [SafetySwitch(scope=scope, name=name, changed_by="system:install")], ignore_conflicts=True
    )
    return SafetySwitch.objects.select_for_update().get(scope=scope, name=name)


@transaction.atomic
def safety_switch_set(
    *,
    actor: AbstractBaseUser,
    name: str,
    enabled: bool,
    reason: str,
    expires_at: datetime | None = None,
    scope: str = GLOBAL,
) -> SafetySwitch:
    """Turn an override switch on (admin) or off (anyone who may engage safety)."""
    require(actor, Cap.MANAGE_SAFETY if enabled else Cap.ENGAGE_SAFETY)
    if name not in Switch.values:
        raise ValidationFailed(
            f"unknown switch {name!r}; expected one of {', '.join(Switch.values)}", field="name"
        )
    now = timezone.now()
    reason = clean_reason(reason)
    expires_at = clean_expiry(expires_at, now)
    if expires_at and not enabled:
        raise ValidationFailed(
            "an expiry applies only when turning a switch on", field="expires_at"
        )
    row = _expire_row(_locked_switch_row(scope, name), now)
    if row.enabled == enabled and row.expires_at == expires_at:
        return row
    return _apply(
        row,
        actor=actor,
        verb="safety.switch_changed",
        reason=reason,
        now=now,
        enabled=enabled,
        expires_at=expires_at,
    )


def safety_expire_due(*, now: datetime | None = None) -> int:
    """Fall back every mode and switch whose expiry has passed; one transaction each."""
    now = now or timezone.now()
    due = [
        *SafetyMode.objects.filter(expires_at__lte=now),
        *SafetySwitch.objects.filter(enabled=True, expires_at__lte=now),
    ]
    count = 0
    for stale in due:
        with transaction.atomic():
            row = type(stale).objects.select_for_update().get(pk=stale.pk)
            if _expired(row, now):  # another worker may have got there first
                _expire_row(row, now)
                count += 1
    return count
