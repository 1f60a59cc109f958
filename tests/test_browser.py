"""Headless Chromium (Debian's package) through Playwright against a live server."""

import pytest

from apps.core.models import AuditEvent
from tests.support.browser import SHOTS, browser_login
from tests.support.sandbox import sandbox_cluster, start_sandbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_halts_everything_and_the_banner_changes(page, live_server, adam):
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser_login(page, live_server, "adam")
    banner = page.locator("#safety-banner [data-testid=mode]")
    assert banner.inner_text() == "Supervised"
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

    page.click("nav >> text=Safety")
    page.select_option("select[name=mode]", "halted")
    page.fill("input[name=reason]", "database failover in progress")
    page.once("dialog", lambda d: d.accept())  # hx-confirm
    page.click("[data-testid=set-mode]")
    page.wait_for_selector("#safety-banner.banner-halted")
    assert banner.inner_text() == "Halted"
    assert page.locator("[data-testid=current-mode]").inner_text() == "Halted"
    page.screenshot(path=str(SHOTS / "safety-halted.png"), full_page=True)

    # The banner says so on every page, after a reload too.
    page.click("nav >> text=Predictions")
    assert page.locator("#safety-banner [data-testid=mode]").inner_text() == "Halted"

    page.click("nav >> text=Policy")
    page.wait_for_selector("[data-testid=policy-form]")  # an admin may change it
    assert page.inner_text("[data-testid=approvers-P1]") == "2"
    page.screenshot(path=str(SHOTS / "policy.png"), full_page=True)

    page.click("nav >> text=Audit")
    page.wait_for_selector("text=safety.mode_changed")
    page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)
    ev = AuditEvent.objects.get(verb="safety.mode_changed")
    assert ev.actor == "adam" and ev.reason == "database failover in progress"
    assert ev.after["mode"] == "halted"
    # The CSP allowed everything the page needs: no blocked script or style, no JS error.
    assert page.console_errors == []


def test_a_viewer_sees_the_mode_but_no_controls(page, live_server, vic):
    browser_login(page, live_server, "vic")
    page.goto(f"{live_server.url}/safety/")
    assert page.locator("[data-testid=set-mode]").count() == 0
    assert page.locator("#safety-banner").is_visible()


def test_a_refused_htmx_request_says_why_in_place_and_keeps_the_page(page, live_server, olivia):
    """An operator's htmx request the server refuses (here: loosening, which needs an admin)
    shows its message where the page shows messages, in its style; the panel stays whole."""
    browser_login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/safety/")
    page.once("dialog", lambda d: d.accept())
    page.evaluate(  # as a stale form would send it: the page no longer offers autonomous
        "htmx.ajax('POST', '/safety/mode', {target: '#safety-panel', swap: 'outerHTML', "
        "values: {mode: 'autonomous', reason: 'try'}})"
    )
    alert = page.locator("#messages .msg-error")
    alert.wait_for()
    assert "manage_safety" in alert.inner_text()
    assert page.locator("[data-testid=current-mode]").inner_text() == "Supervised"
    assert page.locator("nav[aria-label=Main]").is_visible()  # still the whole page
    # A 403 from the role check itself (a viewer's control) lands in the same place.
    page.evaluate("htmx.ajax('POST', '/clusters/new', {target: '#safety-panel'})")
    page.locator("[data-testid=htmx-error]").wait_for()
    assert "Not allowed" in page.inner_text("[data-testid=htmx-error]")
    assert page.locator("[data-testid=current-mode]").count() == 1


def test_the_cluster_page_draws_its_usage_chart_under_the_csp(page, live_server, vic, tmp_path):
    from apps.clusters.services import cluster_collect

    server = start_sandbox(tmp_path)
    try:
        cluster = sandbox_cluster(server)
        for _ in range(3):
            cluster_collect(cluster=cluster)
            server.sandbox.advance(30)
            cluster.refresh_from_db()
        page.add_init_script(  # name the source of any CSP violation in the failure
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP', e.violatedDirective, e.sourceFile, e.lineNumber, e.columnNumber))"
        )
        browser_login(page, live_server, "vic")
        page.click("nav >> text=Clusters")
        page.wait_for_selector("[data-testid=health-sandbox]")
        assert page.inner_text("[data-testid=health-sandbox]") == "healthy"
        page.click("text=sandbox >> nth=0")
        page.wait_for_selector(".chart .main-svg", timeout=15000)  # Plotly drew it
        assert page.locator("text=node-1").count() >= 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "cluster.png"), full_page=True)
        assert page.console_errors == []
    finally:
        server.stop()


@pytest.mark.worker
def test_an_operator_proposes_an_approver_approves_and_the_sandbox_changes(
    page, live_server, olivia, alice, celery_worker_process, tmp_path
):
    server = start_sandbox(tmp_path, speed=30)
    try:
        sandbox_cluster(server)
        browser_login(page, live_server, "olivia")
        page.goto(f"{live_server.url}/actions/new")
        page.select_option("select[name=cluster]", "sandbox")
        page.select_option("select[name=kind]", "scale")
        page.fill("input[name=namespace]", "shop")
        page.fill("input[name=target_name]", "web")
        page.fill("input[name=replicas]", "5")
        page.fill("textarea[name=reason]", "more traffic expected")
        page.click("main form button[type=submit]")
        assert page.inner_text("[data-testid=action-status]") == "proposed"
        action_url = page.url
        page.click("text=Log out")
        browser_login(page, live_server, "alice")
        page.click("nav >> text=Approvals")
        page.once("dialog", lambda d: d.accept())
        page.click("[data-testid^=approve-]")
        page.wait_for_selector("[data-testid^=status-]")
        page.goto(action_url)
        page.wait_for_selector("[data-testid=action-status]:has-text('succeeded')", timeout=60000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "action.png"), full_page=True)
        dep = server.sandbox.store.get("apps/deployments", "shop", "web")
        assert dep["spec"]["replicas"] == 5
        assert page.console_errors == []
    finally:
        server.stop()
