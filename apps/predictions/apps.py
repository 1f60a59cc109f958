from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "apps.predictions"
    label = "predictions"

    def ready(self) -> None:
        # Models and selectors load only once the app registry is ready: imported here.
        from apps.core.registry import OVERVIEW_PANELS

        from .selectors import overview_panel

        OVERVIEW_PANELS.register("predictions", ("predictions/_overview.html", overview_panel))
