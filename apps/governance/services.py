"""Writes: the audit log, safety modes and switches, API tokens, roles, logins.

Every state change here writes its AuditEvent in the same transaction, and every service that
acts for a person checks that person's role itself (views check too, but never alone).
"""

import hashlib
import ipaddress
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from . import chain, context
from .errors import ApplicationError, Conflict, NotFound, RoleRequired, ValidationFailed
from .models import (
    MODE_STRICTNESS,
    ApiToken,
    AuditChainHead,
    AuditEvent,
    Mode,
    SafetyMode,
    SafetySwitch,
    Switch,
    WorkerHeartbeat,
)
from .roles import Cap, Role, require, user_can, user_roles

GLOBAL = "global"
EXPIRY_ACTOR = "system:expiry"
MAX_REASON = 2000
MAX_EXPIRY = timedelta(days=90)

Actor = AbstractBaseUser | str


# --- Audit ----------------------------------------------------------------------------------


def _actor_parts(actor: Actor) -> tuple[str, int | None]:
    if isinstance(actor, str):
        if not actor:
            raise ValidationFailed("an audit event needs an actor", field="actor")
        return actor, None
    return actor.get_username(), actor.pk


class AuditWriteError(ApplicationError):
    status = 500


def _normal_ip(value: str | None) -> str | None:
    """The address as the database will store it (IPv6 compressed), or None if invalid."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value)) if ":" not in value else clean_ipv6_address(value)
    except (ValueError, ValidationError):
        return None


@transaction.atomic
def audit_record(
    *,
    actor: Actor,
    verb: str,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction of the change it records."""
    actor_name, actor_user_id = _actor_parts(actor)
    ctx = context.current()
    # The head row is the chain's lock: writers queue on it, so the chain stays linear.
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(pk=1, seq=0, hash=chain.GENESIS)], ignore_conflicts=True
    )
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    created_at = timezone.now().astimezone(UTC)
    fields = {
        "seq": head.seq + 1,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "actor": actor_name,
        "actor_user_id": actor_user_id,
        "verb": verb,
        "target_type": target_type,
        "target_id": str(target_id),
        "target_repr": target_repr[:300],
        "before": chain.jsonable(before),
        "after": chain.jsonable(after),
        "reason": reason,
        "request_id": ctx.request_id,
        "client_ip": _normal_ip(ctx.client_ip),
    }
    digest = chain.row_hash(head.hash, fields)
    event = AuditEvent.objects.create(
        **{**fields, "created_at": created_at}, prev_hash=head.hash, hash=digest
    )
    AuditChainHead.objects.filter(pk=1).update(seq=fields["seq"], hash=digest)
    # Read the row back: what the database stores must hash to what we chained, or the
    # change is refused now instead of looking like tampering later.
    stored = AuditEvent.objects.get(pk=event.pk)
    if chain.row_hash(head.hash, stored.chain_fields()) != digest:
        raise AuditWriteError(f"audit event {verb} does not read back as written; refused")
    return event


# --- Input checks shared by the safety services ---------------------------------------------


def _clean_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("a reason is required", field="reason")
    if "\x00" in reason:
        raise ValidationFailed("reason contains a NUL character", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"reason is longer than {MAX_REASON} characters", field="reason")
    return reason


def _clean_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if timezone.is_naive(expires_at):
        raise ValidationFailed("expires_at needs a time zone (e.g. ...Z)", field="expires_at")
    if expires_at <= now:
        raise ValidationFailed("expires_at is in the past", field="expires_at")
    if expires_at - now > MAX_EXPIRY:
        raise ValidationFailed("expires_at is more than 90 days away", field="expires_at")
    return expires_at


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


# --- Safety modes ---------------------------------------------------------------------------


def _initial_mode() -> str:
    mode = settings.ZEROTOUCH_INITIAL_MODE
    return mode if mode in Mode.values else Mode.SUPERVISED


def _locked_mode_row(scope: str) -> SafetyMode:
    SafetyMode.objects.bulk_create(
        [SafetyMode(scope=scope, mode=_initial_mode(), changed_by="system:install")],
        ignore_conflicts=True,
    )
    return SafetyMode.objects.select_for_update().get(scope=scope)


def _snapshot(row: SafetyMode | SafetySwitch) -> dict:
    if isinstance(row, SafetyMode):
        return {
            "mode": row.mode,
            "expires_at": _iso(row.expires_at),
            "fallback_mode": row.fallback_mode or None,
        }
    return {"enabled": row.enabled, "expires_at": _iso(row.expires_at)}


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
    reason = f"expiry {_iso(row.expires_at)} passed"
    if isinstance(row, SafetyMode):
        return _apply(
            row,
            actor=EXPIRY_ACTOR,
            verb="safety.mode_expired",
            reason=reason,
            now=now,
            mode=row.fallback_mode or _initial_mode(),
            fallback_mode="",
            expires_at=None,
        )
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
        return f"it would end the current {row.mode} early (it lasts until {_iso(row.expires_at)})"
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
    reason = _clean_reason(reason)
    expires_at = _clean_expiry(expires_at, now)
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
    if mode == Mode.HALTED:
        _cancel_queued(scope, reason)
    return row


def _cancel_queued(scope: str, reason: str) -> None:
    """Emergency stop: queued actions are cancelled at once, in the same transaction. A
    running one finishes its current call and stops there (the executor checks again)."""
    from .action_models import Action, Status
    from .actions import transition

    queued = Action.objects.filter(status=Status.QUEUED)
    if scope.startswith("cluster:"):
        queued = queued.filter(cluster_id=int(scope.split(":", 1)[1]))
    for action in queued:
        transition(
            action,
            to=Status.CANCELLED,
            allowed=(Status.QUEUED,),
            actor="system:emergency-stop",
            verb="action.cancelled",
            reason=f"halted: {reason}",
            status_reason=f"halted: {reason}",
            finished_at=timezone.now(),
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
    reason = _clean_reason(reason)
    expires_at = _clean_expiry(expires_at, now)
    row = _expire_row(_locked_mode_row(scope), now)
    if _plan_covers(row, mode=mode, expires_at=expires_at):
        return row, False
    problem = mode_change_loosens(row, mode=mode, expires_at=expires_at)
    if problem:
        raise Conflict(
            f"cannot engage {mode}: the current plan is {row.mode} until "
            f"{_iso(row.expires_at)}, then {row.fallback_mode}, and {problem}. Ask for "
            f"{row.mode} without an expiry, or with one after {_iso(row.expires_at)}"
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
    reason = _clean_reason(reason)
    expires_at = _clean_expiry(expires_at, now)
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


# --- API tokens -----------------------------------------------------------------------------


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Make a token for `user`. The raw token is returned once and never stored."""
    require(user, Cap.VIEW)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed("a token needs a name of 1 to 80 characters", field="name")
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= 366:
        raise ValidationFailed("expires_in_days must be between 1 and 366", field="expires_in_days")
    raw = "zt_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[:10],
        digest=token_digest(raw),
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(
        actor=user,
        verb="token.created",
        target_type="api_token",
        target_id=str(token.pk),
        target_repr=f"API token {token}",
        after={"name": name, "prefix": token.prefix, "expires_at": _iso(token.expires_at)},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: AbstractBaseUser, token_id: int, reason: str = "") -> ApiToken:
    """Revoke a token: its owner may, and so may an admin."""
    require(actor, Cap.VIEW)
    token = ApiToken.objects.filter(pk=token_id).first()
    if token is None or (token.user_id != actor.pk and not user_can(actor, Cap.MANAGE_USERS)):
        raise NotFound("no such token")
    now = timezone.now()
    n = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    if n != 1:
        raise Conflict("the token is already revoked")
    token.refresh_from_db()
    audit_record(
        actor=actor,
        verb="token.revoked",
        target_type="api_token",
        target_id=str(token.pk),
        target_repr=f"API token {token}",
        before={"revoked_at": None},
        after={"revoked_at": _iso(now)},
        reason=reason,
    )
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record use, at most once a minute per token (not an audited change)."""
    now = timezone.now()
    stale = now - timedelta(minutes=1)
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=token.pk
    ).update(last_used_at=now)


# --- Users, roles, logins -------------------------------------------------------------------


def _role_names(user: AbstractBaseUser) -> list[str]:
    """The role groups the user is in, whether or not the account is active."""
    names = set(user.groups.values_list("name", flat=True))
    return sorted(r.value for r in Role if r.value in names)


@transaction.atomic
def user_create(*, actor: Actor, username: str, reason: str) -> AbstractBaseUser:
    """Create an account with no password and no roles (set them with user_roles_set)."""
    if not isinstance(actor, str):
        require(actor, Cap.MANAGE_USERS)
    reason = _clean_reason(reason)
    User = get_user_model()
    username = (username or "").strip()
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise ValidationFailed(
            f"invalid username: {' '.join(exc.messages)}", field="username"
        ) from exc
    if User.objects.filter(username=username).exists():
        raise Conflict(f"user {username!r} already exists")
    user = User.objects.create_user(username=username)
    audit_record(
        actor=actor,
        verb="user.created",
        target_type="user",
        target_id=str(user.pk),
        target_repr=f"user {username}",
        after={"username": username, "roles": []},
        reason=reason,
    )
    return user


@transaction.atomic
def user_roles_set(
    *, actor: Actor, user: AbstractBaseUser, roles: list[str], reason: str
) -> AbstractBaseUser:
    """Replace a user's roles. A person needs `manage_users`; `system:<x>` actors are commands
    run by the operator of the installation (e.g. `manage.py roles`)."""
    if not isinstance(actor, str):
        require(actor, Cap.MANAGE_USERS)
    unknown = sorted(set(roles) - set(Role))
    if unknown:
        raise ValidationFailed(f"unknown role(s): {', '.join(unknown)}", field="roles")
    reason = _clean_reason(reason)
    before = _role_names(user)
    groups = [Group.objects.get_or_create(name=r)[0] for r in sorted(set(roles))]
    user.groups.set(groups)
    user.__dict__.pop("_zt_roles", None)
    after = _role_names(user)
    if before != after:
        audit_record(
            actor=actor,
            verb="user.roles_changed",
            target_type="user",
            target_id=str(user.pk),
            target_repr=f"user {user.get_username()}",
            before={"roles": before},
            after={"roles": after},
            reason=reason,
        )
    return user


def auth_login_record(*, user: AbstractBaseUser) -> AuditEvent:
    return audit_record(
        actor=user,
        verb="auth.login",
        target_type="user",
        target_id=str(user.pk),
        target_repr=f"user {user.get_username()}",
        after={"roles": sorted(r.value for r in user_roles(user))},
    )


def auth_logout_record(*, user: AbstractBaseUser) -> AuditEvent:
    return audit_record(
        actor=user,
        verb="auth.logout",
        target_type="user",
        target_id=str(user.pk),
        target_repr=f"user {user.get_username()}",
    )


# --- Workers --------------------------------------------------------------------------------


def worker_heartbeat(*, hostname: str, pid: int) -> None:
    """Upsert the worker's row (liveness, not a domain change: not audited)."""
    now = timezone.now()
    n = WorkerHeartbeat.objects.filter(hostname=hostname).update(last_seen=now, pid=pid)
    if not n:
        WorkerHeartbeat.objects.bulk_create(
            [WorkerHeartbeat(hostname=hostname, pid=pid, started_at=now, last_seen=now)],
            ignore_conflicts=True,
        )
