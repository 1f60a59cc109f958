from django.urls import include, path
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
)


def handler404(request, exception):
    if request.path.startswith(API_PREFIXES):
        return json_not_found(request, exception)
    return defaults.page_not_found(request, exception)
