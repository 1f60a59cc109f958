"""An idle workload in the cost plan: found on a day of collected samples, proposed for scaling
to zero (never with a rightsizing as well), exported as a replicas patch and a CSV row, served
by /ai/optimize, and carried out only through approval and the executor."""

import csv
import io

import kubernetes_validate
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.costs.plans import SCALE_TO_ZERO, plan_apply, plan_build, plan_csv, plan_yaml
from apps.costs.selectors import waste_report
from apps.costs.waste import Kind as WasteKind
from apps.governance import executor
from apps.governance.actions import action_approve
from tests.support.sandbox import collect_through, sandbox_cluster, start_sandbox
from tests.support.users import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def idle_day(db, tmp_path):
    """The overprovisioned scenario (analytics/reporter uses 2m CPU of its 500m) collected
    every hour for 25 hours: past the 24 h an idle verdict needs."""
    server = start_sandbox(tmp_path, "overprovisioned")
    cluster = sandbox_cluster(server)
    collect_through(server, cluster, 25 * 60, step=3600)
    yield server, cluster
    server.stop()


def test_an_idle_workload_is_planned_to_scale_to_zero_and_nothing_else(idle_day):
    _server, cluster = idle_day
    plan = plan_build(cluster=cluster)
    reporter = plan.item("analytics", "reporter")
    assert reporter is not None and reporter.change == SCALE_TO_ZERO
    assert reporter.replicas_now == 2 and reporter.recommendations == []
    # All it requests: 2 x (0.5 vCPU + 1 GiB) at the default prices, the waste report's figure.
    [idle] = [f for f in waste_report(cluster).findings if f.kind == WasteKind.IDLE_WORKLOAD]
    assert idle.target == "analytics/reporter"
    assert reporter.savings_per_month == idle.monthly_cost > 0
    assert reporter.confidence == "medium"  # idle for a day, not yet a week
    assert "CPU p95" in reporter.findings[0] and "traffic" in reporter.findings[1]
    busy = [i for i in plan.items if i.key != "analytics/reporter"]
    assert busy and all(i.change == "rightsize" and i.recommendations for i in busy)
    assert plan.total_savings == round(sum(i.savings_per_month for i in plan.items), 2)
    assert plan_build(cluster=cluster, namespace="shop").item("analytics", "reporter") is None


def test_its_yaml_patch_scales_the_deployment_to_zero_and_its_csv_row_says_so(idle_day):
    server, cluster = idle_day
    plan = plan_build(cluster=cluster, namespace="analytics")
    text = plan_yaml(plan)
    assert "analytics/reporter: idle; scale 2 -> 0 replicas" in text
    [doc] = [d for d in yaml.safe_load_all(text) if d]
    assert doc["spec"] == {"replicas": 0}
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(str(server.kubeconfig), "sandbox"))
    api.patch_namespaced_deployment("reporter", "analytics", doc)
    after = api.read_namespaced_deployment("reporter", "analytics")
    assert after.spec.replicas == 0
    assert after.spec.template.spec.containers[0].resources.requests["cpu"] == "500m"
    kubernetes_validate.validate(
        api.api_client.sanitize_for_serialization(after), "1.30.0", strict=True
    )
    [row] = list(csv.DictReader(io.StringIO(plan_csv(plan))))
    assert (row["workload"], row["change"], row["replicas_now"], row["replicas_recommended"]) == (
        "reporter",
        SCALE_TO_ZERO,
        "2",
        "0",
    )
    assert row["cpu_request_recommended"] == "" and float(row["savings_per_month_usd"]) > 0


def test_optimize_serves_the_scale_to_zero(client, idle_day, vic):
    login(client, vic)
    body = client.get("/ai/optimize?cluster=sandbox&namespace=analytics").json()
    [item] = body["items"]
    assert item["change"] == SCALE_TO_ZERO and item["replicas"] == {"now": 2, "recommended": 0}
    assert item["containers"] == [] and item["savings_per_month_usd"] > 0


def test_applying_it_proposes_a_high_risk_scale_that_people_approve(idle_day, olivia, alice):
    server, cluster = idle_day
    [action] = plan_apply(
        actor=olivia, cluster=cluster, items=[("analytics", "reporter")], reason="idle for a day"
    )
    assert (action.kind, action.parameters, action.risk) == ("scale", {"replicas": 0}, "high")
    assert action.status == "proposed" and action.evidence["change"] == SCALE_TO_ZERO
    assert "scale 2 -> 0 replicas" in action.reason
    assert (
        server.sandbox.store.get("apps/deployments", "analytics", "reporter")["spec"]["replicas"]
        == 2
    )  # nothing changes before approval
    action = action_approve(approver=alice, action=action)
    executor.execute(action.pk)
    action.refresh_from_db()
    assert action.status == "succeeded" and action.snapshot["replicas"] == 2  # for a rollback
    dep = server.sandbox.store.get("apps/deployments", "analytics", "reporter")
    assert dep["spec"]["replicas"] == 0


def test_idle_over_six_days_of_the_week_window_is_high_confidence():
    """The samples of a 7-day window span a collection interval less than 7 days."""
    from types import SimpleNamespace

    from apps.costs.plans import idle_item
    from apps.costs.prices import DEFAULT_SHEET
    from apps.costs.waste import WorkloadUsage, idle_workloads

    def item(hours):
        w = WorkloadUsage(
            "analytics", "reporter", 2, 500, 2**30, 2, 2, 120 * 2**20, 120 * 2**20, hours
        )
        [f] = idle_workloads([w], DEFAULT_SHEET.default.prices)
        return idle_item(SimpleNamespace(name="c"), w, f)

    assert item(7 * 24 - 1 / 60).confidence == "high"
    assert item(6 * 24).confidence == "high"
    assert item(6 * 24 - 1).confidence == "medium"
