"""A worker bootstep that writes a heartbeat row, so the status page and /ai/status can say
which workers were seen in the last minute on any broker (the filesystem broker has no
remote-control channel for `celery inspect`)."""

import logging
import os
import socket
import uuid

from celery import bootsteps

log = logging.getLogger(__name__)
BOOT = uuid.uuid4().hex  # this worker process's own id (its pid may be 1 in every container)


def beat_once(hostname: str, queues: list[str] | None = None) -> None:
    # Imported here: aiops_site/celery.py loads this module before Django's app registry is
    # ready, and services loads models.
    from django.db import close_old_connections

    from .services import worker_heartbeat

    try:
        close_old_connections()
        worker_heartbeat(hostname=hostname, pid=os.getpid(), boot=BOOT, queues=queues)
    except Exception:  # a missed heartbeat must never take the worker down
        log.exception("worker heartbeat failed")


def _queues_read(worker, prefix: str) -> list[str]:
    """The queues this worker consumes (`-Q`, else all of task_queues), without the prefix."""
    try:
        names = list(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
    except Exception:  # never let the heartbeat take the worker down
        log.exception("worker heartbeat: could not read the queues consumed")
        return []
    return sorted(n.removeprefix(prefix) for n in names if n.startswith(prefix))


class HeartbeatStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        from django.conf import settings

        hostname = worker.hostname or socket.gethostname()
        queues = _queues_read(worker, settings.CELERY_QUEUE_PREFIX)
        beat_once(hostname, queues)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, beat_once, (hostname, queues), priority=10
        )

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
