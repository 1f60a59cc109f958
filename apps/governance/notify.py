"""What governance tells people (core's notifications): an action waiting for approval, with
its one-click approval link, and an action that failed or was rolled back. Called inside the
transaction of the change; core's `notification_emit` never raises."""

import logging
from collections.abc import Callable
from functools import wraps

from django.db import transaction
from django.urls import reverse

from apps.core.formatting import settings_diff
from apps.core.services import notification_emit

from .action_models import Action, Status
from .approval_links import approval_link_issue

log = logging.getLogger(__name__)


def _fail_safe(notify: Callable[[Action], None]) -> Callable[[Action], None]:
    """A notification never fails the change it reports: its writes sit in a savepoint and
    whatever goes wrong is logged."""

    @wraps(notify)
    def wrapped(action: Action) -> None:
        try:
            with transaction.atomic():
                notify(action)
        except Exception:
            log.exception("action #%s: %s failed; the change goes on", action.pk, notify.__name__)

    return wrapped


def _evidence(action: Action) -> list[str]:
    ev = action.evidence or {}
    lines = [str(x) for x in ev.get("evidence") or ev.get("signals") or []][:5]
    for key in ("hypothesis", "expected", "verification", "rollback"):
        if ev.get(key):
            lines.append(f"{key}: {ev[key]}")
    return lines or [f"asked by {action.requester}: {action.reason}"]


def _fix(action: Action) -> str:
    change = "; ".join(settings_diff(action.parameters or {}, action.before or {}))
    return f"{action.get_kind_display()} {action.target_label}" + (f" ({change})" if change else "")


def _fields(action: Action) -> dict:
    return {
        "cause": action.reason,
        "evidence": _evidence(action),
        "fix": _fix(action),
        "cluster": action.cluster.name,
        "action": action.pk,
        "risk": action.risk,
        "requester": action.requester,
    }


@_fail_safe
def action_waiting_notify(action: Action) -> None:
    """A proposal waits for people: tell the approvers, with a link that approves it once."""
    fields = _fields(action)
    fields["approvals needed"] = action.required_approvals
    fields["expires"] = action.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    notification_emit(
        event="action.waiting",
        severity=action.severity,
        title=f"Approve #{action.pk}? {action.get_kind_display()} {action.target_label}",
        body=action.reason,
        cluster_id=action.cluster_id,
        namespace=action.namespace,
        fields=fields,
        link=approval_link_issue(action=action),
        action_id=action.pk,
    )


@_fail_safe
def action_failed_notify(action: Action) -> None:
    """A fix that failed or was undone: at least P2 (someone must look)."""
    severity = min(action.severity, "P2")  # "P1" < "P2": the more urgent of the two
    what = "rolled back" if action.status == Status.ROLLED_BACK else "failed"
    notification_emit(
        event="action.failed",
        severity=severity,
        title=f"Action #{action.pk} {what}: {action.get_kind_display()} {action.target_label}",
        body=action.status_reason,
        cluster_id=action.cluster_id,
        namespace=action.namespace,
        fields={**_fields(action), "cause": action.status_reason, "status": action.status},
        link=reverse("action-detail", args=[action.pk]),
        action_id=action.pk,
    )
