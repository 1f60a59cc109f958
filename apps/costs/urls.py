from django.urls import path

from apps.governance.views import section_page

app_name = "costs"
# The page says what will be here; its own views arrive with the costs issue.
urlpatterns = [path("", section_page("costs/index.html"), name="index")]
