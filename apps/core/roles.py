"""Roles and what each may do. Views check with @role_required, services with require().

The four roles are Django groups created by a data migration. A user may hold several.
Superusers hold every capability.
"""

from collections.abc import Callable
from enum import StrEnum
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from .errors import RoleRequired


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


class Cap(StrEnum):
    VIEW = "view"  # read pages and the API
    PROPOSE = "propose"  # propose actions
    RUN_CHAOS = "run_chaos"  # start chaos experiments in allowed namespaces
    APPROVE = "approve"  # approve or reject other people's actions
    READ_LOGS = "read_logs"  # read containers' logs (they can hold secrets): not viewers
    ENGAGE_SAFETY = "engage_safety"  # make things stricter: a stricter mode, a switch off
    MANAGE_SAFETY = "manage_safety"  # loosen: back to autonomous, switches on, any mode
    MANAGE_POLICY = "manage_policy"
    MANAGE_USERS = "manage_users"


ROLE_CAPS: dict[Role, frozenset[Cap]] = {
    Role.VIEWER: frozenset({Cap.VIEW}),
    Role.OPERATOR: frozenset(
        {Cap.VIEW, Cap.PROPOSE, Cap.RUN_CHAOS, Cap.ENGAGE_SAFETY, Cap.READ_LOGS}
    ),
    Role.APPROVER: frozenset({Cap.VIEW, Cap.APPROVE, Cap.ENGAGE_SAFETY, Cap.READ_LOGS}),
    Role.ADMIN: frozenset(Cap),
}


def user_roles(user) -> frozenset[Role]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_zt_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(Role)
        else:
            names = set(user.groups.values_list("name", flat=True))
            cached = frozenset(r for r in Role if r.value in names)
        user._zt_roles = cached
    return cached


def user_caps(user) -> frozenset[Cap]:
    caps: set[Cap] = set()
    for role in user_roles(user):
        caps |= ROLE_CAPS[role]
    return frozenset(caps)


def user_can(user, cap: Cap) -> bool:
    return cap in user_caps(user)


def require(user, cap: Cap) -> None:
    """The service-side check: raises RoleRequired (403) unless the user holds `cap`."""
    if not user_can(user, cap):
        name = getattr(user, "username", "anonymous") or "anonymous"
        raise RoleRequired(f"{name} lacks the '{cap.value}' permission")


def role_required(cap: Cap) -> Callable:
    """The view-side check: login first (redirect), then 403 without the capability."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not user_can(request.user, cap):
                raise PermissionDenied(f"requires the '{cap.value}' permission")
            return view(request, *args, **kwargs)

        wrapped.required_cap = cap
        return wrapped

    return decorator
