from django.urls import path

from . import plan_views, views

app_name = "costs"
urlpatterns = [
    # Cost allocation over a range, and the price sheets.
    path("", views.index, name="index"),
    path("prices/", views.prices_page, name="prices"),
    # The cost plan: recommendations, proposing them as Actions, and its exports.
    path("plan/", plan_views.plan_page, name="plan"),
    path("plan.yaml", plan_views.plan_yaml_view, name="plan-yaml"),
    path("plan.csv", plan_views.plan_csv_view, name="plan-csv"),
    # Waste findings and the capacity forecast: read-only pages.
    path("waste/", views.waste_page, name="waste"),
    path("forecast/", views.forecast_page, name="forecast"),
]
