"""The Notifications page (admins): channels, routing rules, recent deliveries; create, edit,
disable (edit, untick enabled) and test-send."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import services
from ..errors import ApplicationError
from ..roles import Cap, role_required
from . import selectors
from .forms import ChannelForm, RuleForm, cluster_choices
from .models import NotificationChannel, NotificationRule


@require_GET
@role_required(Cap.MANAGE_POLICY)
def index(request):
    names = dict(cluster_choices())
    rules = list(selectors.notification_rule_list())
    for r in rules:
        r.cluster_name = names.get(r.cluster_id, f"#{r.cluster_id}") if r.cluster_id else ""
    ctx = {
        "channels": selectors.notification_channel_list(),
        "rules": rules,
        "deliveries": selectors.delivery_list_recent(),
    }
    return render(request, "core/notifications.html", ctx)


def _save(request, form, save, *, title: str, success: str):
    """Validate, call the service, redirect; the form again with the service's message."""
    if request.method == "POST" and form.is_valid():
        try:
            save(form.cleaned_data)
        except ApplicationError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, exc.message)
        else:
            messages.success(request, success)
            return redirect("notifications")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "core/notification_form.html", {"form": form, "title": title}, status=status
    )


@require_http_methods(["GET", "POST"])
@role_required(Cap.MANAGE_POLICY)
def channel_new(request):
    form = ChannelForm(request.POST or None)

    def save(d):
        services.notification_channel_create(
            actor=request.user,
            name=d["name"],
            kind=d["kind"],
            url=d["url"],
            secret=d["secret"],
            recipients=d["recipients"],
        )

    return _save(request, form, save, title="New channel", success="Channel created.")


@require_http_methods(["GET", "POST"])
@role_required(Cap.MANAGE_POLICY)
def channel_edit(request, channel_id: int):
    channel = get_object_or_404(NotificationChannel, pk=channel_id)
    initial = {
        "name": channel.name,
        "kind": channel.kind,
        "recipients": channel.recipients,
        "enabled": channel.enabled,
    }
    form = ChannelForm(request.POST or None, initial=initial)
    form.fields["kind"].disabled = True  # a channel keeps its kind: make a new one instead
    if channel.url:
        form.fields["url"].help_text = f"now {channel.url_hint}; blank keeps it"

    def save(d):
        services.notification_channel_update(
            actor=request.user,
            channel=channel,
            name=d["name"],
            url=d["url"],
            secret=d["secret"],
            recipients=d["recipients"],
            enabled=d["enabled"],
        )

    return _save(
        request, form, save, title=f"Edit channel {channel.name}", success="Channel saved."
    )


@require_POST
@role_required(Cap.MANAGE_POLICY)
def channel_test(request, channel_id: int):
    channel = get_object_or_404(NotificationChannel, pk=channel_id)
    try:
        services.notification_channel_test(actor=request.user, channel=channel)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Test message queued for {channel.name}: see its delivery below."
        )
    return redirect("notifications")


def _rule_data(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "channel"}


@require_http_methods(["GET", "POST"])
@role_required(Cap.MANAGE_POLICY)
def rule_new(request):
    form = RuleForm(request.POST or None, initial={"quiet_zone": "UTC"})

    def save(d):
        services.notification_rule_create(actor=request.user, channel=d["channel"], **_rule_data(d))

    return _save(request, form, save, title="New rule", success="Rule created.")


@require_http_methods(["GET", "POST"])
@role_required(Cap.MANAGE_POLICY)
def rule_edit(request, rule_id: int):
    rule = get_object_or_404(NotificationRule, pk=rule_id)
    initial = {
        "name": rule.name,
        "channel": rule.channel_id,
        "events": rule.events,
        "min_severity": rule.min_severity,
        "cluster_id": rule.cluster_id,
        "namespace": rule.namespace,
        "quiet_start": rule.quiet_start,
        "quiet_end": rule.quiet_end,
        "quiet_zone": rule.quiet_zone,
        "digest_from": rule.digest_from,
        "enabled": rule.enabled,
    }
    form = RuleForm(request.POST or None, initial=initial)
    form.fields["channel"].disabled = True

    def save(d):
        services.notification_rule_update(actor=request.user, rule=rule, **_rule_data(d))

    return _save(request, form, save, title=f"Edit rule {rule.name}", success="Rule saved.")
