from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("health", views.health, name="health"),
    path("safety/", views.safety, name="safety"),
    path("safety/mode", views.safety_mode, name="safety-mode"),
    path("safety/switch/<str:name>", views.safety_switch, name="safety-switch"),
    path("audit/", views.audit, name="audit"),
    path("audit.csv", views.audit_csv, name="audit-csv"),
    path("account/", views.account, name="account"),
    path("account/tokens", views.token_create, name="token-create"),
    path("account/time-zone", views.time_zone_set, name="time-zone-set"),
    path("account/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
]
