from datetime import datetime

from django import template
from django.utils import dateformat
from django.utils.html import format_html, format_html_join

from apps.core import clock as clock_of
from apps.core.formatting import settings_diff, settings_text
from apps.core.formatting import usd as usd_text

register = template.Library()


@register.filter
def usd(amount, places: int = 2) -> str:
    """{{ amount|usd }}: "$1,234.56" (negative with a real minus sign); empty for none."""
    return "" if amount is None or amount == "" else usd_text(amount, places=int(places))


@register.filter
def settings_change(action) -> str:
    """{{ action|settings_change }}: its parameters one a line, each with the value it
    replaces ("limits.memory: 1536Mi → 3072Mi") where the proposal recorded one."""
    before = getattr(action, "before", None) or {}
    lines = settings_diff(action.parameters or {}, before)
    return format_html_join("", '<span class="setting">{}</span>', ((line,) for line in lines))


@register.filter
def settings_list(parameters) -> str:
    """{{ action.parameters|settings_list }}: one "key: value" a line, nested keys dotted."""
    lines = settings_text(parameters if isinstance(parameters, dict) else {})
    return format_html_join("", '<span class="setting">{}</span>', ((line,) for line in lines))


@register.simple_tag
def clock(value, cluster, fmt: str = "Y-m-d H:i:s"):
    """{% clock incident.detected_at incident.cluster "H:i:s" %}: a time the cluster recorded,
    on its clock (apps/core/clock.py): the viewer's zone for a real cluster, the sandbox's own
    simulated time labelled "sandbox clock"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):  # an ISO time kept in JSON (a chaos run's timeline)
        value = datetime.fromisoformat(value)
    text = dateformat.format(clock_of.shown(value, cluster), fmt)
    if not clock_of.on_sandbox_clock(cluster):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), text)
    return format_html(
        '<time datetime="{}" title="{}">{}</time> <span class="clock-label">{}</span>',
        value.isoformat(),
        clock_of.SANDBOX_TITLE,
        text,
        clock_of.SANDBOX_LABEL,
    )
