from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "apps.clusters"
    label = "clusters"

    def ready(self) -> None:
        # Views and selectors load only once the app registry is ready: imported here.
        from apps.core.registry import SAFETY_PANELS

        from .views import safety_panel

        SAFETY_PANELS.register("clusters", ("clusters/_safety.html", safety_panel))
