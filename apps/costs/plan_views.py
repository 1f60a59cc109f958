"""Pages: the cost plan (filter, ranked recommendations, propose selected as Actions) and its
YAML and CSV downloads."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.clusters.models import Cluster
from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required, user_can

from .plans import Plan, plan_apply, plan_build, plan_csv, plan_yaml


class PlanFilterForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False, empty_label=None
    )
    namespace = forms.CharField(required=False, max_length=253)
    min_savings = forms.FloatField(required=False, min_value=0)


def _plan(request) -> tuple[PlanFilterForm, Plan | None, int]:
    form = PlanFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return form, None, 400
    d = form.cleaned_data if form.is_bound else {}
    cluster = d.get("cluster") or Cluster.objects.order_by("name").first()
    if cluster is None:
        return form, None, 200
    plan = plan_build(
        cluster=cluster, namespace=d.get("namespace") or "", min_savings=d.get("min_savings") or 0
    )
    return form, plan, 200


@require_http_methods(["GET", "POST"])
@role_required(Cap.VIEW)
def plan_page(request):
    if request.method == "POST":
        return _propose(request)
    form, plan, status = _plan(request)
    context = {
        "form": form,
        "plan": plan,
        "query": request.GET.urlencode(),
        "can_propose": user_can(request.user, Cap.PROPOSE),
    }
    return render(request, "costs/plan.html", context, status=status)


def _propose(request):
    if not user_can(request.user, Cap.PROPOSE):
        raise PermissionDenied("requires the 'propose' permission")
    cluster = Cluster.objects.filter(name=request.POST.get("cluster", "")).first()
    chosen = [tuple(v.split("/", 1)) for v in request.POST.getlist("item") if "/" in v]
    back = redirect(f"{request.path}?{request.POST.get('query', '')}")
    if cluster is None:
        messages.error(request, "Choose a cluster.")
        return back
    try:
        actions = plan_apply(
            actor=request.user, cluster=cluster, items=chosen, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        messages.error(request, f"Nothing was proposed: {exc.message}")
        return back
    ids = ", ".join(f"#{a.pk}" for a in actions)
    messages.success(
        request,
        f"Proposed {len(actions)} change(s) for {len(set(chosen))} workload(s): {ids}. "
        "They wait for approval here.",
    )
    return redirect("approvals")


@require_GET
@role_required(Cap.VIEW)
def plan_yaml_view(request):
    _form, plan, status = _plan(request)
    body = plan_yaml(plan) if plan else "# no cluster\n"
    return _download(body, "application/yaml", plan, "yaml", status)


@require_GET
@role_required(Cap.VIEW)
def plan_csv_view(request):
    _form, plan, status = _plan(request)
    body = plan_csv(plan) if plan else ""
    return _download(body, "text/csv", plan, "csv", status)


def _download(body: str, content_type: str, plan: Plan | None, ext: str, status: int):
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8", status=status)
    name = f"cost-plan-{plan.cluster.name}{'-' + plan.namespace if plan and plan.namespace else ''}"
    response["Content-Disposition"] = (
        f'attachment; filename="{name if plan else "cost-plan"}.{ext}"'
    )
    return response
