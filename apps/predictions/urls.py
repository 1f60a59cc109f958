from django.urls import path

from apps.governance.views import section_page

app_name = "predictions"
# The page says what will be here; its own views arrive with the predictions issue.
urlpatterns = [path("", section_page("predictions/index.html"), name="index")]
