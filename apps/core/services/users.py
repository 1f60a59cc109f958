"""Users, roles and logins."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..errors import Conflict, ValidationFailed
from ..models import AuditEvent
from ..roles import Cap, Role, require, user_roles
from .audit import Actor, audit_record
from .checks import clean_reason


def _role_names(user: AbstractBaseUser) -> list[str]:
    """The role groups the user is in, whether or not the account is active."""
    names = set(user.groups.values_list("name", flat=True))
    return sorted(r.value for r in Role if r.value in names)


@transaction.atomic
def user_create(*, actor: Actor, username: str, reason: str) -> AbstractBaseUser:
    """Create an account with no password and no roles (set them with user_roles_set)."""
    if not isinstance(actor, str):
        require(actor, Cap.MANAGE_USERS)
    reason = clean_reason(reason)
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
    reason = clean_reason(reason)
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


def auth_login_failed_record(*, username: str) -> AuditEvent | None:
    """A failed sign-in, audited with the username tried (it may not exist) and, from the
    request context, the client address. Never the password."""
    with transaction.atomic():
        return audit_record(
            actor="anonymous",
            verb="auth.login_failed",
            target_type="user",
            target_repr=f"user {username[:150]}",
            after={"username": username[:150]},
        )


def auth_locked_out_record(
    *, username: str, client_ip: str | None, window: timedelta
) -> AuditEvent | None:
    """A lock-out, audited once per lock of that account or that client: attempts during it
    are not recorded one by one, so a flood of them cannot flood the audit log."""
    target = f"user {username[:150]}"
    same = Q(target_repr=target) | (Q(client_ip=client_ip) if client_ip else Q())
    with transaction.atomic():
        recent = AuditEvent.objects.filter(
            verb="auth.locked_out", created_at__gte=timezone.now() - window
        )
        if recent.filter(same).exists():
            return None
        return audit_record(
            actor="anonymous",
            verb="auth.locked_out",
            target_type="user",
            target_repr=target,
            after={
                "username": username[:150],
                "locked_for_minutes": int(window.total_seconds() // 60),
            },
        )
