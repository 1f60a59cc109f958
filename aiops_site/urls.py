from django.http import HttpResponse
from django.urls import include, path
from django.utils.html import format_html
from django.views import defaults

from .api import api, json_not_found
from .assets import plotly_stylesheet

urlpatterns = [
    path("assets/plotly.css", plotly_stylesheet, name="plotly-css"),
    path("", include("apps.core.urls")),
    path("", include("apps.governance.urls")),
    path("clusters/", include("apps.clusters.urls")),
    path("predictions/", include("apps.predictions.urls")),
    path("healing/", include("apps.healing.urls")),
    path("chaos/", include("apps.chaos.urls")),
    path("costs/", include("apps.costs.urls")),
    path("", api.urls),
]

API_PREFIXES = (
    "/api/",
    "/ai/",
    "/chaos/inject-failure",
    "/chaos/experiments",
    "/chaos/runs",
    "/chaos/gamedays",
    "/metrics",
    "/integrations/",
)


def _in_place(request, status: int, message: str):
    """An htmx request that failed: its message where the page shows messages, in the page's
    style, instead of an error page swapped into a corner of it (or nothing at all)."""
    # No template: a 500 may come from a broken database that context processors would need.
    html = format_html(
        '<div id="messages"><p class="msg msg-error" role="alert" data-testid="htmx-error">'
        "{}</p></div>",
        message,
    )
    response = HttpResponse(html, status=status)
    response["HX-Retarget"] = "#messages"
    response["HX-Reswap"] = "outerHTML"
    return response


def handler403(request, exception):
    if getattr(request, "htmx", False):
        return _in_place(
            request, 403, f"Not allowed: {exception or 'your role does not allow this'}"
        )
    return defaults.permission_denied(request, exception)


def handler404(request, exception):
    if request.path.startswith(API_PREFIXES):
        return json_not_found(request, exception)
    if getattr(request, "htmx", False):
        return _in_place(request, 404, "Not found: it may have been deleted; reload the page.")
    return defaults.page_not_found(request, exception)


def handler500(request):
    if getattr(request, "htmx", False):
        return _in_place(
            request, 500, "Something went wrong on the server; nothing was changed. Try again."
        )
    return defaults.server_error(request)
