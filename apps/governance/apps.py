from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "apps.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from . import (
            deploy_checks,  # noqa: F401 (registers its checks with Django)
            receivers,  # needs the app registry: auth models, axes
        )

        receivers.connect()
        from .registry import WORKLOAD_HOLDS
        from .selectors import workloads_with_active_actions

        WORKLOAD_HOLDS.register("governance.actions", workloads_with_active_actions)
