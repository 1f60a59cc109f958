from django.urls import path

from . import views

app_name = "clusters"
urlpatterns = [
    path("", views.cluster_list, name="list"),
    path("new", views.cluster_edit, name="new"),
    path("<slug:name>/", views.cluster_detail, name="detail"),
    path("<slug:name>/edit", views.cluster_edit, name="edit"),
    path("<slug:name>/safety", views.cluster_mode, name="mode"),
]
