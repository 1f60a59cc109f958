from django.apps import AppConfig


class ChaosConfig(AppConfig):
    name = "apps.chaos"
    label = "chaos"

    def ready(self) -> None:
        from apps.core.registry import HALT_HOOKS

        from .runs import runs_abort_halted

        HALT_HOOKS.register("chaos.abort_runs", runs_abort_halted)
