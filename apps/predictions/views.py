"""Pages: the risk table, the anomaly timelines (cluster-wide and per workload or node), and
the model versions. Views read through selectors; the only write queues a retrain."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.clusters.models import Cluster
from apps.core.clock import chart_json
from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required

from . import charts, selectors, services
from .models import ModelVersion
from .series import metrics_for
from .tasks import retrain as retrain_task

HOURS = [(1, "1 hour"), (3, "3 hours"), (6, "6 hours"), (24, "24 hours"), (72, "3 days")]
SORTS = {"risk": None, "name": "label", "lead": "lead_minutes", "level": "risk"}


class RiskFilterForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False, empty_label="all"
    )
    namespace = forms.CharField(required=False, max_length=253)
    kind = forms.ChoiceField(
        choices=[("", "all"), ("workload", "workloads"), ("node", "nodes")], required=False
    )
    min_level = forms.ChoiceField(
        choices=[("", "any"), *[(v, v) for v in selectors.LEVELS]], required=False
    )
    q = forms.CharField(required=False, max_length=100, label="Name contains")
    sort = forms.ChoiceField(choices=[(k, k) for k in SORTS], required=False)


class AnomalyFilterForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False, empty_label="all"
    )
    namespace = forms.CharField(required=False, max_length=253)
    name = forms.CharField(required=False, max_length=253, label="Workload or node")
    hours = forms.TypedChoiceField(
        choices=HOURS, coerce=int, required=False, empty_value=6, initial=6
    )


def _bad_filters(request, form) -> None:
    for field, errors in form.errors.items():
        messages.error(request, f"{field}: {' '.join(errors)}")


@require_GET
@role_required(Cap.VIEW)
def index(request):
    form = RiskFilterForm(request.GET or None)
    status, scores = 200, []
    if form.is_bound and not form.is_valid():
        status = 400
        _bad_filters(request, form)
    else:
        d = form.cleaned_data if form.is_bound else {}
        scores = selectors.risk_list(
            selectors.RiskFilter(
                cluster=d.get("cluster"),
                namespace=d.get("namespace", ""),
                kind=d.get("kind", ""),
                min_level=d.get("min_level", ""),
                q=d.get("q", ""),
            )
        )
        key = SORTS.get(d.get("sort") or "risk")
        if key == "label":
            scores.sort(key=lambda s: s.label)
        elif key == "lead_minutes":
            scores.sort(key=lambda s: (s.lead_minutes is None, s.lead_minutes or 0))
    spark = selectors.risk_sparklines(scores)
    for s in scores:
        s.spark = charts.sparkline_points(spark.get(s.pk, []))
    use = services.served(ModelVersion.Kind.FAILURE)
    template = "predictions/index.html"
    if request.htmx:
        template += "#risk-table"
    context = {
        "form": form,
        "scores": scores,
        "serving": use.version,
        "problems": use.problems,
        "training": selectors.training_now().filter(kind=ModelVersion.Kind.FAILURE).first(),
        "namespaces": [] if request.htmx else selectors.namespaces_scored(),
        "query": request.GET.urlencode(),
        "settings_horizon": settings.PREDICTION_HORIZON_MINUTES,
    }
    return render(request, template, context, status=status)


@require_GET
@role_required(Cap.VIEW)
def anomalies(request):
    data = None
    if request.GET:  # a filter without a range is the default range, and says so
        data = request.GET.copy()
        data["hours"] = data.get("hours") or "6"
    form = AnomalyFilterForm(data)
    status = 200
    d = {"hours": 6}
    if form.is_bound and not form.is_valid():
        status = 400
        _bad_filters(request, form)
    elif form.is_bound:
        d = {**form.cleaned_data, "hours": form.cleaned_data.get("hours") or 6}
    ahead = selectors.clock_cluster(d.get("cluster"))
    until = ahead.last_cluster_time if ahead else timezone.now()
    since = until - timedelta(hours=d["hours"])
    rows = []
    if status == 200:
        rows = list(
            selectors.anomaly_list(
                cluster=d.get("cluster"),
                namespace=d.get("namespace", ""),
                name=d.get("name", ""),
                since=since,
                until=until,
            )[:500]
        )
    chart = (
        chart_json(charts.cluster_timeline(charts.anomaly_bands(rows), since, until), ahead)
        if rows
        else None
    )
    context = {
        "form": form,
        "anomalies": rows,
        "chart": chart,
        "since": since,
        "until": until,
        "clock": ahead,
    }
    return render(request, "predictions/anomalies.html", context, status=status)


@require_GET
@role_required(Cap.VIEW)
def entity(request, cluster: str, kind: str, name: str, namespace: str = ""):
    c = Cluster.objects.filter(name=cluster).first()
    if c is None or kind not in ("workload", "node"):
        raise Http404("no such cluster or kind")
    hours = request.GET.get("hours", "6")
    hours = int(hours) if hours.isdigit() and int(hours) in dict(HOURS) else 6
    until = c.last_cluster_time or timezone.now()
    since = until - timedelta(hours=hours)
    series = selectors.entity_series(
        cluster=c, kind=kind, namespace=namespace, name=name, since=since, until=until
    )
    if series.empty:
        raise Http404("no samples for this workload or node in the range")
    found = list(
        selectors.anomaly_list(
            cluster=c, kind=kind, namespace=namespace, name=name, since=since, until=until
        )
    )
    fig = charts.entity_timeline(series, metrics_for(kind), charts.anomaly_bands(found))
    risk = selectors.risk_history(
        cluster_id=c.pk, kind=kind, namespace=namespace, name=name, since=since
    )
    latest = selectors.risk_list(selectors.RiskFilter(cluster=c, namespace=namespace, q=name))
    latest = next((r for r in latest if r.name == name and r.entity_kind == kind), None)
    context = {
        "cluster": c,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "hours": hours,
        "hour_choices": HOURS,
        "chart": chart_json(fig, c),
        "anomalies": found,
        "risk": latest,
        "risk_spark": charts.sparkline_points(
            [r for _, r in risk if r is not None][-120:], width=360, height=40
        ),
    }
    return render(request, "predictions/entity.html", context)


@require_GET
@role_required(Cap.VIEW)
def models(request):
    versions = list(selectors.model_versions()[:100])
    use = services.served(ModelVersion.Kind.FAILURE)
    champion = use.version
    importances = list((champion.feature_importances if champion else {}).items())[:12]
    template = "predictions/models.html"
    if request.htmx:
        template += "#model-list"
    context = {
        "versions": versions,
        "serving": champion,
        "problems": use.problems,
        "importances": importances,
        "training": selectors.training_now().filter(kind=ModelVersion.Kind.FAILURE).first(),
    }
    return render(request, template, context)


@require_POST
@role_required(Cap.MANAGE_POLICY)
def retrain(request):
    reason = (request.POST.get("reason") or "").strip()
    if not reason:
        messages.error(request, "reason: a reason is required to retrain")
        return redirect("predictions:models")
    try:
        services.retrain_request(actor=request.user, reason=reason)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("predictions:models")
    who = request.user.get_username()
    retrain_task.delay_on_commit(trigger=f"requested by {who}", actor=who)
    messages.success(request, "A challenger is being trained; it serves only if it is better.")
    return redirect("predictions:models")
