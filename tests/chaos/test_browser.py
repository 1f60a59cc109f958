"""In Chromium: an operator starts an experiment from a template (after a dry run), watches
the run page update by itself, and reads the grade. The approval and the executor are called
as the inbox and the worker would (both are tested in the browser and on a worker elsewhere)."""

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos import runs
from apps.chaos.models import Run
from apps.clusters.labels import CHAOS_OPT_IN
from apps.core.services import safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Status
from apps.governance.actions import action_approve
from tests.support.browser import SHOTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_starts_from_a_template_watches_live_and_reads_the_grade(
    cluster, live, page, live_server, settings, olivia, alice, adam
):
    settings.CHAOS_SETTLE_SECONDS = 0
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(live.kubeconfig)).configuration)
    k8s.CoreV1Api(api).patch_namespace(
        "shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}}
    )
    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")
    browser_login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/chaos/")
    page.click("[data-testid=template-pod-kill]")
    page.fill("input[name=namespace]", "shop")
    page.fill("input[name=target]", "web")
    assert page.input_value("input[name=duration_seconds]") == "300"  # a sandbox's least
    page.fill("input[name=duration_seconds]", "60")
    page.click("[data-testid=dry-run]")
    page.locator("[data-testid=plan-ok]").wait_for()
    assert page.locator("[data-testid=plan-pod]").count() == 3
    assert page.inner_text("[data-testid=plan-hit]") == "1"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chaos-dry-run.png"), full_page=True)
    page.click("[data-testid=start-run]")
    page.wait_for_url(f"{live_server.url}/chaos/run/*/")
    assert page.inner_text("[data-testid=run-state]") == "waiting"

    run = Run.objects.get()
    action_approve(approver=alice, action=run.action, reason="game day")  # as in the inbox
    assert executor.execute(run.action_id) == Status.SUCCEEDED  # as the worker does
    runs.runs_watch()  # as beat does
    page.locator("[data-testid=run-state]", has_text="running").wait_for(timeout=15_000)
    live.sandbox.advance(61)  # the fault's 60 s are over
    runs.runs_watch()
    page.locator("[data-testid=grade-score]").wait_for(timeout=15_000)  # the page refreshes
    assert page.inner_text("[data-testid=grade-score]") == "100"
    assert "ZeroTouch correctly did nothing" in page.inner_text("[data-testid=grade-verdict]")
    assert page.inner_text("[data-testid=run-state]") == "completed"
    page.goto(page.url)  # the chart is drawn on a full load
    page.locator("[data-testid=run-chart] .main-svg").first.wait_for()
    page.screenshot(path=str(SHOTS / "chaos-run.png"), full_page=True)
