from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.clock import chart_json
from apps.core.errors import ApplicationError
from apps.core.forms import SafetyModeForm, modes_offered
from apps.core.roles import Cap, role_required, user_can
from apps.core.services import safety_mode_set

from . import charts, selectors, services
from .forms import ClusterForm


@require_GET
@role_required(Cap.VIEW)
def cluster_list(request):
    template = "clusters/list.html"
    if request.htmx:
        template += "#cluster-table"
    return render(request, template, {"clusters": selectors.cluster_list()})


def _cluster_or_404(name: str):
    cluster = selectors.cluster_get(name)
    if cluster is None:
        raise Http404("no such cluster")
    return cluster


@require_GET
@role_required(Cap.VIEW)
def cluster_detail(request, name: str):
    cluster = _cluster_or_404(name)
    template = "clusters/detail.html"
    if request.htmx:
        template += "#cluster-live"
    usage = selectors.cluster_usage(cluster)
    ctx = {
        "cluster": cluster,
        "nodes": selectors.cluster_nodes(cluster),
        "workloads": selectors.cluster_workloads(cluster),
        "warnings": selectors.cluster_warnings(cluster),
        "problem_pods": selectors.cluster_problem_pods(cluster),
        "usage_chart": chart_json(charts.usage_timeline(usage), cluster) if usage else None,
    }
    return render(request, template, ctx)


@require_http_methods(["GET", "POST"])
@role_required(Cap.MANAGE_POLICY)
def cluster_edit(request, name: str | None = None):
    cluster = _cluster_or_404(name) if name else None
    if request.method == "GET":
        form = ClusterForm.for_cluster(cluster) if cluster else ClusterForm()
        return render(request, "clusters/form.html", {"form": form, "cluster": cluster})
    form = ClusterForm(request.POST)
    if not form.is_valid():
        return render(request, "clusters/form.html", {"form": form, "cluster": cluster}, status=400)
    data = form.data_for_service()
    new_name, reason = data.pop("name"), data.pop("reason")
    try:
        if cluster is None:
            cluster = services.cluster_create(
                actor=request.user, name=new_name, reason=reason, **data
            )
        else:
            cluster = services.cluster_update(
                actor=request.user, cluster=cluster, reason=reason, **data
            )
    except ApplicationError as exc:
        if exc.field and exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        else:
            messages.error(request, exc.message)
        return render(
            request, "clusters/form.html", {"form": form, "cluster": cluster}, status=exc.status
        )
    messages.success(request, f"Cluster {cluster.name} saved.")
    return redirect("clusters:detail", name=cluster.name)


@require_POST
@role_required(Cap.ENGAGE_SAFETY)
def cluster_mode(request, name: str):
    """One cluster's own safety mode (from the Safety page): stricter than the global mode is
    open to whoever may engage safety; loosening it needs an admin, as for the global mode."""
    cluster = _cluster_or_404(name)
    form = SafetyModeForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items())
        messages.error(request, f"{cluster.name}: {problems}")
        return redirect("safety")
    try:
        safety_mode_set(
            actor=request.user,
            mode=form.cleaned_data["mode"],
            reason=form.cleaned_data["reason"],
            expires_at=form.expires_at(),
            scope=f"cluster:{cluster.pk}",
        )
    except ApplicationError as exc:
        messages.error(request, f"{cluster.name}: {exc.message}")
        return redirect("safety")
    messages.success(request, f"{cluster.name}: its own mode is {form.cleaned_data['mode']}.")
    return redirect("safety")


def safety_panel(user) -> dict:
    """The Safety page's per-cluster section (registered in core's SAFETY_PANELS): each
    cluster's modes, and the ones this person may pick for it."""
    may_loosen = user_can(user, Cap.MANAGE_SAFETY)
    clusters = selectors.cluster_modes()
    for c in clusters:
        c["offered"] = modes_offered(c["own"].mode, may_loosen=may_loosen)
    return {"clusters": clusters, "form": SafetyModeForm(), "may_loosen": may_loosen}
