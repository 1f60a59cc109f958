from django.urls import path

from . import views

app_name = "healing"
urlpatterns = [
    path("", views.index, name="index"),
    path("heal", views.heal_now, name="heal"),
    path("runbooks/", views.runbook_list, name="runbooks"),
    path("<int:incident_id>/", views.detail, name="detail"),
]
