from django.urls import path

from . import views

app_name = "chaos"
urlpatterns = [
    path("", views.index, name="index"),
    path("preview", views.preview, name="preview"),
    path("start", views.start, name="start"),
    path("save", views.save, name="save"),
    path("experiment/<int:experiment_id>/run", views.experiment_run, name="experiment-run"),
    path(
        "experiment/<int:experiment_id>/enabled",
        views.experiment_enabled,
        name="experiment-enabled",
    ),
    path("gameday/new", views.gameday_new, name="gameday-new"),
    path("gameday/<int:gameday_id>/start", views.gameday_start, name="gameday-start"),
    path("run/<int:run_id>/", views.run_detail, name="run"),
    path("run/<int:run_id>/abort", views.abort, name="abort"),
    path("gameday/<int:gameday_id>/", views.gameday_detail, name="gameday"),
    path("gameday/<int:gameday_id>.csv", views.gameday_csv, name="gameday-csv"),
]
