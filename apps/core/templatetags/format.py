from django import template
from django.utils.html import format_html_join

from apps.core.formatting import settings_text
from apps.core.formatting import usd as usd_text

register = template.Library()


@register.filter
def usd(amount, places: int = 2) -> str:
    """{{ amount|usd }}: "$1,234.56" (negative with a real minus sign); empty for none."""
    return "" if amount is None or amount == "" else usd_text(amount, places=int(places))


@register.filter
def settings_list(parameters) -> str:
    """{{ action.parameters|settings_list }}: one "key: value" a line, nested keys dotted."""
    lines = settings_text(parameters if isinstance(parameters, dict) else {})
    return format_html_join("", '<span class="setting">{}</span>', ((line,) for line in lines))
