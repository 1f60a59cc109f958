"""Approving through a one-click link: the link is checked and spent, and the approval is
`action_approve`'s, with every rule the inbox applies (role, four-eyes, guards)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.core.services import audit_record

from ..action_models import Action
from ..approval_links import approval_link_state
from ..link_models import ApprovalLink
from .decide import action_approve


@transaction.atomic
def action_approve_by_link(*, token: str, approver: AbstractBaseUser, reason: str = "") -> Action:
    """Approve the link's action as `approver`. The link is spent only with an approval that
    counts: one refused (the proposer's own, a viewer's) leaves it for the right person."""
    state = approval_link_state(token=token)
    ApprovalLink.objects.select_for_update().get(pk=state.link.pk)
    state = approval_link_state(token=token)  # again, under the lock
    why = reason.strip() or "approved from a notification link"
    # The link's fingerprint, checked again under the action's lock: a change committed after
    # the check above is refused, never approved unseen.
    action = action_approve(
        approver=approver,
        action=state.action,
        reason=why,
        expected_fingerprint=state.link.fingerprint,
    )
    n = ApprovalLink.objects.filter(pk=state.link.pk, used_at__isnull=True).update(
        used_at=timezone.now(), used_by=approver.get_username()
    )
    if n != 1:
        raise Conflict("this link was used meanwhile")
    audit_record(
        actor=approver,
        verb="action.approval_link_used",
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        after={"link": state.link.pk, "status": action.status},
        reason=why,
    )
    return action
