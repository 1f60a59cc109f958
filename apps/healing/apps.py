from django.apps import AppConfig


class HealingConfig(AppConfig):
    name = "apps.healing"
    label = "healing"

    def ready(self) -> None:
        # Models and selectors load only once the app registry is ready: imported here.
        from apps.core.registry import (
            METRICS_PARTS,
            OVERVIEW_PANELS,
            PROMETHEUS_PARTS,
            PRUNERS,
            STATUS_PARTS,
            WORKLOAD_HOLDS,
            WORKLOAD_INCIDENTS,
        )

        from .alertmanager import alerts_prune
        from .figures import summary
        from .logs import log_excerpts_prune
        from .metrics import prometheus_part
        from .selectors import incidents_about, overview_panel, workloads_in_incident

        STATUS_PARTS.register("healing", summary)
        METRICS_PARTS.register("healing", summary)
        OVERVIEW_PANELS.register("healing", ("healing/_overview.html", overview_panel))
        WORKLOAD_HOLDS.register("healing.incidents", workloads_in_incident)
        WORKLOAD_INCIDENTS.register("healing.incidents", incidents_about)
        PROMETHEUS_PARTS.register("healing", prometheus_part)
        PRUNERS.register("healing.alerts", alerts_prune)
        PRUNERS.register("healing.log_excerpts", log_excerpts_prune)
