from django.urls import path

from apps.governance.views import section_page

from . import views

app_name = "costs"
# The index says what is still to come; prices are the first part of the costs issue.
urlpatterns = [
    path("", section_page("costs/index.html"), name="index"),
    path("prices/", views.prices_page, name="prices"),
]
