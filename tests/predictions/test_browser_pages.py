"""The prediction pages in headless Chromium under the CSP: the risk table, a workload's
timeline with anomaly bands drawn by Plotly, the cluster-wide timeline and the models."""

import pytest

from apps.predictions import services
from tests.support.browser import SHOTS, browser_login
from tests.support.sandbox import collect_through, sandbox_cluster, start_sandbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_reads_risk_reasons_and_anomaly_timelines(
    page,
    live_server,
    vic,
    base_model,
    tmp_path,
):
    server = start_sandbox(tmp_path, "memory-leak")
    try:
        cluster = sandbox_cluster(server)
        collect_through(server, cluster, 9, step=15)
        services.anomaly_fit(cluster=cluster)
        collect_through(server, cluster, 6)
        services.cluster_score(cluster=cluster)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP', e.violatedDirective, e.sourceFile, e.lineNumber))"
        )
        browser_login(page, live_server, "vic")
        page.click("nav >> text=Predictions")
        page.wait_for_selector("[data-testid=risk-row]")
        first = page.locator("[data-testid=risk-row]").first
        assert "shop/api" in first.inner_text() and "memory" in first.inner_text()
        assert page.locator("[data-testid=low-confidence]").count() == 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "predictions.png"), full_page=True)
        page.click("text=shop/api >> nth=0")
        page.wait_for_selector("[data-testid=entity-timeline] .main-svg", timeout=15000)
        assert page.locator("[data-testid=entity-timeline] .shapelayer path").count() >= 1
        page.screenshot(path=str(SHOTS / "workload-timeline.png"), full_page=True)
        page.click(".subnav >> text=Anomalies")
        page.wait_for_selector("[data-testid=anomaly-timeline] .main-svg", timeout=15000)
        assert page.locator("[data-testid=anomaly-row]").count() >= 1
        page.screenshot(path=str(SHOTS / "anomalies.png"), full_page=True)
        page.click(".subnav >> text=Models")
        page.wait_for_selector("[data-testid=serving-figures]")
        page.screenshot(path=str(SHOTS / "models.png"), full_page=True)
        assert page.console_errors == []
    finally:
        server.stop()
