from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "apps.costs"
    label = "costs"

    def ready(self) -> None:
        from apps.governance.action_views import ACTION_COST

        from .action_cost import action_cost

        if action_cost not in ACTION_COST:
            ACTION_COST.append(action_cost)
