"""Saved experiments and their schedules: cron in a time zone, the experiment's own window and
governance's change windows; run by hand through the API; a scheduled run outside a window does
not start and says why."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos import schedules
from apps.chaos.models import Experiment, Run
from apps.chaos.services import schedules_due
from apps.clusters.labels import CHAOS_OPT_IN
from apps.core.models import AuditEvent
from apps.governance.action_models import Action
from apps.governance.actions import policy_active, policy_update

pytestmark = pytest.mark.django_db

SAVE = {
    "cluster": "sandbox",
    "namespace": "shop",
    "target": "web",
    "fault": "pod-kill",
    "duration_seconds": 60,
    "name": "web survives losing a pod",
    "schedule": "0 10 * * 1-5",
    "timezone": "Europe/Berlin",
    "window": "09:00-17:00",
}


def test_cron_follows_the_time_zone_across_dst():
    # 10:00 in Berlin is 09:00 UTC in winter and 08:00 UTC in summer
    winter = schedules.next_run("0 10 * * *", "Europe/Berlin", datetime(2026, 1, 5, 12, tzinfo=UTC))
    summer = schedules.next_run("0 10 * * *", "Europe/Berlin", datetime(2026, 7, 6, 12, tzinfo=UTC))
    assert winter == datetime(2026, 1, 6, 9, tzinfo=UTC)
    assert summer == datetime(2026, 7, 7, 8, tzinfo=UTC)
    assert schedules.next_run("", "UTC", winter) is None


def test_windows_may_cross_midnight():
    night = "22:00-06:00"
    assert schedules.inside(night, "UTC", datetime(2026, 1, 5, 23, tzinfo=UTC))
    assert schedules.inside(night, "UTC", datetime(2026, 1, 6, 5, 59, tzinfo=UTC))
    assert not schedules.inside(night, "UTC", datetime(2026, 1, 6, 12, tzinfo=UTC))
    assert schedules.inside("", "UTC", datetime(2026, 1, 6, 12, tzinfo=UTC))


@pytest.mark.parametrize(
    ("schedule", "tz", "window", "field"),
    [
        ("every day", "UTC", "", "schedule"),
        ("* * * * * *", "UTC", "", "schedule"),
        ("0 10 * * *", "Mars/Olympus", "", "timezone"),
        ("0 10 * * *", "UTC", "9-17", "window"),
        ("0 10 * * *", "UTC", "25:00-26:00", "window"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(schedule, tz, window, field):
    with pytest.raises(schedules.ScheduleError) as e:
        schedules.check(schedule, tz, window)
    assert e.value.field == field


@pytest.fixture
def saved(cluster, live, olivia):
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(live.kubeconfig)).configuration)
    k8s.CoreV1Api(api).patch_namespace(
        "shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}}
    )
    c = Client()
    c.force_login(olivia)
    r = c.post("/chaos/experiments", json.dumps(SAVE), content_type="application/json")
    assert r.status_code == 201, r.content
    return Experiment.objects.get(pk=r.json()["id"]), c


def test_an_operator_saves_an_experiment_and_runs_it_by_hand(saved):
    e, c = saved
    assert not e.one_off and e.next_run_at > timezone.now() and not Action.objects.exists()
    assert AuditEvent.objects.filter(verb="chaos.experiment.create").count() == 1
    bad = c.post(
        "/chaos/experiments",
        json.dumps({**SAVE, "schedule": "whenever"}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["field"] == "schedule"
    r = c.post(f"/chaos/experiments/{e.pk}/run", "{}", content_type="application/json")
    assert r.status_code == 201 and r.json()["state"] == "waiting"
    assert Run.objects.get().experiment == e  # a run of the saved experiment, not a new one
    listed = c.get(f"/chaos/experiments/{e.pk}").json()
    assert listed["schedule"] == "0 10 * * 1-5" and len(listed["runs"]) == 1


def test_a_scheduled_run_outside_a_window_does_not_start_and_says_why(saved, adam):
    e, _ = saved
    due = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday 10:00 in Berlin: inside 09-17 there
    Experiment.objects.filter(pk=e.pk).update(next_run_at=due - timedelta(seconds=1))
    freeze = {"days": ["mon"], "start": "09:30", "end": "11:00", "tz": "Europe/Berlin"}
    p = policy_active()
    policy_update(
        actor=adam,
        rules={**p.rules, "windows": {"allow": [], "deny": [freeze]}},
        reason="release freeze",
        base_version=p.version,
    )
    assert schedules_due(now=due) == {"started": 0, "skipped": 1}
    e.refresh_from_db()
    assert "freeze window" in e.last_skip and not Action.objects.exists()
    assert e.next_run_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # the next weekday at 10:00
    skipped = AuditEvent.objects.get(verb="chaos.run.skipped")
    assert "freeze window" in skipped.reason

    night = due.replace(hour=20)  # 21:00 in Berlin: outside the experiment's own 09-17
    Experiment.objects.filter(pk=e.pk).update(next_run_at=night - timedelta(seconds=1))
    assert schedules_due(now=night)["skipped"] == 1
    e.refresh_from_db()
    assert e.last_skip == "outside its window (09:00-17:00 Europe/Berlin)"


def test_a_scheduled_run_inside_its_windows_starts_as_its_owner(saved):
    e, _ = saved
    due = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    Experiment.objects.filter(pk=e.pk).update(next_run_at=due - timedelta(seconds=1))
    assert schedules_due(now=due) == {"started": 1, "skipped": 0}
    run = Run.objects.select_related("action").get()
    assert run.experiment_id == e.pk and run.started_by == "olivia"
    assert run.action.status == "proposed" and "scheduled" in run.action.reason
    e.refresh_from_db()
    assert e.last_skip == "" and e.next_run_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


def test_a_paused_experiment_starts_nothing_on_schedule_or_by_hand(saved, vic):
    e, c = saved
    due = e.next_run_at
    r = c.post(
        f"/chaos/experiments/{e.pk}/enabled",
        json.dumps({"enabled": False, "reason": "release freeze"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["next_run_at"] is None
    assert schedules_due(now=due + timedelta(days=1)) == {"started": 0, "skipped": 0}
    by_hand = c.post(f"/chaos/experiments/{e.pk}/run", "{}", content_type="application/json")
    assert by_hand.status_code == 409 and "paused" in by_hand.json()["detail"]
    assert not Run.objects.exists()
    no_reason = c.post(
        f"/chaos/experiments/{e.pk}/enabled",
        json.dumps({"enabled": True, "reason": ""}),
        content_type="application/json",
    )
    assert no_reason.status_code in (400, 422)
    viewer = Client()
    viewer.force_login(vic)
    denied = viewer.post(
        f"/chaos/experiments/{e.pk}/enabled",
        json.dumps({"enabled": True, "reason": "x"}),
        content_type="application/json",
    )
    assert denied.status_code == 403
    e.refresh_from_db()
    assert not e.enabled
    assert AuditEvent.objects.filter(verb="chaos.experiment.pause").count() == 1
