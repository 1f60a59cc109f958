from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "apps.costs"
    label = "costs"

    def ready(self) -> None:
        # Models load only once the app registry is ready: imported here.
        from apps.core.registry import ACTION_COST

        from .action_cost import action_cost

        ACTION_COST.register("costs", action_cost)
