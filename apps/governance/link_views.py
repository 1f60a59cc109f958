"""The page a one-click approval link opens: the action and its evidence, and a button that
approves it (a POST with CSRF) through the same service as the Approvals inbox."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required

from . import actions, selectors
from .action_models import Status
from .approval_links import LinkRefused, approval_link_state
from .errors import Changed, Replaced

TEMPLATE = "governance/action_link.html"


def _refused(request, exc: LinkRefused | Replaced | Changed):
    if isinstance(exc, LinkRefused) and exc.status == 404:
        raise Http404(exc.message)
    current = exc.successor if isinstance(exc, Replaced) else exc.current
    ctx = {"problem": exc.message, "current": current}
    return render(request, TEMPLATE, ctx, status=exc.status)


@require_http_methods(["GET", "POST"])
@role_required(Cap.APPROVE)
def confirm(request, token: str):
    try:
        action = approval_link_state(token=token).action
    except LinkRefused as exc:
        return _refused(request, exc)
    status = 200
    if request.method == "POST":
        try:
            action = actions.action_approve_by_link(
                token=token, approver=request.user, reason=request.POST.get("reason", "")
            )
        except (LinkRefused, Replaced, Changed) as exc:
            return _refused(request, exc)
        except ApplicationError as exc:
            messages.error(request, f"Action #{action.pk}: {exc.message}")
            status = exc.status
        else:
            more = " It needs another approver (on the Approvals page)." * (
                action.status == Status.PROPOSED
            )
            messages.success(request, f"Action #{action.pk} is {action.status}.{more}")
            return redirect("action-detail", action_id=action.pk)
    ctx = {
        "action": action,
        "timeline": selectors.action_timeline(action),
        "worker": selectors.action_worker_state(action),
        "token": token,
    }
    return render(request, TEMPLATE, ctx, status=status)
