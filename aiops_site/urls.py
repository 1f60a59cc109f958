from django.urls import include, path

from .api import api
from .assets import plotly_stylesheet

urlpatterns = [
    path("assets/plotly.css", plotly_stylesheet, name="plotly-css"),
    path("", include("apps.governance.urls")),
    path("clusters/", include("apps.clusters.urls")),
    path("predictions/", include("apps.predictions.urls")),
    path("healing/", include("apps.healing.urls")),
    path("chaos/", include("apps.chaos.urls")),
    path("costs/", include("apps.costs.urls")),
    path("", api.urls),
]
