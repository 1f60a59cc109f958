"""The Chaos pages through Django's test client: who sees the form, the dry run, a start, the
run's live view and Abort (a browser test drives the same in Chromium)."""

import pytest
from django.test import Client
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos import runs
from apps.chaos.models import Experiment, GameDay, Run
from apps.clusters.labels import CHAOS_OPT_IN
from apps.core.models import AuditEvent
from apps.core.services import safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Action, Status
from apps.governance.actions import action_approve

pytestmark = [pytest.mark.django_db]

FORM = {
    "cluster": "sandbox",
    "namespace": "shop",
    "target": "web",
    "fault": "pod-kill",
    "duration_seconds": "60",
    "mode": "one",
    "value": "",
    "parameters": "{}",
    "probes": '[{"kind": "availability", "min_percent": 50}]',
    "grace_seconds": "20",
    "reason": "game day",
}


@pytest.fixture
def opted(live):
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(live.kubeconfig)).configuration)
    k8s.CoreV1Api(api).patch_namespace(
        "shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}}
    )


def as_(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_viewers_read_operators_get_the_form_and_templates(cluster, vic, olivia):
    page = as_(vic).get("/chaos/").content.decode()
    assert "Resilience" in page and "Start an experiment" not in page
    page = as_(olivia).get("/chaos/?template=memory-stress").content.decode()
    assert "Start an experiment" in page and "600Mi" in page and 'data-testid="dry-run"' in page
    # on the sandbox a ready experiment is filled in, with the steps to run and grade it
    assert 'data-testid="sandbox-guide"' in page and 'value="worker"' in page
    assert as_(vic).post("/chaos/preview", FORM).status_code == 403
    assert as_(vic).post("/chaos/start", FORM).status_code == 403


def test_the_dry_run_shows_the_pods_and_writes_nothing(cluster, live, opted, olivia):
    r = as_(olivia).post("/chaos/preview", FORM, headers={"HX-Request": "true"})
    assert r.status_code == 200
    page = r.content.decode()
    assert 'data-testid="plan-ok"' in page and page.count('data-testid="plan-pod"') == 3
    assert "PodChaos" in page and not Action.objects.exists()


def test_a_refused_dry_run_names_the_problem(cluster, live, olivia):
    r = as_(olivia).post("/chaos/preview", FORM)  # shop has not opted in
    assert r.status_code == 400
    assert "namespace: namespace shop has not opted in" in r.content.decode()
    bad = as_(olivia).post("/chaos/preview", {**FORM, "probes": "[{oops"})
    assert bad.status_code == 400 and "probes is not JSON" in bad.content.decode()


def test_start_then_the_run_page_shows_state_chart_timeline_and_abort(
    cluster, live, opted, olivia, alice, adam, vic
):
    r = as_(olivia).post("/chaos/start", FORM)
    assert r.status_code == 302
    run = Run.objects.get()
    assert r["Location"] == f"/chaos/run/{run.pk}/"
    page = as_(olivia).get(r["Location"]).content.decode()
    assert 'data-testid="run-state">waiting' in page and "Approvals inbox" in page
    assert 'data-testid="abort"' in page
    assert 'data-testid="abort"' not in as_(vic).get(r["Location"]).content.decode()
    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")
    action_approve(approver=alice, action=run.action, reason="ok")
    assert executor.execute(run.action_id) == Status.SUCCEEDED
    runs.runs_watch()
    page = as_(vic).get(r["Location"]).content.decode()
    assert 'data-testid="run-state">running' in page and 'data-testid="run-chart"' in page
    done = as_(olivia).post(f"/chaos/run/{run.pk}/abort", {"reason": "seen enough"})
    assert done.status_code == 302
    page = as_(olivia).get(r["Location"]).content.decode()
    assert 'data-testid="run-state">aborted' in page and "seen enough" in page


def test_an_operator_saves_a_scheduled_experiment_and_the_list_shows_its_next_run(
    cluster, live, opted, olivia
):
    saved = {**FORM, "name": "weekday pod kill", "schedule": "0 10 * * 1-5"}
    saved |= {"timezone": "Europe/Paris", "window": "09:00-17:00"}
    r = as_(olivia).post("/chaos/save", saved)
    assert r.status_code == 302 and r["Location"] == "/chaos/"
    e = Experiment.objects.get(one_off=False)
    assert (e.name, e.schedule, e.timezone, e.window) == (
        "weekday pod kill",
        "0 10 * * 1-5",
        "Europe/Paris",
        "09:00-17:00",
    )
    assert e.next_run_at is not None and not Run.objects.exists()  # saved, nothing injected
    assert AuditEvent.objects.filter(verb="chaos.experiment.create").count() == 1
    page = as_(olivia).get("/chaos/").content.decode()
    assert "weekday pod kill" in page and e.next_run_at.strftime("%Y-%m-%d %H:%M") in page
    assert 'data-testid="run-now"' in page and "within 09:00-17:00" in page
    # Load fills the form from it, to run a variant or save it anew.
    loaded = as_(olivia).get(f"/chaos/?experiment={e.pk}").content.decode()
    assert 'value="0 10 * * 1-5"' in loaded and 'value="Europe/Paris"' in loaded


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": ""}, "name", "needs a name"),
        ({"schedule": "every day"}, "schedule", "cron"),
        ({"window": "10-12"}, "window", "HH:MM-HH:MM"),
        ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
    ],
)
def test_a_refused_save_names_the_field_and_saves_nothing(
    cluster, live, opted, olivia, change, field, words
):
    r = as_(olivia).post("/chaos/save", {**FORM, "name": "x", **change})
    assert r.status_code == 400
    page = r.content.decode()
    assert f"{field}: " in page and words in page, page[page.find("msg-error") - 200 :][:600]
    assert not Experiment.objects.exists()


def test_run_now_and_a_gameday_planned_and_started_from_the_pages(
    cluster, live, opted, olivia, adam, vic
):
    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")
    for name in ("first", "second"):
        assert as_(olivia).post("/chaos/save", {**FORM, "name": name}).status_code == 302
    first, second = Experiment.objects.filter(one_off=False).order_by("pk")
    r = as_(olivia).post(f"/chaos/experiment/{first.pk}/run")
    run = Run.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/chaos/run/{run.pk}/"
    assert run.experiment_id == first.pk and run.action.status == Status.PROPOSED
    assert as_(vic).post(f"/chaos/experiment/{first.pk}/run").status_code == 403
    run.action.status = Status.CANCELLED  # out of the way of the GameDay's own runs
    run.action.save(update_fields=["status"])
    page = as_(olivia).get("/chaos/").content.decode()
    assert 'data-testid="plan-gameday"' in page and "second" in page
    r = as_(olivia).post(
        "/chaos/gameday/new",
        {"name": "Tuesday", "experiments": [str(second.pk), str(first.pk)], "window": ""},
    )
    g = GameDay.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/chaos/gameday/{g.pk}/"
    assert g.experiments == [second.pk, first.pk] and g.status == GameDay.Status.PLANNED
    page = as_(olivia).get(r["Location"]).content.decode()
    assert 'data-testid="gameday-start"' in page
    assert 'data-testid="gameday-start"' not in as_(vic).get(r["Location"]).content.decode()
    assert as_(olivia).post(f"/chaos/gameday/{g.pk}/start").status_code == 302
    g.refresh_from_db()
    assert g.status == GameDay.Status.RUNNING and len(g.runs) == 1
    assert Run.objects.get(pk=g.runs[0]).experiment_id == second.pk  # in the order ticked
    # Planning with nothing ticked says which field, on the page.
    r = as_(olivia).post("/chaos/gameday/new", {"name": "empty"}, follow=True)
    assert "GameDay not planned: experiments:" in r.content.decode()
    assert GameDay.objects.count() == 1


def test_a_saved_experiment_is_paused_and_resumed_with_a_reason(cluster, live, opted, olivia):
    scheduled = {**FORM, "name": "nightly", "schedule": "0 3 * * *"}
    assert as_(olivia).post("/chaos/save", scheduled).status_code == 302
    e = Experiment.objects.get(one_off=False)
    operator = as_(olivia)
    refused = operator.post(f"/chaos/experiment/{e.pk}/enabled", {"enabled": "off"}, follow=True)
    assert "reason: a reason is required" in refused.content.decode()
    r = operator.post(f"/chaos/experiment/{e.pk}/enabled", {"enabled": "off", "reason": "freeze"})
    assert r.status_code == 302
    e.refresh_from_db()
    assert not e.enabled and e.next_run_at is None
    page = operator.get("/chaos/").content.decode()
    assert (
        "paused" in page and 'data-testid="resume"' in page and 'data-testid="run-now"' not in page
    )
    assert operator.post(f"/chaos/experiment/{e.pk}/run").status_code == 302  # refused: a message
    assert not Run.objects.exists()
    operator.post(f"/chaos/experiment/{e.pk}/enabled", {"enabled": "on", "reason": "thaw"})
    e.refresh_from_db()
    assert e.enabled and e.next_run_at is not None
    events = AuditEvent.objects.filter(target_type="chaos.experiment", target_id=str(e.pk))
    assert list(events.order_by("seq").values_list("verb", "reason")) == [
        ("chaos.experiment.create", "game day"),
        ("chaos.experiment.pause", "freeze"),
        ("chaos.experiment.resume", "thaw"),
    ]
