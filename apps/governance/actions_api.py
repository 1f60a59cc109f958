"""JSON API for actions: /api/actions (list, propose), /api/actions/{id}, approve, reject."""

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Router, Schema, Status
from pydantic import StringConstraints

from apps.clusters.models import Cluster
from apps.core.api import AUTH
from apps.core.errors import NotFound
from apps.core.roles import Cap, require

from . import actions, selectors
from . import policy as rules_schema
from .action_models import Action, Kind, Risk, Severity
from .action_models import Status as ActionStatus

router = Router(auth=AUTH, tags=["actions"])
Text = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[^\x00]*$")]


class ApprovalOut(Schema):
    approver: str
    decision: str
    reason: str
    created_at: datetime


class ActionOut(Schema):
    id: int
    cluster: str
    kind: str
    namespace: str
    target_kind: str
    target_name: str
    workload: str
    parameters: dict
    # What the parameters change, as the cluster had it when proposed ({} when nothing to
    # compare): {"replicas": 3}, or {"limits": {"memory": "1536Mi"}, "requests": {...}}.
    before: dict
    reason: str
    severity: str
    risk: str
    source: str
    requester: str
    status: str
    status_reason: str
    # What the action would do, hashed: send it back when approving (ApproveIn.fingerprint).
    fingerprint: str
    required_approvals: int
    approvals: list[ApprovalOut]
    created_at: datetime
    expires_at: datetime
    finished_at: datetime | None
    result: dict | None
    # While running: {"holder", "last_seen", "lost", "retry_by"} (the worker that holds it).
    worker: dict | None = None


class ProposeIn(Schema):
    model_config = {"extra": "forbid"}
    cluster: Name
    kind: Literal[tuple(Kind.values)]  # type: ignore[valid-type]
    namespace: Annotated[str, StringConstraints(max_length=253)] = ""
    target_name: Name
    parameters: dict = Field(default_factory=dict)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]
    # ZeroTouch rates every action itself (severity from impact and environment, risk from the
    # kind and the target); what is sent here can raise that rating, never lower it.
    severity: Severity | None = None
    risk: Risk | None = None


class DecisionIn(Schema):
    model_config = {"extra": "forbid"}
    reason: Text = ""


class ApproveIn(DecisionIn):
    # The `fingerprint` of the action as the client read it (GET /api/actions/{id}): the
    # approval counts only if the action still is that, else 409 naming `fingerprint`.
    # Optional for older clients, who then approve whatever the action is when it arrives.
    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


def _out(a: Action) -> dict:
    return {
        "id": a.pk,
        "cluster": a.cluster.name,
        "kind": a.kind,
        "namespace": a.namespace,
        "target_kind": a.target_kind,
        "target_name": a.target_name,
        "workload": a.workload,
        "parameters": a.parameters,
        "before": a.before,
        "reason": a.reason,
        "severity": a.severity,
        "risk": a.risk,
        "source": a.source,
        "requester": a.requester,
        "status": a.status,
        "status_reason": a.status_reason,
        "fingerprint": a.fingerprint,
        "required_approvals": a.required_approvals,
        "approvals": [
            {
                "approver": ap.approver,
                "decision": ap.decision,
                "reason": ap.reason,
                "created_at": ap.created_at,
            }
            for ap in a.approvals.all()
        ],
        "created_at": a.created_at,
        "expires_at": a.expires_at,
        "finished_at": a.finished_at,
        "result": a.result,
        "worker": selectors.action_worker_state(a),
    }


def _get(action_id: int) -> Action:
    a = selectors.action_list().filter(pk=action_id).first()
    if a is None:
        raise NotFound(f"no action {action_id}", field="id")
    return a


@router.get("/actions", response=list[ActionOut], summary="Actions, newest first")
def list_actions(
    request,
    status: Literal[("", *ActionStatus.values)] = "",  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=500)] = 100,
):
    require(request.auth, Cap.VIEW)
    return [_out(a) for a in selectors.action_list(status=status)[:limit]]


@router.post("/actions", response={201: ActionOut}, summary="Propose an action")
def propose(request, payload: ProposeIn):
    require(request.auth, Cap.PROPOSE)
    cluster = Cluster.objects.filter(name=payload.cluster).first()
    if cluster is None:
        raise NotFound(f"no cluster {payload.cluster!r}", field="cluster")
    a = actions.action_propose(
        actor=request.auth,
        cluster=cluster,
        kind=payload.kind,
        namespace=payload.namespace,
        target_name=payload.target_name,
        parameters=payload.parameters,
        reason=payload.reason,
        severity=payload.severity,
        risk=payload.risk,
        source="api",
    )
    return Status(201, _out(_get(a.pk)))


@router.get("/actions/{action_id}", response=ActionOut, summary="One action")
def get_action(request, action_id: int):
    require(request.auth, Cap.VIEW)
    return _out(_get(action_id))


@router.post("/actions/{action_id}/approve", response=ActionOut, summary="Approve")
def approve(request, action_id: int, payload: ApproveIn):
    require(request.auth, Cap.APPROVE)
    a = actions.action_approve(
        approver=request.auth,
        action=_get(action_id),
        reason=payload.reason,
        expected_fingerprint=payload.fingerprint,
    )
    return _out(_get(a.pk))


@router.post("/actions/{action_id}/reject", response=ActionOut, summary="Reject")
def reject(request, action_id: int, payload: DecisionIn):
    require(request.auth, Cap.APPROVE)
    a = actions.action_reject(approver=request.auth, action=_get(action_id), reason=payload.reason)
    return _out(_get(a.pk))


class PolicyOut(Schema):
    name: str
    version: int
    rules: dict
    created_by: str
    created_at: datetime


class PolicyIn(Schema):
    model_config = {"extra": "forbid"}
    rules: rules_schema.Rules  # the one schema of rules: a wrong shape is a 400 naming it
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]
    base_version: int | None = None  # the version you edited; 409 if it is no longer active


def _policy_out(p) -> dict:
    return {
        "name": p.name,
        "version": p.version,
        "rules": actions.rules_mod.validate_or_safe(p.rules)[0],
        "created_by": p.created_by,
        "created_at": p.created_at,
    }


@router.get("/policy", response=PolicyOut, summary="The active approval policy")
def get_policy(request):
    require(request.auth, Cap.VIEW)
    return _policy_out(actions.policy_active())


@router.post("/policy", response=PolicyOut, summary="Change the policy (a new version)")
def set_policy(request, payload: PolicyIn):
    require(request.auth, Cap.MANAGE_POLICY)
    return _policy_out(
        actions.policy_update(
            actor=request.auth,
            rules=payload.rules.model_dump(),
            reason=payload.reason,
            base_version=payload.base_version,
        )
    )
