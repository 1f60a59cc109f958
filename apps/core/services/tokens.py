"""API tokens: create (the raw token is shown once), revoke, record use."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..errors import Conflict, NotFound, ValidationFailed
from ..models import ApiToken
from ..roles import Cap, require, user_can
from .audit import audit_record
from .checks import iso_text


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
        after={"name": name, "prefix": token.prefix, "expires_at": iso_text(token.expires_at)},
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
        after={"revoked_at": iso_text(now)},
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
