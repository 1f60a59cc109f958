"""The prices page: everyone who may read sees what each cluster is costed at, with the unit of
every figure spelled out and its monthly equivalent; admins edit, load a CSV or reset."""

import dataclasses
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.clusters.models import Cluster
from apps.governance.errors import ApplicationError
from apps.governance.roles import Cap, role_required, user_can

from . import prices, selectors, services
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
