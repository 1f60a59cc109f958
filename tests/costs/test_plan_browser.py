"""A cost plan item applied from the browser: an operator proposes web's rightsizing on the plan
page in Chromium, an approver approves it in the Approvals inbox (which shows what it saves), a
real Celery worker carries it out through governance, and the sandbox's Deployment has the new
resources."""

import time

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.core.models import AuditEvent
from apps.governance.action_models import Action
from tests.support.browser import SHOTS, browser_login
from tests.support.paths import WORKER_MODEL_DIR
from tests.support.sandbox import collect_through, sandbox_cluster, start_sandbox

pytestmark = [pytest.mark.worker, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def wasteful(tmp_path, settings):
    """The `overprovisioned` scenario, paused: a day collected hourly (enough to call the
    reporter idle), then 70 minutes every 2 (enough samples to rightsize the rest)."""
    settings.MODEL_DIR = WORKER_MODEL_DIR
    server = start_sandbox(tmp_path, "overprovisioned")
    cluster = sandbox_cluster(server, name="overprovisioned")
    collect_through(server, cluster, 24 * 60, step=3600)
    collect_through(server, cluster, 70, step=120)
    yield server, cluster
    server.stop()


def _web_resources(server) -> dict:
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(str(server.kubeconfig), "sandbox"))
    dep = api.read_namespaced_deployment("web", "shop")
    return dep.spec.template.spec.containers[0].resources.to_dict()


def _until_final(server, action: Action, timeout: float = 180) -> Action:
    """The paused sandbox moves 5 simulated seconds every 0.2 s while the worker acts, so the
    rollout it starts can finish."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action.refresh_from_db()
        if action.status in ("succeeded", "failed", "rolled_back", "blocked", "cancelled"):
            return action
        server.sandbox.advance(5)
        time.sleep(0.2)
    raise AssertionError(f"action #{action.pk} still {action.status} after {timeout}s")


def test_it_applies_a_plan_item_through_approval_and_changes_the_sandbox(
    celery_worker_process,
    wasteful,
    page,
    live_server,
    olivia,
    alice,
):
    server, cluster = wasteful
    assert _web_resources(server)["requests"] == {"cpu": "1", "memory": "2Gi"}
    browser_login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/costs/plan/?cluster={cluster.name}")
    row = page.locator("[data-testid=plan-row][data-workload='shop/web']")
    row.wait_for()
    assert "$" in page.inner_text("[data-testid=total-savings]")
    idle = page.locator("[data-testid=plan-row][data-workload='analytics/reporter']")
    assert idle.get_attribute("data-change") == "scale_to_zero"
    assert "Scale to zero: 2 → 0 replicas" in idle.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "cost-plan.png"), full_page=True)
    page.check("input[name=item][value='shop/web']")
    page.fill("[data-testid=propose-form] input[name=reason]", "rightsize web from the plan")
    page.click("[data-testid=propose-selected]")
    page.wait_for_url(f"{live_server.url}/approvals/")
    (action,) = Action.objects.filter(cluster=cluster, target_name="web")
    assert action.status == "proposed" and action.kind == "patch_resources"
    wanted = action.parameters

    page.context.clear_cookies()
    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/approvals/")
    cost = page.inner_text(f"[data-testid=cost-{action.pk}]")
    assert cost.startswith("\u2212$") and cost.endswith("/month"), cost  # it saves money
    page.fill(f"[data-testid=pending-{action.pk}] input[name=reason]", "looks right")
    page.once("dialog", lambda d: d.accept())  # hx-confirm: "Approve action #N?"
    page.click(f"[data-testid=approve-{action.pk}]")
    page.wait_for_selector(f"[data-testid=status-{action.pk}]")  # moved to recent decisions
    done = _until_final(server, action)
    assert done.status == "succeeded", done.status_reason
    after = _web_resources(server)
    assert (
        after["requests"] == wanted["requests"]
        and after["limits"]["memory"] == (wanted["limits"]["memory"])
    )
    verbs = set(AuditEvent.objects.filter(target_id=str(action.pk)).values_list("verb", flat=True))
    assert {"action.proposed", "action.approved", "action.succeeded"} <= verbs

    page.goto(f"{live_server.url}/costs/?cluster={cluster.name}&range=24h")
    page.wait_for_selector("[data-testid=chart-namespaces] .main-svg", timeout=15000)
    assert "analytics" in page.inner_text("main")  # the idle reporter's namespace costs money
    page.screenshot(path=str(SHOTS / "costs.png"), full_page=True)
    assert page.console_errors == []
