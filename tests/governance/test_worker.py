"""A real Celery worker process against Redis and the PostgreSQL test database."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import AuditEvent, SafetySwitch
from apps.core.services import safety_mode_set, safety_switch_set
from apps.core.tasks import safety_expire_due
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_it_expires_a_switch_on_a_real_worker(celery_worker_process, adam):
    safety_switch_set(
        actor=adam,
        name="allow_chaos",
        enabled=True,
        reason="game day",
        expires_at=timezone.now() + timedelta(seconds=1),
    )
    safety_mode_set(
        actor=adam, mode="halted", reason="drill", expires_at=timezone.now() + timedelta(seconds=1)
    )
    wait_for(
        lambda: SafetySwitch.objects.get(name="allow_chaos").expires_at < timezone.now(),
        timeout=5,
        what="the expiry to pass",
    )
    safety_expire_due.delay()  # what beat sends every 15 s
    ev = wait_for(
        lambda: AuditEvent.objects.filter(verb="safety.switch_expired").first(),
        timeout=30,
        what="the worker to expire the switch",
    )
    assert ev.actor == "system:expiry" and ev.request_id.startswith("task:")
    assert not SafetySwitch.objects.get(name="allow_chaos").enabled
    assert AuditEvent.objects.filter(verb="safety.mode_expired").count() == 1
    from django.core.management import call_command

    call_command("audit_verify")  # worker and test process wrote one intact chain


def test_it_reports_the_worker_in_status(celery_worker_process, vic):
    client = Client()
    client.force_login(vic)
    body = wait_for(
        lambda: (b := client.get("/ai/status").json())["workers"] and b,
        timeout=10,
        what="a worker in /ai/status",
    )
    assert body["workers"][0]["hostname"].startswith("test-worker@")
    assert body["broker"] == {"ok": True, "detail": "redis"}
