"""The Alertmanager receivers page, for admins: the receivers (create one — its token shown
once — or revoke one), with the alerts that arrived last."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.clusters.models import Cluster
from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required

from . import alert_selectors, alertmanager


class ReceiverForm(forms.Form):
    name = forms.SlugField(max_length=60)
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(),
        to_field_name="name",
        required=False,
        empty_label="named by each alert's label",
    )
    # With no cluster of its own: the clusters each alert's label may name.
    clusters = forms.ModelMultipleChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False
    )
    cluster_label = forms.CharField(max_length=100, initial="cluster")
    namespace_label = forms.CharField(max_length=100, initial="namespace")
    pod_label = forms.CharField(max_length=100, initial="pod")
    workload_label = forms.CharField(max_length=100, initial="deployment")
    node_label = forms.CharField(max_length=100, initial="node")


def _page(request, *, form=None, new_token: str = "", status: int = 200):
    context = {
        "form": form or ReceiverForm(),
        "receivers": alert_selectors.alert_receiver_list(),
        "alerts": alert_selectors.alert_list_recent(limit=20),
        "new_token": new_token,
        "webhook_url": request.build_absolute_uri("/integrations/alertmanager"),
    }
    return render(request, "healing/alert_receivers.html", context, status=status)


@require_GET
@role_required(Cap.MANAGE_POLICY)
def receivers(request):
    return _page(request)


@require_POST
@role_required(Cap.MANAGE_POLICY)
def receiver_create(request):
    form = ReceiverForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return _page(request, form=form, status=400)
    d = form.cleaned_data
    try:
        _, raw = alertmanager.alert_receiver_create(
            actor=request.user,
            name=d["name"],
            cluster=d["cluster"],
            clusters=list(d["clusters"]),
            labels={k: d[k] for k in alertmanager.LABEL_FIELDS},
        )
    except ApplicationError as exc:
        messages.error(request, f"{exc.field}: {exc.message}" if exc.field else exc.message)
        return _page(request, form=form, status=exc.status)
    # Shown once, in this response only; never stored in a session or message, nor in a cache.
    response = _page(request, new_token=raw)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@role_required(Cap.MANAGE_POLICY)
def receiver_revoke(request, receiver_id: int):
    try:
        alertmanager.alert_receiver_revoke(
            actor=request.user, receiver_id=receiver_id, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _page(request, status=exc.status)
    messages.success(request, "Receiver revoked: its token no longer works.")
    return redirect("healing:alert-receivers")
