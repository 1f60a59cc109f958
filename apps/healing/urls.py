from django.urls import path

from . import alertmanager_views, views

app_name = "healing"
urlpatterns = [
    path("", views.index, name="index"),
    path("heal", views.heal_now, name="heal"),
    path("runbooks/", views.runbook_list, name="runbooks"),
    path("<int:incident_id>/", views.detail, name="detail"),
    path("alert-receivers/", alertmanager_views.receivers, name="alert-receivers"),
    path(
        "alert-receivers/new",
        alertmanager_views.receiver_create,
        name="alert-receiver-create",
    ),
    path(
        "alert-receivers/<int:receiver_id>/revoke",
        alertmanager_views.receiver_revoke,
        name="alert-receiver-revoke",
    ),
    path("<int:incident_id>/logs", views.incident_logs, name="logs"),
    path("<int:incident_id>/logs/fetch", views.incident_logs_fetch, name="logs-fetch"),
]
