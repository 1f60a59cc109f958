from django.urls import path

from apps.governance.views import section_page

app_name = "healing"
# The page says what will be here; its own views arrive with the healing issue.
urlpatterns = [path("", section_page("healing/index.html"), name="index")]
