"""Users, roles and logins."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from ..errors import Conflict, ValidationFailed
from ..models import AuditEvent
from ..roles import Cap, Role, require, user_roles
from .audit import Actor, audit_record
from .checks import _clean_reason


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
