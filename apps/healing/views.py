"""Pages: the incidents list (live) and an incident's detail — its correlated timeline,
hypothesis, evidence and proposed fix with approve/reject for approvers. Views read through
selectors; the one write runs a healing cycle now."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.clusters.models import Cluster
from apps.core.clock import chart_json
from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required, user_can
from apps.predictions import selectors as pred_selectors
from apps.predictions.charts import anomaly_bands
from apps.predictions.series import metrics_for

from . import alert_selectors, charts, figures, log_fetch, runbooks, selectors, services
from .models import Status

STATUS_CHOICES = [("active", "active"), ("", "all"), *Status.choices]
SEVERITIES = [("", "any"), ("P1", "P1"), ("P2", "P2"), ("P3", "P3"), ("P4", "P4")]


class IncidentFilterForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False, empty_label="all"
    )
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    severity = forms.ChoiceField(choices=SEVERITIES, required=False)
    namespace = forms.CharField(required=False, max_length=253)


@require_GET
@role_required(Cap.VIEW)
def index(request):
    form = IncidentFilterForm(request.GET or None, initial={"status": "active"})
    status, incidents, counts, shown = 200, [], [], "active"
    if form.is_bound and not form.is_valid():
        status = 400
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
    else:
        d = form.cleaned_data if form.is_bound else {"status": "active"}
        chosen = selectors.IncidentFilter(
            cluster=d.get("cluster"),
            status=d.get("status", ""),
            severity=d.get("severity", ""),
            namespace=d.get("namespace", ""),
        )
        incidents = list(selectors.incident_list(chosen))
        shown = chosen.status
        counts = selectors.incident_counts(chosen)
    template = "healing/index.html"
    if request.htmx:
        template += "#incident-list"
    context = {
        "form": form,
        "incidents": incidents,
        "counts": counts,
        "total": sum(n for _, _, n in counts),
        "shown_status": dict(STATUS_CHOICES).get(shown, shown),
        "query": request.GET.urlencode(),
        "figures": None if request.htmx else figures.summary(),
        "can_heal": user_can(request.user, Cap.PROPOSE),
    }
    return render(request, template, context, status=status)


@require_GET
@role_required(Cap.VIEW)
def detail(request, incident_id: int):
    incident = selectors.incident_get(incident_id)
    if incident is None:
        raise Http404("no such incident")
    template = "healing/detail.html"
    if request.htmx:
        template += "#incident-state"
    context = {
        "incident": incident,
        "timeline": list(incident.timeline.select_related("action")),
        "action": incident.action,
        "alerts": alert_selectors.incident_alerts(incident),
        "can_decide": user_can(request.user, Cap.APPROVE),
        "chart": None if request.htmx else _chart(incident),
        **({} if request.htmx else _logs_context(request, incident)),
    }
    return render(request, template, context)


def _logs_context(request, incident, problem: str = "") -> dict:
    can_read_logs = user_can(request.user, Cap.READ_LOGS)
    return {
        "incident": incident,
        "can_read_logs": can_read_logs,
        "stored": log_fetch.incident_logs_stored(incident=incident, with_lines=can_read_logs),
        "problem": problem,
    }


@require_GET
@role_required(Cap.VIEW)
def incident_logs(request, incident_id: int):
    """The incident's stored log excerpts (the partial polls this while a fetch is pending;
    without htmx, a page of its own). Never reads the cluster: web has no credentials for
    it. Logs can hold secrets: roles without READ_LOGS (viewers) get a note."""
    incident = selectors.incident_get(incident_id)
    if incident is None:
        raise Http404("no such incident")
    template = "healing/detail.html#incident-logs" if request.htmx else "healing/logs.html"
    return render(request, template, _logs_context(request, incident))


@require_POST
@role_required(Cap.READ_LOGS)
def incident_logs_fetch(request, incident_id: int):
    """Ask a worker for the failing container's latest lines (one pending fetch per incident:
    a second click shows the pending one)."""
    incident = selectors.incident_get(incident_id)
    if incident is None:
        raise Http404("no such incident")
    problem = ""
    try:
        log_fetch.log_fetch_request(incident=incident, actor=request.user)
    except ApplicationError as exc:
        problem = exc.message
    if request.htmx:
        context = _logs_context(request, incident, problem)
        return render(request, "healing/detail.html#incident-logs", context)
    if problem:
        messages.error(request, problem)
    return redirect("healing:logs", incident.pk)


def _chart(incident) -> str | None:
    kind = "node" if incident.scope == "node" else "workload"
    if incident.scope not in ("node", "workload"):
        return None
    until = incident.resolved_at or incident.last_seen_at
    since = min(incident.started_at, incident.detected_at) - timedelta(minutes=20)
    series = pred_selectors.entity_series(
        cluster=incident.cluster,
        kind=kind,
        namespace=incident.namespace,
        name=incident.name,
        since=since,
        until=until + timedelta(minutes=5),
    )
    if series.empty:
        return None
    bands = anomaly_bands(
        pred_selectors.anomaly_list(
            cluster=incident.cluster,
            kind=kind,
            namespace=incident.namespace,
            name=incident.name,
            since=since,
            until=until,
        )
    )
    marks = [charts.Mark(t.at, t.kind, t.text) for t in incident.timeline.all()]
    fig = charts.incident_timeline(series, metrics_for(kind), bands, marks)
    return chart_json(fig, incident.cluster)


@require_POST
@role_required(Cap.PROPOSE)
def heal_now(request):
    """Run one detection and proposal cycle now on every enabled cluster (under every guard:
    the proposals go through governance like any other)."""
    found = proposed = 0
    for cluster in Cluster.objects.filter(enabled=True, last_cluster_time__isnull=False):
        r = services.heal_cycle(cluster=cluster)
        found, proposed = found + len(r.found), proposed + len(r.proposed)
    messages.success(request, f"Healing cycle: {found} problems found, {proposed} fixes proposed.")
    return redirect("healing:index")


@require_GET
@role_required(Cap.VIEW)
def runbook_list(request):
    """Every cause ZeroTouch can name, and what it does about it."""
    rows = [
        (cause.replace("_", " "), runbooks.runbook_for(cause))
        for cause in sorted({*runbooks.RUNBOOKS, *runbooks.ESCALATIONS})
    ]
    return render(request, "healing/runbooks.html", {"rows": rows})
