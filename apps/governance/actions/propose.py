"""Proposing an action: check it, resolve its target (outside any transaction), rate it, then
record and audit it in one short transaction, and auto-approve it if allowed."""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.clusters.quantity import format_cpu, format_memory
from apps.core.errors import ValidationFailed
from apps.core.models import Mode
from apps.core.roles import Cap, require
from apps.core.selectors import safety_state_get
from apps.core.services import audit_record

from .. import policy as rules_mod
from ..action_models import (
    CHAOS_KINDS,
    NODE_KINDS,
    POLICY_SOURCES,
    Action,
    Approval,
    Kind,
    Policy,
    Risk,
    Severity,
    Source,
    Status,
)
from ..notify import action_waiting_notify
from ..rating import Rating
from .decide import approve_recorded
from .params import clean_parameters, fingerprint
from .policies import policy_active
from .target import Resolved, action_rating, resolve_target
from .transitions import effective_mode


@dataclass(frozen=True)
class Prepared:
    """A proposal checked, its target resolved on the cluster and rated: what `action_record`
    writes. Only `action_prepare` makes one (it checks the proposer's role)."""

    actor: AbstractBaseUser | str
    cluster: Cluster
    kind: str
    namespace: str
    target_name: str
    target: Resolved
    parameters: dict
    reason: str
    rated: Rating
    source: str
    evidence: dict | None
    requested: dict
    judged: tuple[str, str] | None
    allow_auto_approve: bool


def action_propose(
    *,
    actor: AbstractBaseUser | str,
    cluster: Cluster,
    kind: str,
    target_name: str,
    namespace: str = "",
    parameters: dict | None = None,
    reason: str,
    severity: str | None = None,
    risk: str | None = None,
    judged: tuple[str, str] | None = None,
    source: str = Source.MANUAL,
    evidence: dict | None = None,
    allow_auto_approve: bool = True,
) -> Action:
    """Propose a change: `action_prepare` (talks to the cluster), then `action_record` (one
    short transaction). Callers that must write the Action together with rows of their own
    (an incident's link, a plan's items) call the two themselves, the first outside their
    transaction."""
    return action_record(
        action_prepare(
            actor=actor,
            cluster=cluster,
            kind=kind,
            target_name=target_name,
            namespace=namespace,
            parameters=parameters,
            reason=reason,
            severity=severity,
            risk=risk,
            judged=judged,
            source=source,
            evidence=evidence,
            allow_auto_approve=allow_auto_approve,
        )
    )


def action_prepare(
    *,
    actor: AbstractBaseUser | str,
    cluster: Cluster,
    kind: str,
    target_name: str,
    namespace: str = "",
    parameters: dict | None = None,
    reason: str,
    severity: str | None = None,
    risk: str | None = None,
    judged: tuple[str, str] | None = None,
    source: str = Source.MANUAL,
    evidence: dict | None = None,
    allow_auto_approve: bool = True,
) -> Prepared:
    """Check a proposal and resolve its target on the cluster. People need `propose`;
    `system:<name>` actors are ZeroTouch's own. This talks to the cluster: call it outside
    any transaction, so a slow API server never holds one open.

    Severity and risk are ZeroTouch's: derived on the server from the kind, the target and the
    cluster's environment (`rating.py`). `judged` is the (severity, risk) of ZeroTouch's own
    runbook or plan, which stands in for the per-kind table; `severity` and `risk` are what
    the proposer asks for, and only ever raise the rating.

    Auto-approval (in `action_record`) happens only for ZeroTouch's own proposals from a
    policy source (healing, costs, chaos), when the rating, the policy and the mode allow it,
    and the proposer has not asked for people (`allow_auto_approve=False`). A person's
    proposal always waits for another person."""
    if not isinstance(actor, str):
        require(actor, Cap.PROPOSE if kind not in CHAOS_KINDS else Cap.RUN_CHAOS)
    _check_proposal(kind, namespace, reason, severity, risk, judged, source)
    params = clean_parameters(kind, parameters or {})
    ns = "" if kind in NODE_KINDS else namespace
    target = resolve_target(cluster, kind, ns, target_name, params)
    params.update(target.extra)
    rated = action_rating(
        cluster=cluster,
        kind=kind,
        parameters=params,
        target=target,
        judged=judged,
        severity=severity,
        risk=risk,
    )
    return Prepared(
        actor=actor,
        cluster=cluster,
        kind=kind,
        namespace=ns,
        target_name=target_name,
        target=target,
        parameters=params,
        reason=reason,
        rated=rated,
        source=source,
        evidence=evidence,
        requested={"severity": severity, "risk": risk},
        judged=judged,
        allow_auto_approve=allow_auto_approve,
    )


def action_record(prepared: Prepared) -> Action:
    """Write a prepared proposal and its audit event in one transaction (the caller's, when
    there is one), and auto-approve it if allowed. Talks to the cluster only when the policy
    auto-approves (the approval guards read the target's live state)."""
    p = prepared
    with transaction.atomic():
        action, policy, r = _record(
            actor=p.actor,
            cluster=p.cluster,
            kind=p.kind,
            namespace=p.namespace,
            target_name=p.target_name,
            target=p.target,
            parameters=p.parameters,
            reason=p.reason,
            rated=p.rated,
            source=p.source,
            evidence=p.evidence,
            requested=p.requested,
            judged=p.judged,
        )
        auto = p.allow_auto_approve and isinstance(p.actor, str)
        if auto and p.source in POLICY_SOURCES:
            _maybe_auto_approve(action, policy, r)
        if action.status == Status.PROPOSED:
            action_waiting_notify(action)
    return action


def before_values(kind: str, target: Resolved) -> dict:
    """What the parameters of a `kind` change, on the target as resolved when proposed."""
    if kind == Kind.SCALE and target.replicas is not None:
        return {"replicas": target.replicas}
    if kind == Kind.PATCH_RESOURCES and target.resources is not None:
        shown = {"cpu": format_cpu, "memory": format_memory}
        return {
            part: {k: shown[k](v) for k, v in (target.resources.get(part) or {}).items()}
            for part in ("requests", "limits")
        }
    return {}


def _check_proposal(kind, namespace, reason, severity, risk, judged, source) -> None:
    if kind not in Kind.values:
        raise ValidationFailed(
            f"unknown kind {kind!r}; expected one of {', '.join(Kind.values)}", field="kind"
        )
    j_sev, j_risk = judged or (None, None)
    for field_name, value, choices in (
        ("severity", severity, Severity),
        ("risk", risk, Risk),
        ("severity", j_sev, Severity),
        ("risk", j_risk, Risk),
        ("source", source, Source),
    ):
        if value is not None and value not in choices.values:
            raise ValidationFailed(f"unknown {field_name} {value!r}", field=field_name)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required", field="reason")
    if kind not in NODE_KINDS and not namespace:
        raise ValidationFailed("a namespace is required for this kind", field="namespace")


def _record(
    *,
    actor,
    cluster,
    kind,
    namespace,
    target_name,
    target,
    parameters,
    reason,
    rated,
    source,
    evidence,
    requested,
    judged,
) -> tuple[Action, Policy, dict]:
    policy = policy_active()
    r = rules_mod.validate_or_safe(policy.rules)[0]
    now = timezone.now()
    fp = fingerprint(
        kind=kind,
        cluster_id=cluster.pk,
        namespace=namespace,
        target_kind=target.target_kind,
        target_name=target_name,
        target_uid=target.uid,
        parameters=parameters,
    )
    actor_name = actor if isinstance(actor, str) else actor.get_username()
    stored_rating = {**rated.as_dict(), "requested": requested, "judged": list(judged or [])}
    action = Action.objects.create(
        cluster=cluster,
        kind=kind,
        namespace=namespace,
        target_kind=target.target_kind,
        target_name=target_name,
        target_uid=target.uid,
        workload=target.workload,
        parameters=parameters,
        before=before_values(kind, target),
        evidence=evidence or {},
        reason=reason.strip(),
        severity=rated.severity,
        risk=rated.risk,
        rating=stored_rating,
        source=source,
        requester=actor_name,
        requester_user=None if isinstance(actor, str) else actor,
        fingerprint=fp,
        required_approvals=rules_mod.required_approvals(r, rated.severity),
        policy_version=policy.label,
        created_at=now,
        expires_at=now + timedelta(minutes=r["approval_ttl_minutes"]),
    )
    audit_record(
        actor=actor,
        verb="action.proposed",
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        after={
            "kind": kind,
            "target": action.target_label,
            "parameters": parameters,
            "before": action.before,
            "severity": rated.severity,
            "risk": rated.risk,
            "rating": stored_rating,
            "source": source,
        },
        reason=reason,
    )
    return action, policy, r


def _maybe_auto_approve(action: Action, policy: Policy, r: dict) -> None:
    if not rules_mod.auto_approvable(r, action.severity, action.risk):
        return
    state = safety_state_get()
    if (
        effective_mode(action.cluster) != Mode.AUTONOMOUS
        or not state.switch("auto_approve_low_severity").enabled
    ):
        return  # supervised, dry_run and halted never auto-approve
    Approval.objects.create(
        action=action,
        approver=policy.label,
        decision="approve",
        fingerprint=action.fingerprint,
        reason="auto-approved by policy",
    )
    approve_recorded(
        action,
        actor=policy.label,
        reason=f"{action.severity}/{action.risk}: auto-approved by policy in autonomous mode",
    )
