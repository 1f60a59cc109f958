"""A GameDay: saved experiments run in order, each once the one before has ended and been
checked after; one report as a page, JSON and CSV; it does not start outside its window."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos import runs
from apps.chaos.gamedays import gamedays_advance
from apps.chaos.models import GameDay, Run
from apps.chaos.services import experiment_create, plan
from apps.clusters.labels import CHAOS_OPT_IN
from apps.core.models import AuditEvent
from apps.core.services import safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Status
from apps.governance.actions import action_approve

pytestmark = pytest.mark.django_db


@pytest.fixture
def suite(cluster, live, olivia, adam, settings):
    settings.CHAOS_SETTLE_SECONDS = 0
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(live.kubeconfig)).configuration)
    k8s.CoreV1Api(api).patch_namespace(
        "shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}}
    )
    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")
    return [
        experiment_create(
            actor=olivia,
            plan=plan(
                actor=olivia,
                cluster=cluster,
                namespace="shop",
                target=target,
                fault="pod-kill",
                duration_seconds=60,
            ),
            name=f"lose a {target} pod",
        ).pk
        for target in ("web", "api")
    ]


def post(user, url, body):
    c = Client()
    c.force_login(user)
    return c.post(url, json.dumps(body), content_type="application/json")


def _play_current(live, alice) -> Run:
    """Approve and inject the GameDay's current run (as the inbox and the worker do), then let
    its 60 s pass and the watcher end it."""
    run = Run.objects.select_related("action").latest("pk")
    action_approve(approver=alice, action=run.action, reason="game day")
    assert executor.execute(run.action_id) == Status.SUCCEEDED
    runs.runs_watch()
    live.sandbox.advance(61)
    assert runs.runs_watch()["ended"] == 1
    return run


def test_a_gameday_runs_its_experiments_in_order_and_reports(suite, live, olivia, alice, vic):
    r = post(olivia, "/chaos/gamedays", {"name": "Tuesday", "experiments": suite})
    assert r.status_code == 201 and r.json()["status"] == "planned"
    g = GameDay.objects.get()
    r = post(olivia, f"/chaos/gamedays/{g.pk}/start", {})
    assert r.status_code == 200 and r.json()["status"] == "running" and len(r.json()["runs"]) == 1
    assert gamedays_advance() == 0  # the first run is not over yet
    first = _play_current(live, alice)
    assert gamedays_advance() == 1  # the second starts once the first was checked after
    second = _play_current(live, alice)
    assert first.experiment.workload == "web" and second.experiment.workload == "api"
    assert gamedays_advance() == 0
    c = Client()
    c.force_login(vic)
    report = c.get(f"/chaos/gamedays/{g.pk}").json()
    assert report["status"] == "done" and [row["run"] for row in report["runs"]] == [
        first.pk,
        second.pk,
    ]
    assert report["mean_score"] == 100 and all(
        row["state"] == "completed" for row in report["runs"]
    )
    csv = c.get(f"/chaos/gameday/{g.pk}.csv").content.decode().splitlines()
    assert csv[0].startswith("run,experiment,fault,target,state,score") and len(csv) == 3
    page = c.get(f"/chaos/gameday/{g.pk}/").content.decode()
    assert page.count('data-testid="gameday-row"') == 2 and 'gameday-score">100' in page
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"chaos.gameday.create", "chaos.gameday.start", "chaos.gameday.done"} <= verbs


def test_a_gameday_outside_its_window_does_not_start(suite, olivia):
    now = timezone.now()
    closed = f"{(now + timedelta(hours=2)):%H:00}-{(now + timedelta(hours=3)):%H:00}"
    r = post(olivia, "/chaos/gamedays", {"name": "later", "experiments": suite, "window": closed})
    assert r.status_code == 201
    started = post(olivia, f"/chaos/gamedays/{r.json()['id']}/start", {})
    assert started.status_code == 400 and started.json()["field"] == "window"
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "experiments": []}, "experiments"),
        ({"name": "x", "experiments": [999]}, "experiments"),
        ({"name": " ", "experiments": [1]}, "name"),
        ({"name": "x", "experiments": [1], "window": "all day"}, "window"),
    ],
)
def test_bad_gamedays_are_refused_naming_the_field(suite, olivia, body, field):
    body = {**body, "experiments": [suite[0] if i == 1 else i for i in body["experiments"]]}
    r = post(olivia, "/chaos/gamedays", body)
    assert r.status_code == 400 and r.json()["field"] == field, r.json()
