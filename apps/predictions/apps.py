from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "apps.predictions"
    label = "predictions"

    def ready(self) -> None:
        from apps.governance.views import OVERVIEW_PANELS

        from .selectors import overview_panel

        OVERVIEW_PANELS.append(("predictions/_overview.html", overview_panel))
