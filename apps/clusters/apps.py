from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "apps.clusters"
    label = "clusters"

    def ready(self) -> None:
        # Views and selectors load only once the app registry is ready: imported here.
        from apps.core.registry import CLUSTER_NAMES, PROMETHEUS_PARTS, SAFETY_PANELS

        from .metrics import prometheus_part
        from .selectors import cluster_names
        from .views import safety_panel

        SAFETY_PANELS.register("clusters", ("clusters/_safety.html", safety_panel))
        PROMETHEUS_PARTS.register("clusters", prometheus_part)
        CLUSTER_NAMES.register("clusters", cluster_names)
