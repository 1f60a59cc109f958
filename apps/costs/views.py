"""The costs page (allocation over a range: by namespace and workload, idle, efficiency) and the
prices page: everyone who may read sees what each cluster is costed at, with the unit of every
figure spelled out and its monthly equivalent; admins edit, load a CSV or reset."""

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from apps.clusters.models import Cluster
from apps.core.clock import chart_json
from apps.core.errors import ApplicationError
from apps.core.formatting import usd as usd_text
from apps.core.roles import Cap, role_required, user_can

from . import allocation, charts, prices, selectors, services
from .forecast import MIN_POINTS
from .forms import DefaultPricesForm, ResetForm, UploadForm

FORMS = {"edit": DefaultPricesForm, "upload": UploadForm, "reset": ResetForm}
EDITED = "default row edited by "


@require_http_methods(["GET", "POST"])
@role_required(Cap.VIEW)
def prices_page(request):
    bound, status = None, 200
    if request.method == "POST":
        if not user_can(request.user, Cap.MANAGE_POLICY):
            raise PermissionDenied("changing prices requires the 'manage_policy' permission")
        action = request.POST.get("action", "")
        if action not in FORMS:
            raise Http404("no such form")
        cluster = Cluster.objects.filter(name=request.POST.get("cluster", "")).first()
        if cluster is None:
            raise Http404("no such cluster")
        form = FORMS[action](request.POST, request.FILES, auto_id=_auto_id(cluster, action))
        status, row_errors = _apply(request, action, cluster, form)
        if status is None:
            return redirect(f"{reverse('costs:prices')}#prices-{cluster.name}")
        bound = (cluster.name, action, form, row_errors)
    admin = user_can(request.user, Cap.MANAGE_POLICY)
    cards = [_card(entry, admin, bound) for entry in selectors.price_sheet_list()]
    context = {
        "cards": cards,
        "hours_per_month": prices.HOURS_PER_MONTH,
        "default_source": prices.DEFAULT_SOURCE,
        "source_pages": prices.SOURCE_PAGES,
        "columns": ",".join(prices.COLUMNS),
    }
    return render(request, "costs/prices.html", context, status=status)


def _apply(request, action: str, cluster: Cluster, form) -> tuple[int | None, list]:
    """Run the form's service; (None, []) on success, else the status and any row errors."""
    if not form.is_valid():
        messages.error(request, f"The prices of {cluster.name} were not changed: {_errors(form)}")
        return 400, []
    data = form.cleaned_data
    try:
        if action == "edit":
            current = selectors.prices_for_cluster(cluster)
            services.price_sheet_set(
                actor=request.user,
                cluster=cluster,
                rows=_with_default(current, data["capacity_type"], form.as_prices()),
                source=_edited_source(current.source, request.user.get_username()),
                reason=data["reason"],
                base=data["base"] or None,
            )
            done = "Default prices saved"
        elif action == "upload":
            sheet = services.price_sheet_load_csv(
                actor=request.user,
                cluster=cluster,
                text=data["csv_text"],
                reason=data["reason"],
                base=data["base"] or None,
            )
            done = f"Price sheet loaded ({sheet.rows.count()} rows)"
        else:
            changed = services.price_sheet_reset(
                actor=request.user, cluster=cluster, reason=data["reason"]
            )
            done = "Prices reset to the defaults" if changed else "Already on the default prices"
    except services.PriceSheetInvalid as exc:
        messages.error(request, f"{cluster.name}: {exc.summary}, listed below.")
        return exc.status, exc.errors
    except ApplicationError as exc:
        messages.error(request, f"{cluster.name}: {exc.message}")
        return exc.status, []
    messages.success(request, f"{cluster.name}: {done}.")
    return None, []


def _with_default(
    sheet: prices.PriceSheet, capacity: str, new: prices.Prices
) -> list[prices.PriceRow]:
    return [
        dataclasses.replace(r, capacity_type=prices.CapacityType(capacity), prices=new)
        if r.kind == prices.Kind.DEFAULT
        else r
        for r in sheet.rows
    ]


def _edited_source(previous: str, username: str) -> str:
    origin = previous
    if previous.startswith(EDITED):
        origin = previous.split("; other rows from ", 1)[-1]
    return f"{EDITED}{username}; other rows from {origin}"[:300]


def _auto_id(cluster: Cluster, action: str) -> str:
    return f"{cluster.name}-{action}-%s"


def _errors(form) -> str:
    return "; ".join(
        f"{form.fields[f].label if f in form.fields else f}: {' '.join(e)}"
        for f, e in form.errors.items()
    )


def money(value: Decimal) -> str:
    """A price as written, with at least cents: 0.1 -> 0.10, 0.031611 -> 0.031611."""
    text = prices.plain(value)
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _row(r: prices.PriceRow) -> dict:
    p = r.prices
    return {
        "applies_to": r.selector or "every node no label row matches",
        "kind": r.kind.value,
        "capacity_type": r.capacity_type.value,
        "cpu_hour": money(p.cpu_per_vcpu_hour),
        "cpu_month": money(p.cpu_per_vcpu_month.quantize(Decimal("0.01"))),
        "memory_hour": money(p.memory_per_gib_hour),
        "memory_month": money(p.memory_per_gib_month.quantize(Decimal("0.01"))),
        "storage_month": money(p.storage_per_gib_month),
    }


def _card(entry: selectors.ClusterPrices, admin: bool, bound) -> dict:
    name, sheet = entry.cluster.name, entry.sheet
    card = {"entry": entry, "rows": [_row(r) for r in sheet.rows], "row_errors": []}
    if not admin:
        return card
    base = prices.fingerprint(sheet)
    default = sheet.default
    initial = {"cluster": name, "base": base}
    forms = {
        "edit": DefaultPricesForm(
            initial={
                **initial,
                "capacity_type": default.capacity_type.value,
                **{c: money(getattr(default.prices, c)) for c in prices.PRICE_COLUMNS},
            },
            auto_id=_auto_id(entry.cluster, "edit"),
        ),
        "upload": UploadForm(
            initial={**initial, "csv_text": prices.to_csv(sheet)},
            auto_id=_auto_id(entry.cluster, "upload"),
        ),
        "reset": ResetForm(initial={"cluster": name}, auto_id=_auto_id(entry.cluster, "reset")),
    }
    if bound and bound[0] == name:
        _, action, form, card["row_errors"] = bound
        forms[action] = form
        card["error_action"] = action
    card["forms"] = forms
    return card


# --- Allocation: the costs index ----------------------------------------------------------------

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "14d": timedelta(days=14),
}
RANGE_CHOICES = [
    ("1h", "last hour"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
    ("14d", "last 14 days"),
]
IDLE_CHOICES = [
    ("none", "shown apart"),
    ("even", "shared evenly across namespaces"),
    ("weighted", "shared by namespace cost"),
]
MAX_RANGE = timedelta(days=14)
TOP = 10


def _instant(text: str) -> datetime | None:
    """An ISO 8601 time, naive ones taken as UTC; None for blank."""
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise forms.ValidationError(
            f"{text[:40]!r} is not an ISO 8601 time, e.g. 2026-01-05T14:00:00Z"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


class AllocationForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False, empty_label=None
    )
    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False)
    since = forms.CharField(required=False, max_length=40, help_text="ISO 8601, UTC if no zone")
    until = forms.CharField(required=False, max_length=40, help_text="ISO 8601, UTC if no zone")
    idle = forms.ChoiceField(choices=IDLE_CHOICES, required=False, label="Idle cost")

    def clean_since(self):
        return _instant(self.cleaned_data["since"])

    def clean_until(self):
        return _instant(self.cleaned_data["until"])


def _window(cluster: Cluster, d: dict) -> tuple[datetime, datetime]:
    """since and until: given ones first, else the range up to the cluster's clock."""
    span = RANGES[d.get("range") or "24h"]
    until = d.get("until") or (
        d["since"] + span if d.get("since") else cluster.last_cluster_time or timezone.now()
    )
    return d.get("since") or until - span, until


def _window_problem(cluster: Cluster, since: datetime, until: datetime) -> str | None:
    if since >= until:
        return "since: must be before until"
    if until - since > MAX_RANGE:
        return "since: the range may be at most 14 days"
    # Allocation reads the raw samples of its range outside the cost rollups: a range with too
    # many for one read is refused with the range that fits, instead of taking the web
    # worker's memory.
    budget = settings.COSTS_ALLOCATION_MAX_SAMPLES
    n = selectors.allocation_samples_estimate(cluster, since, until)
    if n > budget:
        hours = max(1, int((until - since).total_seconds() / 3600 * budget / n))
        return (
            f"since: this range holds about {n:,} container samples, more than the {budget:,} "
            f"the allocation reads at once (COSTS_ALLOCATION_MAX_SAMPLES); choose at most "
            f"{hours} hour{'s' * (hours != 1)}"
        )
    return None


def usd(amount: float) -> str:
    """Small amounts (an hour of a pod) keep four places: "$0.0031"."""
    return usd_text(amount, places=2 if abs(amount) >= 10 else 4)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _cost_row(c: allocation.Cost, total: float) -> dict:
    return {
        "name": c.name,
        "total": usd(c.total),
        "allocated": usd(c.allocated),
        "idle": usd(c.idle),
        "share": f"{c.total / total:.1%}" if total else "—",
        "cpu_efficiency": _percent(c.cpu_efficiency),
        "memory_efficiency": _percent(c.memory_efficiency),
        "flags": c.flags,
    }


def _node_row(n: allocation.NodeCost, rows: dict) -> dict:
    row = rows.get(n.node)
    return {
        "node": n.node,
        "cost": usd(n.cost),
        "idle": usd(n.idle),
        "capacity_type": row.capacity_type.value if row else "on_demand (default row)",
        "cpu_hour": money(n.prices.cpu_per_vcpu_hour),
        "memory_hour": money(n.prices.memory_per_gib_hour),
        "over": usd(n.over_allocated) if n.over_allocated > 0.00005 else "",
    }


def _allocation_context(cluster: Cluster, since: datetime, until: datetime, idle: str) -> dict:
    bucket = selectors.allocation_bucket(since, until)
    a = selectors.allocation_for(cluster, since=since, until=until, idle=idle, bucket=bucket)
    sheet, rows = selectors.node_price_rows(cluster)
    context = {
        "alloc": a,
        "sheet": sheet,
        "since": since,
        "until": until,
        "idle_label": dict(IDLE_CHOICES)[idle],
    }
    if a.empty:
        return context
    return context | {
        "total": usd(a.total),
        "allocated": usd(a.allocated),
        "idle_cost": usd(a.idle),
        "idle_share": f"{a.idle_share:.1%}",
        "node_cost": usd(a.node_cost),
        "over_allocated": usd(a.over_allocated) if a.over_allocated > 0.00005 else "",
        "namespaces": [_cost_row(c, a.total) for c in a.namespaces],
        "workloads": [_cost_row(c, a.total) for c in a.workloads[:TOP]],
        "nodes": [_node_row(n, rows) for n in a.nodes],
        "chart_namespaces": chart_json(charts.cost_by_namespace(a.series), cluster),
        "chart_workloads": charts.top_workloads(a.workloads, n=TOP).to_json(),
        "chart_idle": charts.idle_share(a.allocated, a.idle).to_json(),
    }


@require_GET
@role_required(Cap.VIEW)
def index(request):
    form = AllocationForm(request.GET or None)
    status, d = 200, {}
    if form.is_bound and not form.is_valid():
        status = 400
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
    elif form.is_bound:
        d = form.cleaned_data
    cluster = d.get("cluster") or Cluster.objects.order_by("name").first()
    context = {"form": form, "cluster": cluster}
    if status == 200 and cluster is not None:
        since, until = _window(cluster, d)
        if problem := _window_problem(cluster, since, until):
            status = 400
            messages.error(request, problem)
        else:
            context |= _allocation_context(cluster, since, until, d.get("idle") or "none")
    return render(request, "costs/index.html", context, status=status)


# --- Waste and the capacity forecast (issue 7) -------------------------------------------------

WASTE_KINDS = {
    "idle_workload": "idle workload",
    "unmounted_pvc": "unmounted claim",
    "scaled_to_zero_storage": "scaled to zero, holds storage",
    "over_provisioned_node": "over-provisioned node",
    "over_requested_namespace": "over-requested namespace",
}
RESOURCES = {"cpu": ("CPU", 1000.0, "cores"), "memory": ("Memory", float(2**30), "GiB")}


class ClusterForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.all(), to_field_name="name", required=False, empty_label=None
    )


class ForecastForm(ClusterForm):
    horizon_days = forms.IntegerField(required=False, min_value=1, max_value=30)


def _cluster_form(request, form_class):
    """The bound form, the cluster (the first one by default) and the status."""
    form = form_class(request.GET or None)
    if form.is_bound and not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return form, None, {}, 400
    d = form.cleaned_data if form.is_bound else {}
    return form, d.get("cluster") or Cluster.objects.order_by("name").first(), d, 200


@require_GET
@role_required(Cap.VIEW)
def waste_page(request):
    form, cluster, _, status = _cluster_form(request, ClusterForm)
    context = {"form": form, "cluster": cluster}
    if status == 200 and cluster is not None:
        report = selectors.waste_report(cluster)
        context |= {
            "report": report,
            "total": usd(report.total),
            "window_hours": f"{report.window.total_seconds() / 3600:g}",
            "findings": [
                {"f": f, "kind": WASTE_KINDS.get(f.kind, f.kind), "cost": usd(f.monthly_cost)}
                for f in report.findings
            ],
        }
    return render(request, "costs/waste.html", context, status=status)


def _day(ts) -> str:
    return ts.strftime("%Y-%m-%d")


def _hours_needed(f, points: int) -> int:
    if f.more_history_needed is not None:
        return max(1, round(f.more_history_needed.total_seconds() / 3600))
    return MIN_POINTS - points


def forecast_statement(label: str, f, points: int, days: int) -> str:
    """The forecast in words: when it would reach allocatable, or why there is none."""
    if not f.ok:
        if f.model == "none" and f.message.startswith("not enough history"):
            hours = _hours_needed(f, points)
            return f"{label}: not enough history: needs {hours} more hours of samples"
        return f"{label}: no forecast: {f.message}"
    upper = f"upper bound: {_day(f.upper_95_crosses_at)}" if f.upper_95_crosses_at else ""
    if f.crosses_at is not None:
        return f"{label} would reach allocatable around {_day(f.crosses_at)} ({upper})"
    if upper:
        return f"{label} would not reach allocatable within {days} days ({upper})"
    return f"{label}: not within {days} days, even at the upper 95% bound"


def _forecast_panels(result: dict, days: int, cluster: Cluster) -> list[dict]:
    panels = []
    for resource, (label, scale, unit) in RESOURCES.items():
        names = {"usage": f"{resource}_usage", "requests": f"{resource}_requests"}
        history = {n: result["history"][k] for n, k in names.items()}
        forecasts = {n: result[k] for n, k in names.items()}
        capacity = result["capacity"][resource]
        fig = charts.capacity_forecast(
            f"{label}: usage and requests vs allocatable ({unit}, hourly means)",
            history,
            forecasts,
            capacity,
            scale=scale,
            unit=unit,
        )
        statements = [
            {
                "text": forecast_statement(f"{label} {n}", forecasts[n], len(history[n]), days),
                "model": forecasts[n].model,
                "notes": forecasts[n].notes,
            }
            for n in names
        ]
        panels.append(
            {
                "id": resource,
                "label": label,
                "chart": chart_json(fig, cluster),
                "statements": statements,
                "capacity": f"{capacity / scale:.3g} {unit}",
                "points": len(history["usage"]),
            }
        )
    return panels


@require_GET
@role_required(Cap.VIEW)
def forecast_page(request):
    form, cluster, d, status = _cluster_form(request, ForecastForm)
    days = d.get("horizon_days") or 14
    context = {"form": form, "cluster": cluster, "days": days}
    if status == 200 and cluster is not None:
        result = selectors.capacity_forecast_for(cluster, horizon=timedelta(days=days))
        context["panels"] = _forecast_panels(result, days, cluster)
    return render(request, "costs/forecast.html", context, status=status)
