"""Decisions on a proposed action: approve, reject, change its parameters, expire it."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record

from .. import guards
from ..action_models import Action, Approval, Status
from ..errors import Changed, Replaced
from ..notify import action_waiting_notify
from ..queueing import queue_execution
from .params import clean_parameters, fingerprint
from .policies import rules, rules_mod
from .target import action_rating, resolve_target
from .transitions import transition


def approve_recorded(action: Action, *, actor, reason: str) -> Action:
    now = timezone.now()
    action = transition(
        action,
        to=Status.APPROVED,
        allowed=(Status.PROPOSED,),
        actor=actor,
        verb="action.approved",
        reason=reason,
        approved_at=now,
        approved_fingerprint=action.fingerprint,
    )
    verdict = guards.check(action, stage="approval", auto=str(actor).startswith("policy:"))
    if verdict.outcome == "cancel":
        return transition(
            action,
            to=Status.CANCELLED,
            allowed=(Status.APPROVED,),
            actor="system:guards",
            verb="action.cancelled",
            reason=verdict.message,
            status_reason=verdict.message,
            finished_at=now,
        )
    if verdict.outcome in ("block", "plan"):
        return transition(
            action,
            to=Status.BLOCKED,
            allowed=(Status.APPROVED,),
            actor="system:guards",
            verb="action.blocked",
            reason=verdict.message,
            status_reason=verdict.message,
            finished_at=now,
            result={"plan": verdict.plan} if verdict.plan else None,
        )
    action = transition(
        action,
        to=Status.QUEUED,
        allowed=(Status.APPROVED,),
        actor="system:governance",
        verb="action.queued",
        queued_at=now,
    )
    queue_execution(action.pk)
    return action


@transaction.atomic
def action_approve(
    *,
    approver: AbstractBaseUser,
    action: Action,
    reason: str = "",
    expected_fingerprint: str | None = None,
) -> Action:
    """Approve `action`. `expected_fingerprint` is the fingerprint of the action as the
    approver was shown it (the inbox's and the action page's forms, a link, an API client):
    checked under the action's row lock, so parameters changed after the approver looked are
    refused (Changed, nothing written) rather than approved unseen."""
    require(approver, Cap.APPROVE)
    action = _decide(action, approver, "approve", reason, expected_fingerprint=expected_fingerprint)
    have = action.approvals.filter(decision="approve", fingerprint=action.fingerprint).count()
    if have < action.required_approvals:
        audit_record(
            actor=approver,
            verb="action.approval_recorded",
            target_type="action",
            target_id=str(action.pk),
            target_repr=f"action #{action.pk} {action}",
            after={"approvals": have, "required": action.required_approvals},
            reason=reason,
        )
        return action
    return approve_recorded(action, actor=approver, reason=reason)


@transaction.atomic
def action_reject(*, approver: AbstractBaseUser, action: Action, reason: str) -> Action:
    require(approver, Cap.APPROVE)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required to reject", field="reason")
    action = _decide(action, approver, "reject", reason)
    return transition(
        action,
        to=Status.REJECTED,
        allowed=(Status.PROPOSED,),
        actor=approver,
        verb="action.rejected",
        reason=reason,
        status_reason=reason,
        finished_at=timezone.now(),
    )


def _decide(
    action: Action,
    approver: AbstractBaseUser,
    decision: str,
    reason: str,
    *,
    expected_fingerprint: str | None = None,
) -> Action:
    """Lock the action, check this approver may decide on it now (and, given what they were
    shown, that it is still that), record the decision against the fingerprint just checked."""
    action = Action.objects.select_for_update().get(pk=action.pk)
    _decidable(action, approver)
    if expected_fingerprint is not None and expected_fingerprint != action.fingerprint:
        raise Changed(
            f"action #{action.pk} changed since it was shown to you (it now does "
            f"{action.get_kind_display()} {action.target_label} with {action.parameters}, "
            f"rated {action.severity}/{action.risk}); nothing was recorded: review it as "
            "it is now",
            current=action.pk,
        )
    Approval.objects.create(
        action=action,
        approver=approver.get_username(),
        approver_user=approver,
        decision=decision,
        fingerprint=action.fingerprint,
        reason=reason,
    )
    return action


def _decidable(action: Action, approver: AbstractBaseUser) -> None:
    if action.replaced_by_id is not None:
        raise Replaced(
            f"action #{action.pk} was replaced by #{action.replaced_by_id} before anyone "
            f"decided ({action.status_reason}); review #{action.replaced_by_id} instead",
            successor=action.replaced_by_id,
        )
    if action.status != Status.PROPOSED:
        raise Conflict(f"action #{action.pk} is {action.status}, not waiting for approval")
    if action.expires_at <= timezone.now():
        raise Conflict(f"action #{action.pk} expired at {action.expires_at:%Y-%m-%d %H:%M} UTC")
    if action.requester_user_id == approver.pk or action.requester == approver.get_username():
        raise ApplicationError(
            "four eyes: you cannot approve or reject your own action", field="approver"
        )
    if action.approvals.filter(approver=approver.get_username()).exists():
        raise Conflict(f"{approver.get_username()} already decided on action #{action.pk}")


def action_update_parameters(
    *, actor: AbstractBaseUser, action: Action, parameters: dict, reason: str
) -> Action:
    """The proposer changes what its proposed action will do: earlier approvals no longer
    count, and the action is rated again for what it now does, by the per-kind table (a
    person's change, whatever proposed it first); what the proposer asked for still raises."""
    require(actor, Cap.PROPOSE)
    if action.requester != actor.get_username():
        raise ApplicationError("only the proposer may change its parameters", field="actor")
    if action.status != Status.PROPOSED:
        raise Conflict(f"action #{action.pk} is {action.status}; its parameters are fixed")
    params = clean_parameters(action.kind, parameters)
    target = resolve_target(
        action.cluster, action.kind, action.namespace, action.target_name, params
    )  # outside the transaction: it asks the cluster
    params.update(target.extra)  # a rollout undo binds to the new revision's template
    asked = action.rating.get("requested") or {}
    rated = action_rating(
        cluster=action.cluster,
        kind=action.kind,
        parameters=params,
        target=target,
        judged=None,
        severity=asked.get("severity"),
        risk=asked.get("risk"),
    )
    with transaction.atomic():
        return _update_parameters(action, actor, params, rated, reason)


def _update_parameters(action: Action, actor, params: dict, rated, reason: str) -> Action:
    fp = fingerprint(
        kind=action.kind,
        cluster_id=action.cluster_id,
        namespace=action.namespace,
        target_kind=action.target_kind,
        target_name=action.target_name,
        target_uid=action.target_uid,
        parameters=params,
    )
    before = {
        "parameters": dict(action.parameters),
        "severity": action.severity,
        "risk": action.risk,
    }
    n = Action.objects.filter(pk=action.pk, version=action.version, status=Status.PROPOSED).update(
        parameters=params,
        fingerprint=fp,
        severity=rated.severity,
        risk=rated.risk,
        rating={**action.rating, **rated.as_dict()},
        required_approvals=rules_mod.required_approvals(rules(), rated.severity),
        version=F("version") + 1,
    )
    if n != 1:
        raise Conflict("the action changed meanwhile; reload and try again")
    action.refresh_from_db()
    audit_record(
        actor=actor,
        verb="action.parameters_changed",
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        before=before,
        after={
            "parameters": params,
            "severity": rated.severity,
            "risk": rated.risk,
            "why": list(rated.why),
            "approvals_voided": True,
        },
        reason=reason,
    )
    action_waiting_notify(action)  # a fresh link: the one sent before is bound to the old
    return action


def actions_expire_due(*, now=None) -> int:
    """Proposed actions past their expiry are never executed: they become expired."""
    now = now or timezone.now()
    count = 0
    for a in Action.objects.filter(status=Status.PROPOSED, expires_at__lte=now):
        with transaction.atomic():
            try:
                transition(
                    a,
                    to=Status.EXPIRED,
                    allowed=(Status.PROPOSED,),
                    actor="system:expiry",
                    verb="action.expired",
                    reason="not approved in time",
                    finished_at=now,
                )
                count += 1
            except Conflict:
                pass
    return count


@transaction.atomic
def action_withdraw(*, actor: str, action: Action, reason: str) -> Action:
    """The proposer takes back a proposal nobody has decided on yet (e.g. healing, when the
    incident cleared by itself): proposed -> cancelled, audited."""
    if actor != action.requester:
        raise ApplicationError("only the proposer may withdraw a proposal", field="actor")
    return transition(
        action,
        to=Status.CANCELLED,
        allowed=(Status.PROPOSED,),
        actor=actor,
        verb="action.withdrawn",
        reason=reason,
        status_reason=reason,
        finished_at=timezone.now(),
    )


@transaction.atomic
def action_replace(*, actor: str, action: Action, successor: Action, reason: str) -> Action:
    """Link a proposal its proposer withdrew as stale to the fresh one that replaces it
    (healing: the fix it waited with no longer fits), audited. Withdrawing first and linking
    after means an approver never finds two fixes open at once; approving the old one
    afterwards answers with its successor."""
    if actor != action.requester or actor != successor.requester:
        raise ApplicationError("only the proposer may replace its own proposal", field="actor")
    n = Action.objects.filter(
        pk=action.pk, status=Status.CANCELLED, replaced_by__isnull=True
    ).update(
        replaced_by=successor,
        status_reason=f"replaced by #{successor.pk}: {reason}",
        version=F("version") + 1,
    )
    if n != 1:
        raise Conflict(f"action #{action.pk} is not a withdrawn proposal that can be replaced")
    action.refresh_from_db()
    audit_record(
        actor=actor,
        verb="action.replaced",
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        before={"replaced_by": None},
        after={"replaced_by": successor.pk},
        reason=reason,
    )
    return action
