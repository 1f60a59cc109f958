"""At most one Celery beat schedules: the beat lease, and two real beat processes."""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from aiops_site.celery import app
from apps.core.models import AuditEvent, BeatLease
from apps.core.services import beat_lease_hold, beat_lease_release
from tests.support.paths import ROOT, VAR
from tests.support.waiting import wait_for


@pytest.mark.django_db
def test_it_gives_the_lease_to_one_holder_until_it_lapses():
    assert beat_lease_hold(holder="a", seconds=30)
    assert not beat_lease_hold(holder="b", seconds=30)
    assert beat_lease_hold(holder="a", seconds=30)  # a renewal: not audited
    assert AuditEvent.objects.filter(verb="beat.lease_taken").count() == 1
    BeatLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert beat_lease_hold(holder="b", seconds=30)
    assert not beat_lease_hold(holder="a", seconds=30)
    taken = AuditEvent.objects.filter(verb="beat.lease_taken").order_by("seq").last()
    assert taken.before == {"holder": "a"} and taken.after["holder"] == "b"
    assert taken.reason == "a's lease lapsed"


@pytest.mark.django_db
def test_a_stopping_beat_hands_the_lease_on_at_once():
    assert beat_lease_hold(holder="a", seconds=300)
    beat_lease_release(holder="b")  # not the holder: nothing happens
    assert not beat_lease_hold(holder="b", seconds=300)
    beat_lease_release(holder="a")
    assert beat_lease_hold(holder="b", seconds=300)


def _beat(name: str) -> subprocess.Popen:
    s = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
        "BEAT_LEASE_SECONDS": "2",
    }
    log = open(VAR / f"{name}.log", "w")  # noqa: SIM115 (the child holds it)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "aiops_site",
            "beat",
            "--loglevel=INFO",
            f"--schedule={VAR / name}-schedule",
            "--pidfile=",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _senders() -> set[str]:
    """The processes that sent the tasks waiting in this run's default queue."""
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    raw = r.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1)
    return {json.loads(m)["headers"]["origin"].split("@")[0] for m in raw}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_beats_never_both_schedule_and_the_standby_takes_over():
    app.control.purge()
    first = _beat("beat-1")
    holder = wait_for(
        lambda: BeatLease.objects.filter(name="beat").first(), timeout=60, what="beat 1's lease"
    )
    second = _beat("beat-2")
    try:
        wait_for(  # clusters.collect_due every 5 s, twice
            lambda: (
                len(
                    redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange(
                        settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1
                    )
                )
                >= 2
            ),
            timeout=60,
            what="beat 1 to send twice",
        )
        assert _senders() == {f"gen{first.pid}"}, "only the holder sends"
        assert BeatLease.objects.get(name="beat").holder == holder.holder
        os.killpg(first.pid, signal.SIGKILL)  # no release: the lease must lapse
        first.wait(timeout=30)
        app.control.purge()
        wait_for(
            lambda: BeatLease.objects.get(name="beat").holder != holder.holder,
            timeout=30,
            what="beat 2 to take the lapsed lease",
        )
        wait_for(lambda: _senders(), timeout=30, what="beat 2 to send")
        assert _senders() == {f"gen{second.pid}"}
        assert AuditEvent.objects.filter(verb="beat.lease_taken").count() == 2
    finally:
        for p in (first, second):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
        app.control.purge()
