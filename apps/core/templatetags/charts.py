from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from aiops_site.assets import plotly_style_guard_ids

register = template.Library()


@register.simple_tag
def plotly_head() -> str:
    """plotly.js with its CSS as a stylesheet, so the CSP needs no 'unsafe-inline'."""
    guards = format_html_join(
        "", '<meta name="plotly-style-guard" id="{}">', ((i,) for i in plotly_style_guard_ids())
    )
    return format_html(
        '<link id="plotly.js-style-global" class="no-inline-styles" rel="stylesheet" '
        'href="{}">{}<script src="{}"></script>',
        reverse("plotly-css"),
        guards,
        static("plotly/plotly.min.js"),
    )
