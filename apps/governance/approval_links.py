"""One-click approval links: issue one for a notification, and say whether one may be used.

A link is `/actions/confirm/<token>`: the token is signed (django.core.signing, its own salt)
and names an ApprovalLink row, which makes it single-use, binds it to the action's fingerprint
when it was sent, and to the action's expiry. Using it (actions/links.py) goes through
`action_approve` like the inbox: a link grants nothing, it only saves the search.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ApplicationError

from .action_models import Action, Status
from .link_models import ApprovalLink

SALT = "zerotouch.governance.approval-link"


class LinkRefused(ApplicationError):
    """The link cannot be used; `current` is the action to look at instead (or None)."""

    status = 409

    def __init__(self, message: str, *, status: int = 409, current: int | None = None) -> None:
        super().__init__(message, field="token")
        self.status = status
        self.current = current


@dataclass(frozen=True)
class LinkState:
    link: ApprovalLink
    action: Action


def approval_link_issue(*, action: Action) -> str:
    """A fresh link (its path) for this action as it is now; write it in the transaction of
    the notification that carries it."""
    link = ApprovalLink.objects.create(
        action=action,
        nonce=secrets.token_hex(16),
        fingerprint=action.fingerprint,
        expires_at=action.expires_at,
    )
    token = signing.dumps(
        {"a": action.pk, "n": link.nonce, "e": int(action.expires_at.timestamp())}, salt=SALT
    )
    return reverse("action-link", args=[token])


def approval_link_state(*, token: str, now: datetime | None = None) -> LinkState:
    """The link and its action, or LinkRefused saying why it cannot be used (404 for a token
    that is not ours, 410 used or expired, 409 the action changed or is decided)."""
    now = now or timezone.now()
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise LinkRefused("this approval link is not valid", status=404) from None
    link = (
        ApprovalLink.objects.select_related("action", "action__cluster")
        .filter(nonce=data.get("n"), action_id=data.get("a"))
        .first()
    )
    if link is None:
        raise LinkRefused("this approval link is not valid", status=404)
    a = link.action
    if link.used_at is not None:
        raise LinkRefused(
            f"this link was used already (by {link.used_by} at {link.used_at:%Y-%m-%d %H:%M} "
            "UTC): a link approves once",
            status=410,
            current=a.pk,
        )
    if a.replaced_by_id is not None:
        raise LinkRefused(
            f"action #{a.pk} was replaced by #{a.replaced_by_id} ({a.status_reason}); "
            f"review #{a.replaced_by_id} instead",
            current=a.replaced_by_id,
        )
    if a.fingerprint != link.fingerprint:
        raise LinkRefused(
            f"action #{a.pk} changed after this link was sent (what it would do is not what "
            "the message showed); review it as it is now",
            current=a.pk,
        )
    if a.status != Status.PROPOSED:
        raise LinkRefused(f"action #{a.pk} is {a.status}, not waiting for approval", current=a.pk)
    if now >= min(link.expires_at, a.expires_at) or now.timestamp() >= data.get("e", 0):
        raise LinkRefused(
            f"this link expired with action #{a.pk} at {a.expires_at:%Y-%m-%d %H:%M} UTC",
            status=410,
            current=a.pk,
        )
    return LinkState(link=link, action=a)


def approval_links_prune(cutoff: datetime) -> int:
    """Links whose action expired before the cutoff (spent or not): they can never be used."""
    n, _ = ApprovalLink.objects.filter(expires_at__lt=cutoff).delete()
    return n
