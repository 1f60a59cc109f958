from django.urls import path

from apps.core.views import section_page

app_name = "chaos"
# The page says what will be here; its own views arrive with the chaos issue.
urlpatterns = [path("", section_page("chaos/index.html"), name="index")]
