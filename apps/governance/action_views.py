"""Pages for actions: the Approvals inbox, an action's page with its timeline, and the form
operators use to propose a manual action."""

from collections.abc import Iterable

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.clusters.models import Cluster, Node, Workload
from apps.core.errors import ApplicationError
from apps.core.registry import ACTION_COST
from apps.core.roles import Cap, role_required
from apps.core.selectors import worker_list_recent

from . import actions, selectors
from .action_models import Action, Kind, Risk, Severity, Status
from .errors import Changed, Replaced


class ProposeForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.filter(enabled=True), to_field_name="name", empty_label=None
    )
    kind = forms.ChoiceField(choices=Kind.choices)
    namespace = forms.CharField(
        max_length=253, required=False, widget=forms.TextInput(attrs={"list": "namespaces"})
    )
    target_name = forms.CharField(
        max_length=253,
        label="Target (pod, deployment or node)",
        widget=forms.TextInput(attrs={"list": "targets"}),
        help_text="type to search the collected inventory",
    )
    replicas = forms.IntegerField(required=False, help_text="scale only")
    revision = forms.IntegerField(required=False, help_text="rollout undo only")
    # ZeroTouch rates the action itself; a proposer may only raise the rating.
    severity = forms.ChoiceField(
        choices=[("", "As ZeroTouch rates it"), *Severity.choices],
        required=False,
        help_text="raise only: never below ZeroTouch's own rating",
    )
    risk = forms.ChoiceField(
        choices=[("", "As ZeroTouch rates it"), *Risk.choices],
        required=False,
        help_text="raise only: never below ZeroTouch's own rating",
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def parameters(self) -> dict:
        d = self.cleaned_data
        if d["kind"] == Kind.SCALE and d.get("replicas") is not None:
            return {"replicas": d["replicas"]}
        if d["kind"] == Kind.ROLLOUT_UNDO and d.get("revision") is not None:
            return {"revision": d["revision"]}
        return {}


def _with_costs(actions: Iterable[Action]) -> list[Action]:
    """The actions, each with `.cost`: the first answer of an ACTION_COST hook, or None."""
    out = list(actions)
    for a in out:
        a.cost = next((c for hook in ACTION_COST if (c := hook(a)) is not None), None)
    return out


def _inbox_context() -> dict:
    pending = _with_costs(selectors.action_list(status=Status.PROPOSED))
    # A proposal replaced a moment ago stays in view, marked, so no row vanishes under an
    # approver's cursor between two refreshes.
    replaced = list(selectors.actions_recently_replaced())
    waiting = len(pending)
    pending = sorted(pending + replaced, key=lambda a: a.created_at, reverse=True)
    recent = list(selectors.action_list().exclude(status=Status.PROPOSED)[:20])
    for a in recent:
        a.worker = selectors.action_worker_state(a)
    return {
        "pending": pending,
        "waiting": waiting,
        "recent": recent,
        "workers": worker_list_recent(),
    }


@require_GET
@role_required(Cap.VIEW)
def inbox(request):
    template = "governance/approvals.html"
    if request.htmx:
        template += "#inbox"
    return render(request, template, _inbox_context())


def _action_or_404(action_id: int):
    a = selectors.action_list().filter(pk=action_id).first()
    if a is None:
        raise Http404("no such action")
    return a


@require_GET
@role_required(Cap.VIEW)
def detail(request, action_id: int):
    action = _action_or_404(action_id)
    # Priced against the workload as it is now: true only until the action runs.
    before = action.status in (Status.PROPOSED, Status.APPROVED, Status.QUEUED)
    action = _with_costs([action])[0] if before else action
    template = "governance/action_detail.html"
    if request.htmx:
        template += "#action-status"
    context = {
        "action": action,
        "timeline": selectors.action_timeline(action),
        "worker": selectors.action_worker_state(action),
    }
    return render(request, template, context)


@require_POST
@role_required(Cap.APPROVE)
def decide(request, action_id: int, decision: str):
    if decision not in ("approve", "reject"):
        raise Http404("no such decision")
    action = _action_or_404(action_id)
    reason = request.POST.get("reason", "")
    shown = request.POST.get("fingerprint", "").strip()  # what the approver was shown
    if decision == "approve" and not shown:  # the forms always send it: approve nothing
        messages.error(
            request,
            f"Action #{action.pk}: fingerprint is missing (the action as you were shown it); "
            "nothing was approved: approve from the Approvals page or the action's page.",
        )
        template = "governance/approvals.html" + ("#inbox" if request.htmx else "")
        return render(request, template, _inbox_context(), status=400)
    try:
        if decision == "approve":
            action = actions.action_approve(
                approver=request.user, action=action, reason=reason, expected_fingerprint=shown
            )
        else:
            action = actions.action_reject(approver=request.user, action=action, reason=reason)
    except Changed as exc:  # approving what the approver did not see: refused, say where
        messages.error(
            request,
            format_html(
                '{} <a href="{}">Open action #{} as it is now</a>.',
                exc.message[:1].upper() + exc.message[1:] + ".",
                reverse("action-detail", args=[exc.current]),
                exc.current,
            ),
        )
        status = exc.status
    except Replaced as exc:  # not an error: the fix moved on; point at what to review now
        url = reverse("action-detail", args=[exc.successor])
        messages.warning(
            request,
            format_html(
                'Action #{} was replaced by <a href="{}">#{}</a> before anyone decided; '
                "nothing was approved or rejected — review #{} instead.",
                action.pk,
                url,
                exc.successor,
                exc.successor,
            ),
        )
        status = 200
    except ApplicationError as exc:
        messages.error(request, f"Action #{action.pk}: {exc.message}")
        status = exc.status
    else:
        messages.success(request, f"Action #{action.pk} is {action.status}.")
        status = 200
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)  # e.g. the incident page the decision was made on
    if request.htmx:
        return render(request, "governance/approvals.html#inbox", _inbox_context(), status=status)
    return redirect("approvals")


@require_http_methods(["GET", "POST"])
@role_required(Cap.PROPOSE)
def propose(request):
    form = ProposeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            action = actions.action_propose(
                actor=request.user,
                cluster=d["cluster"],
                kind=d["kind"],
                namespace=d["namespace"],
                target_name=d["target_name"],
                parameters=form.parameters(),
                reason=d["reason"],
                severity=d["severity"] or None,
                risk=d["risk"] or None,
            )
        except ApplicationError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, exc.message)
        else:
            messages.success(request, f"Proposed action #{action.pk}: {action.status}.")
            return redirect("action-detail", action_id=action.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "inventory": _inventory()}
    return render(request, "governance/action_form.html", context, status=status)


def _inventory() -> dict:
    """What the propose form suggests (the clusters' collected inventory, with each target's
    state): namespaces, Deployments with ready / desired, nodes with their condition."""
    workloads = Workload.objects.filter(cluster__enabled=True).select_related("cluster")
    nodes = Node.objects.filter(cluster__enabled=True).select_related("cluster")
    targets = [
        (
            w.name,
            f"{w.cluster.name} · {w.namespace} · Deployment · "
            f"{w.ready_replicas}/{w.replicas} ready",
        )
        for w in workloads.order_by("cluster__name", "namespace", "name")
    ] + [
        (
            n.name,
            f"{n.cluster.name} · node · {'Ready' if n.ready else 'NotReady'}"
            f"{' · cordoned' if n.unschedulable else ''}",
        )
        for n in nodes.order_by("cluster__name", "name")
    ]
    namespaces = sorted(set(workloads.values_list("namespace", flat=True)))
    return {"namespaces": namespaces, "targets": targets}
