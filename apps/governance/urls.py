from django.urls import path

from . import action_views, link_views, policy_views, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("approvals/", action_views.inbox, name="approvals"),
    path("actions/new", action_views.propose, name="action-propose"),
    path("actions/confirm/<str:token>", link_views.confirm, name="action-link"),
    path("actions/<int:action_id>/", action_views.detail, name="action-detail"),
    path("actions/<int:action_id>/<str:decision>", action_views.decide, name="action-decide"),
    path("policy/", policy_views.policy_page, name="policy"),
]
