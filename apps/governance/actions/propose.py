"""Proposing an action: check it, resolve its target, record it, auto-approve if allowed."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster

from .. import policy as rules_mod
from ..action_models import (
    CHAOS_KINDS,
    NODE_KINDS,
    POD_KINDS,
    Action,
    Approval,
    Kind,
    Policy,
    Risk,
    Severity,
    Source,
)
from ..errors import NotFound, Unavailable, ValidationFailed
from ..models import Mode
from ..roles import Cap, require
from ..selectors import safety_state_get
from ..services import audit_record
from .decide import _approve
from .params import _clean_parameters, fingerprint
from .policies import policy_active
from .transitions import _effective_mode


def _resolve_target(
    cluster: Cluster, kind: str, namespace: str, name: str, parameters: dict
) -> tuple[str, str, str, dict]:
    """(target_kind, uid, workload, extra parameters) — and the target must exist."""
    try:
        gw = gateway_for(cluster)
    except gw_errors.GatewayError as exc:
        raise Unavailable(f"cluster {cluster.name}: {exc.message}") from exc
    try:
        if kind in NODE_KINDS:
            node = next((n for n in gw.nodes() if n.name == name), None)
            if node is None:
                raise NotFound(f"node {name} does not exist", field="target_name")
            return "Node", node.uid, "", {}
        if kind in POD_KINDS:
            pod = gw.pod(namespace, name)
            workload = ""
            if pod.owner and pod.owner.kind == "ReplicaSet":
                rs = next((r for r in gw.replica_sets(namespace) if r.name == pod.owner.name), None)
                workload = rs.owner.name if rs and rs.owner else ""
            return "Pod", pod.uid, workload, {}
        dep = gw.deployment(namespace, name)
        extra = {}
        if kind == Kind.ROLLOUT_UNDO:
            # Undo binds to the template, not the number: Kubernetes renumbers on undo.
            extra["template_hash"] = gw.replica_set_hash(namespace, name, parameters["revision"])
        return "Deployment", dep.uid, name, extra
    except gw_errors.NotFound as exc:
        raise NotFound(f"target does not exist: {exc.message}", field="target_name") from exc
    except gw_errors.GatewayError as exc:
        raise Unavailable(f"cluster {cluster.name}: {exc.message}") from exc
    finally:
        gw.close()


@transaction.atomic
def action_propose(
    *,
    actor: AbstractBaseUser | str,
    cluster: Cluster,
    kind: str,
    target_name: str,
    namespace: str = "",
    parameters: dict | None = None,
    reason: str,
    severity: str = Severity.P3,
    risk: str = Risk.MEDIUM,
    source: str = Source.MANUAL,
    evidence: dict | None = None,
    allow_auto_approve: bool = True,
) -> Action:
    """Propose a change. People need `propose`; `system:<name>` actors are ZeroTouch's own
    runbooks. Auto-approval happens here when policy and mode allow it — and the proposer
    has not asked for people (`allow_auto_approve=False`)."""
    if not isinstance(actor, str):
        require(actor, Cap.PROPOSE if kind not in CHAOS_KINDS else Cap.RUN_CHAOS)
    if kind not in Kind.values:
        raise ValidationFailed(
            f"unknown kind {kind!r}; expected one of {', '.join(Kind.values)}", field="kind"
        )
    for field, value, choices in (
        ("severity", severity, Severity),
        ("risk", risk, Risk),
        ("source", source, Source),
    ):
        if value not in choices.values:
            raise ValidationFailed(f"unknown {field} {value!r}", field=field)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required", field="reason")
    if kind not in NODE_KINDS and not namespace:
        raise ValidationFailed("a namespace is required for this kind", field="namespace")
    params = _clean_parameters(kind, parameters or {})
    target_kind, uid, workload, extra = _resolve_target(
        cluster, kind, namespace if kind not in NODE_KINDS else "", target_name, params
    )
    params.update(extra)
    policy = policy_active()
    r = rules_mod.validate(policy.rules)
    now = timezone.now()
    ns = "" if kind in NODE_KINDS else namespace
    fp = fingerprint(
        kind=kind,
        cluster_id=cluster.pk,
        namespace=ns,
        target_kind=target_kind,
        target_name=target_name,
        target_uid=uid,
        parameters=params,
    )
    actor_name = actor if isinstance(actor, str) else actor.get_username()
    action = Action.objects.create(
        cluster=cluster,
        kind=kind,
        namespace=ns,
        target_kind=target_kind,
        target_name=target_name,
        target_uid=uid,
        workload=workload,
        parameters=params,
        evidence=evidence or {},
        reason=reason.strip(),
        severity=severity,
        risk=risk,
        source=source,
        requester=actor_name,
        requester_user=None if isinstance(actor, str) else actor,
        fingerprint=fp,
        required_approvals=rules_mod.required_approvals(r, severity),
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
            "parameters": params,
            "severity": severity,
            "risk": risk,
            "source": source,
        },
        reason=reason,
    )
    if allow_auto_approve:
        _maybe_auto_approve(action, policy, r)
    return action


def _maybe_auto_approve(action: Action, policy: Policy, r: dict) -> None:
    if not rules_mod.auto_approvable(r, action.severity, action.risk):
        return
    state = safety_state_get()
    if (
        _effective_mode(action.cluster) != Mode.AUTONOMOUS
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
    _approve(
        action,
        actor=policy.label,
        reason=f"{action.severity}/{action.risk}: auto-approved by policy in autonomous mode",
    )
