"""Celery beat that schedules only while it holds the beat lease (services/beat.py), so two
beats (two replicas during a rollout, a forgotten process) never send the periodic tasks twice.

A beat without the lease stands by and asks again every third of BEAT_LEASE_SECONDS; the holder
renews on the same rhythm and releases the lease when it stops. If the database cannot be
reached, beat does not schedule: without the lease it cannot know that nobody else does.
"""

import logging
import os
import socket
import time
import uuid

from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import close_old_connections

from .services import beat_lease_hold, beat_lease_release

log = logging.getLogger(__name__)


class LeasedScheduler(PersistentScheduler):
    def __init__(self, *args, **kwargs):
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.holding: bool | None = None  # not asked yet: the first answer is logged
        self.checked_at = float("-inf")
        super().__init__(*args, **kwargs)

    @property
    def renew_every(self) -> float:
        return max(settings.BEAT_LEASE_SECONDS / 3, 0.5)

    def _hold(self) -> bool:
        try:
            close_old_connections()
            holds = beat_lease_hold(holder=self.holder, seconds=settings.BEAT_LEASE_SECONDS)
        except Exception:  # no database: fail closed, ask again on the next tick
            log.exception("beat lease: could not be checked; not scheduling")
            holds = False
        if holds != self.holding:
            state = (
                "holds the lease: scheduling"
                if holds
                else "stands by: another beat holds the lease"
            )
            log.warning("beat %s %s", self.holder, state)
        self.holding = holds
        self.checked_at = time.monotonic()
        return holds

    def tick(self, *args, **kwargs):
        if time.monotonic() - self.checked_at >= self.renew_every:
            self._hold()
        if not self.holding:
            return self.renew_every
        return min(super().tick(*args, **kwargs), self.renew_every)

    def close(self):
        if self.holding:
            try:
                beat_lease_release(holder=self.holder)
            except Exception:
                log.exception("beat lease: could not be released; it lapses by itself")
            self.holding = False
        super().close()
