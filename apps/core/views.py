"""The pages every installation has: sign-in, the Safety page, the Audit log, the Account
page with API tokens, the health check, and the shell of a section still to be built."""

import csv
import json
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import chain, selectors, services, timezones
from .errors import ApplicationError
from .forms import (
    ApiTokenForm,
    AuditFilterForm,
    SafetyModeForm,
    SafetySwitchForm,
    TimeZoneForm,
    modes_offered,
)
from .metrics import REGISTRY
from .models import AuditEvent
from .registry import SAFETY_PANELS
from .roles import Cap, role_required, user_can

# --- Auth -----------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "core/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        # The session and its audit event commit together, or neither does.
        with transaction.atomic():
            response = super().form_valid(form)
            services.auth_login_record(user=form.get_user())
        return response


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a sign-in while locked out: the same words whichever of the
    account or the address is locked, so it tells an attacker nothing about either."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "core/locked_out.html", context, status=429)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            services.auth_logout_record(user=request.user)
        return super().post(request, *args, **kwargs)


@require_GET
def health(request):
    """The route behind /health: GET and HEAD are answered first by HealthProbeMiddleware
    (before host validation, with a database check); any other method gets 405 here."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def metrics(request):
    """Prometheus scrapes this with an API token of a user who may view (`Authorization:
    Bearer zt_...`); a signed-in viewer may read it too. METRICS_PUBLIC=1 opens it to anyone,
    for installations where a NetworkPolicy guards it instead."""
    if not settings.METRICS_PUBLIC:
        user = request.user
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = selectors.api_token_authenticate(header.removeprefix("Bearer ").strip())
        if user is None or not user.is_authenticated:
            response = JsonResponse(
                {"detail": "metrics need an API token (Authorization: Bearer zt_...)"}, status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="zerotouch"'
            return response
        if not user_can(user, Cap.VIEW):
            return JsonResponse({"detail": "requires the 'view' permission"}, status=403)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


# --- Safety ---------------------------------------------------------------------------------


def _safety_page(request, *, status: int = 200, mode_form=None):
    template = "core/safety.html"
    if request.htmx:
        template += "#safety-panel"
    current = selectors.safety_state_get().mode
    mode_form = mode_form or SafetyModeForm(initial={"mode": current})
    may_loosen = user_can(request.user, Cap.MANAGE_SAFETY)
    mode_form.fields["mode"].choices = modes_offered(current, may_loosen=may_loosen)
    ctx = {
        "mode_form": mode_form,
        "may_loosen": may_loosen,
        "panels": [(panel, part(request.user)) for panel, part in SAFETY_PANELS],
    }
    return render(request, template, ctx, status=status)


@require_GET
@role_required(Cap.VIEW)
def safety(request):
    return _safety_page(request)


@require_POST
@role_required(Cap.ENGAGE_SAFETY)
def safety_mode(request):
    form = SafetyModeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _safety_page(request, status=400, mode_form=form)
    try:
        services.safety_mode_set(
            actor=request.user,
            mode=form.cleaned_data["mode"],
            reason=form.cleaned_data["reason"],
            expires_at=form.expires_at(),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _safety_page(request, status=exc.status, mode_form=form)
    messages.success(request, f"Mode set to {form.cleaned_data['mode']}.")
    return _safety_page(request) if request.htmx else redirect("safety")


@require_POST
@role_required(Cap.ENGAGE_SAFETY)
def safety_switch(request, name: str):
    form = SafetySwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _safety_page(request, status=400)
    try:
        services.safety_switch_set(
            actor=request.user,
            name=name,
            enabled=form.cleaned_data["enabled"],
            reason=form.cleaned_data["reason"],
            expires_at=form.expires_at(),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _safety_page(request, status=exc.status)
    state = "on" if form.cleaned_data["enabled"] else "off"
    messages.success(request, f"Switch {name} is {state}.")
    return _safety_page(request) if request.htmx else redirect("safety")


def _form_errors(form) -> str:
    return "; ".join(f"{field}: {' '.join(errs)}" for field, errs in form.errors.items())


# --- Audit ----------------------------------------------------------------------------------


@require_GET
@role_required(Cap.VIEW)
def audit(request):
    form = AuditFilterForm(request.GET)
    status = 400 if request.GET and not form.is_valid() else 200
    events = (
        selectors.audit_event_list(**form.filters()) if status == 200 else AuditEvent.objects.none()
    )
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "core/audit.html"
    if request.htmx:
        template += "#audit-results"
    ctx = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "verbs": selectors.audit_verbs(),
        "checkpoint": selectors.audit_checkpoint_latest(),
    }
    return render(request, template, ctx, status=status)


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = [*chain.HASHED_FIELDS, "prev_hash", "hash"]


@require_GET
@role_required(Cap.VIEW)
def audit_csv(request):
    form = AuditFilterForm(request.GET)
    if request.GET and not form.is_valid():
        return HttpResponse(_form_errors(form), status=400, content_type="text/plain")
    events = selectors.audit_event_list(**form.filters())
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for ev in events.iterator(chunk_size=1000):
            yield writer.writerow([_csv_cell(getattr(ev, c)) for c in CSV_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="zerotouch-audit.csv"'
    return response


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    text = str(value)
    # Keep spreadsheets from running a cell as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- Account: API tokens --------------------------------------------------------------------


def _account_page(request, *, form=None, zone_form=None, new_token: str = "", status: int = 200):
    browser = timezones.browser_zone(request)
    chosen = selectors.preference_zone(request.user)
    ctx = {
        "form": form or ApiTokenForm(),
        "zone_form": zone_form or TimeZoneForm(initial={"time_zone": chosen}, browser=browser),
        "tokens": selectors.api_token_list(user=request.user),
        "new_token": new_token,
    }
    return render(request, "core/account.html", ctx, status=status)


@require_GET
@role_required(Cap.VIEW)
def account(request):
    return _account_page(request)


@require_POST
@role_required(Cap.VIEW)
def token_create(request):
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _account_page(request, form=form, status=400)
    try:
        _, raw = services.api_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _account_page(request, form=form, status=exc.status)
    # Shown once, in this response only; never stored in a session or message.
    return _account_page(request, new_token=raw)


@require_POST
@role_required(Cap.VIEW)
def time_zone_set(request):
    browser = timezones.browser_zone(request)
    form = TimeZoneForm(request.POST, browser=browser)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _account_page(request, zone_form=form, status=400)
    zone = form.cleaned_data["time_zone"]
    services.preference_time_zone_set(user=request.user, time_zone=zone)
    where = zone or "the browser's zone"
    messages.success(request, f"Times now show in {where}.")
    return redirect("account")


@require_POST
@role_required(Cap.VIEW)
def token_revoke(request, token_id: int):
    try:
        services.api_token_revoke(
            actor=request.user, token_id=token_id, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _account_page(request, status=exc.status)
    messages.success(request, "Token revoked.")
    return redirect("account")


def section_page(template: str):
    """A read-only page for a section whose features have not landed yet."""

    @require_GET
    @role_required(Cap.VIEW)
    def view(request):
        return render(request, template)

    return view
