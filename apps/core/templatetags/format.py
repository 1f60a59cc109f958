from django import template

from apps.core.formatting import usd as usd_text

register = template.Library()


@register.filter
def usd(amount, places: int = 2) -> str:
    """{{ amount|usd }}: "$1,234.56" (negative with a real minus sign); empty for none."""
    return "" if amount is None or amount == "" else usd_text(amount, places=int(places))
