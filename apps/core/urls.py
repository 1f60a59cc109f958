from django.urls import path

from . import views
from .notifications import views as notify_views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    path("safety/", views.safety, name="safety"),
    path("safety/mode", views.safety_mode, name="safety-mode"),
    path("safety/switch/<str:name>", views.safety_switch, name="safety-switch"),
    path("audit/", views.audit, name="audit"),
    path("audit.csv", views.audit_csv, name="audit-csv"),
    path("account/", views.account, name="account"),
    path("account/tokens", views.token_create, name="token-create"),
    path("account/time-zone", views.time_zone_set, name="time-zone-set"),
    path("account/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
    path("notifications/", notify_views.index, name="notifications"),
    path("notifications/channels/new", notify_views.channel_new, name="notification-channel-new"),
    path(
        "notifications/channels/<int:channel_id>/edit",
        notify_views.channel_edit,
        name="notification-channel-edit",
    ),
    path(
        "notifications/channels/<int:channel_id>/test",
        notify_views.channel_test,
        name="notification-channel-test",
    ),
    path("notifications/rules/new", notify_views.rule_new, name="notification-rule-new"),
    path(
        "notifications/rules/<int:rule_id>/edit",
        notify_views.rule_edit,
        name="notification-rule-edit",
    ),
]
