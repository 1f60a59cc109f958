from django.urls import path

from . import views

app_name = "costs"
# The index: cost allocation over a range; prices were the first part of the costs issue.
urlpatterns = [
    path("", views.index, name="index"),
    path("prices/", views.prices_page, name="prices"),
]

# The cost plan (issue 7): recommendations, proposing them as Actions, and exports.
from . import plan_views  # noqa: E402 (appended with its routes)

urlpatterns += [
    path("plan/", plan_views.plan_page, name="plan"),
    path("plan.yaml", plan_views.plan_yaml_view, name="plan-yaml"),
    path("plan.csv", plan_views.plan_csv_view, name="plan-csv"),
]

# Waste findings and the capacity forecast (issue 7): read-only pages.
urlpatterns += [
    path("waste/", views.waste_page, name="waste"),
    path("forecast/", views.forecast_page, name="forecast"),
]
