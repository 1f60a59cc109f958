from django.urls import path

from . import views

app_name = "predictions"
urlpatterns = [
    path("", views.index, name="index"),
    path("anomalies/", views.anomalies, name="anomalies"),
    path("models/", views.models, name="models"),
    path("models/retrain", views.retrain, name="retrain"),
    path("<slug:cluster>/node/<str:name>/", views.entity, {"kind": "node"}, name="node"),
    path(
        "<slug:cluster>/workload/<str:namespace>/<str:name>/",
        views.entity,
        {"kind": "workload"},
        name="workload",
    ),
]
