from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import (
            deploy_checks,  # noqa: F401 (registers its checks with Django)
            receivers,  # needs the app registry: auth models, axes
        )

        receivers.connect()
