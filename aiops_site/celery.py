"""The Celery app. Tasks live in each app's tasks.py; the beat schedule lives in settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")

app = Celery("aiops_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _install_heartbeat() -> None:
    # Imported late: the bootstep touches Django models.
    from apps.core.worker import HeartbeatStep

    app.steps["worker"].add(HeartbeatStep)


_install_heartbeat()
