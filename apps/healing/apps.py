from django.apps import AppConfig


class HealingConfig(AppConfig):
    name = "apps.healing"
    label = "healing"

    def ready(self) -> None:
        from apps.governance.api import STATUS_PARTS

        from .figures import summary

        STATUS_PARTS["healing"] = summary
        from apps.predictions.api import METRICS_PARTS

        METRICS_PARTS["healing"] = summary
        from apps.governance.views import OVERVIEW_PANELS

        from .selectors import overview_panel

        OVERVIEW_PANELS.append(("healing/_overview.html", overview_panel))
        from apps.governance.registry import WORKLOAD_HOLDS

        from .selectors import workloads_in_incident

        WORKLOAD_HOLDS.register("healing.incidents", workloads_in_incident)
