"""Writes for Actions: propose, approve, reject, expire, and the policy that decides.

Every transition is a conditional UPDATE checked by its row count, with its AuditEvent in the
same transaction. Execution lives in executor.py; the guards in guards.py.
"""

import hashlib
import json
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster
from apps.clusters.quantity import QuantityError, parse

from . import policy as rules_mod
from .action_models import (
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
    Status,
)
from .errors import ApplicationError, Conflict, NotFound, Unavailable, ValidationFailed
from .models import Mode
from .roles import Cap, require, user_can
from .selectors import safety_state_get
from .services import audit_record

MAX_REPLICAS = 1000


# --- Policy ---------------------------------------------------------------------------------


def policy_active() -> Policy:
    row = Policy.objects.filter(active=True).order_by("-version").first()
    if row is None:
        Policy.objects.bulk_create(
            [Policy(name="default", version=1, active=True, rules=rules_mod.DEFAULT_RULES)],
            ignore_conflicts=True,
        )
        row = Policy.objects.filter(active=True).order_by("-version").first()
    return row


def rules() -> dict:
    return rules_mod.validate(policy_active().rules)


@transaction.atomic
def policy_update(
    *, actor: AbstractBaseUser, rules: dict, reason: str, base_version: int | None = None
) -> Policy:
    """A new policy version (admin); the old one stays for the record. `base_version` is the
    version the editor started from: if someone changed the policy since, nothing is written."""
    require(actor, Cap.MANAGE_POLICY)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required", field="reason")
    try:
        clean = rules_mod.validate(rules)
    except rules_mod.RulesError as exc:
        raise ValidationFailed(str(exc), field="rules") from exc
    current = policy_active()
    stale = base_version is not None and base_version != current.version
    if stale or Policy.objects.filter(pk=current.pk, active=True).update(active=False) != 1:
        raise Conflict(
            f"the policy changed while you edited it (now version {current.version}); "
            "reload and apply your change again"
        )
    new = Policy.objects.create(
        name=current.name,
        version=current.version + 1,
        active=True,
        rules=clean,
        created_by=actor.get_username(),
    )
    audit_record(
        actor=actor,
        verb="policy.changed",
        target_type="policy",
        target_id=new.name,
        target_repr=f"policy {new.name}",
        before={"version": current.version, "rules": current.rules},
        after={"version": new.version, "rules": clean},
        reason=reason,
    )
    return new


# --- Proposal -------------------------------------------------------------------------------


def fingerprint(
    *,
    kind: str,
    cluster_id: int,
    namespace: str,
    target_kind: str,
    target_name: str,
    target_uid: str,
    parameters: dict,
) -> str:
    doc = {
        "kind": kind,
        "cluster": cluster_id,
        "namespace": namespace,
        "target": [target_kind, target_name, target_uid],
        "parameters": parameters,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _snapshot(a: Action) -> dict:
    return {
        "status": a.status,
        "fingerprint": a.fingerprint[:12],
        "approved_fingerprint": a.approved_fingerprint[:12],
        "status_reason": a.status_reason,
    }


def _clean_parameters(kind: str, parameters: dict) -> dict:
    p = dict(parameters or {})
    if kind == Kind.SCALE:
        replicas = p.get("replicas")
        if (
            not isinstance(replicas, int)
            or isinstance(replicas, bool)
            or not (0 <= replicas <= MAX_REPLICAS)
        ):
            raise ValidationFailed(
                f"replicas must be a whole number from 0 to {MAX_REPLICAS}",
                field="parameters.replicas",
            )
    elif kind == Kind.ROLLOUT_UNDO:
        revision = p.get("revision")
        if not isinstance(revision, int) or revision < 1:
            raise ValidationFailed(
                "revision must be a positive whole number", field="parameters.revision"
            )
    elif kind == Kind.PATCH_RESOURCES:
        if not isinstance(p.get("container"), str) or not p["container"]:
            raise ValidationFailed("container is required", field="parameters.container")
        for part in ("requests", "limits"):
            values = p.get(part) or {}
            if not isinstance(values, dict) or set(values) - {"cpu", "memory"}:
                raise ValidationFailed(
                    f"{part} may set cpu and memory only", field=f"parameters.{part}"
                )
            for name, value in values.items():
                try:
                    if parse(value) <= 0:
                        raise QuantityError(value)
                except QuantityError:
                    raise ValidationFailed(
                        f"{part}.{name}: {value!r} is not a positive quantity",
                        field=f"parameters.{part}.{name}",
                    ) from None
        if not p.get("requests") and not p.get("limits"):
            raise ValidationFailed("give requests or limits", field="parameters")
    elif kind in CHAOS_KINDS:
        p.setdefault("duration", "60s")
        if kind == Kind.CHAOS_NETWORK_DELAY:
            p.setdefault("latency", "200ms")
    return p


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
) -> Action:
    """Propose a change. People need `propose`; `policy:<name>@<v>` actors are ZeroTouch's
    own runbooks. Auto-approval happens here when policy and mode allow it."""
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
    _maybe_auto_approve(action, policy, r)
    return action


def _effective_mode(cluster: Cluster) -> str:
    from .models import MODE_STRICTNESS, SafetyMode

    modes = [safety_state_get().mode]
    scope = f"cluster:{cluster.pk}"
    if SafetyMode.objects.filter(scope=scope).exists():  # a cluster may be stricter, never looser
        modes.append(safety_state_get(scope=scope).mode)
    return max(modes, key=lambda m: MODE_STRICTNESS[Mode(m)])


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


# --- Decisions ------------------------------------------------------------------------------


def transition(
    action: Action, *, to: str, allowed: tuple, actor, verb: str, reason: str = "", **fields
) -> Action:
    """Move an action between states with a conditional UPDATE and its audit event."""
    before = _snapshot(action)
    n = Action.objects.filter(pk=action.pk, status__in=allowed, version=action.version).update(
        status=to, version=F("version") + 1, **fields
    )
    if n != 1:
        action.refresh_from_db()
        raise Conflict(f"action #{action.pk} is {action.status}; cannot move it to {to}")
    action.refresh_from_db()
    audit_record(
        actor=actor,
        verb=verb,
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        before=before,
        after=_snapshot(action),
        reason=reason,
    )
    return action


def _approve(action: Action, *, actor, reason: str) -> Action:
    from . import guards

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
    from .tasks import action_execute

    action_execute.delay_on_commit(action.pk)
    return action


@transaction.atomic
def action_approve(*, approver: AbstractBaseUser, action: Action, reason: str = "") -> Action:
    require(approver, Cap.APPROVE)
    action = Action.objects.select_for_update().get(pk=action.pk)
    _decidable(action, approver)
    Approval.objects.create(
        action=action,
        approver=approver.get_username(),
        approver_user=approver,
        decision="approve",
        fingerprint=action.fingerprint,
        reason=reason,
    )
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
    return _approve(action, actor=approver, reason=reason)


@transaction.atomic
def action_reject(*, approver: AbstractBaseUser, action: Action, reason: str) -> Action:
    require(approver, Cap.APPROVE)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required to reject", field="reason")
    action = Action.objects.select_for_update().get(pk=action.pk)
    _decidable(action, approver)
    Approval.objects.create(
        action=action,
        approver=approver.get_username(),
        approver_user=approver,
        decision="reject",
        fingerprint=action.fingerprint,
        reason=reason,
    )
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


def _decidable(action: Action, approver: AbstractBaseUser) -> None:
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


@transaction.atomic
def action_update_parameters(
    *, actor: AbstractBaseUser, action: Action, parameters: dict, reason: str
) -> Action:
    """Change what a proposed action will do: earlier approvals no longer count."""
    require(actor, Cap.PROPOSE)
    action = Action.objects.select_for_update().get(pk=action.pk)
    if action.status != Status.PROPOSED:
        raise Conflict(f"action #{action.pk} is {action.status}; its parameters are fixed")
    params = _clean_parameters(action.kind, parameters)
    if action.kind == Kind.ROLLOUT_UNDO:
        params["template_hash"] = action.parameters.get("template_hash", "")
    fp = fingerprint(
        kind=action.kind,
        cluster_id=action.cluster_id,
        namespace=action.namespace,
        target_kind=action.target_kind,
        target_name=action.target_name,
        target_uid=action.target_uid,
        parameters=params,
    )
    before = dict(action.parameters)
    n = Action.objects.filter(pk=action.pk, version=action.version).update(
        parameters=params, fingerprint=fp, version=F("version") + 1
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
        before={"parameters": before},
        after={"parameters": params, "approvals_voided": True},
        reason=reason,
    )
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


def approver_still_entitled(action: Action) -> str:
    """ "" if every human approval still comes from someone who may approve; else who not."""
    for ap in action.approvals.filter(decision="approve").select_related("approver_user"):
        if ap.approver_user is not None and not user_can(ap.approver_user, Cap.APPROVE):
            return f"{ap.approver} no longer holds the approver role"
    return ""
