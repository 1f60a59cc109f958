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


def beat_once(hostname: str) -> None:
    # Imported here: aiops_site/celery.py loads this module before Django's app registry is
    # ready, and services loads models.
    from django.db import close_old_connections

    from .services import worker_heartbeat

    try:
        close_old_connections()
        worker_heartbeat(hostname=hostname, pid=os.getpid(), boot=BOOT)
    except Exception:  # a missed heartbeat must never take the worker down
        log.exception("worker heartbeat failed")


class HeartbeatStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        from django.conf import settings

        hostname = worker.hostname or socket.gethostname()
        beat_once(hostname)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, beat_once, (hostname,), priority=10
        )

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
