from django.apps import AppConfig


class HealingConfig(AppConfig):
    name = "apps.healing"
    label = "healing"

    def ready(self) -> None:
        from apps.governance.api import STATUS_PARTS

        from .figures import summary

        STATUS_PARTS["healing"] = summary
