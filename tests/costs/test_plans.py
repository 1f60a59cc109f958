"""The cost plan over a collected sandbox: recommendations ranked by savings, what is missing
without enough history, the YAML patches (applied as a user's kubectl would) and the CSV."""

import csv
import io

import kubernetes_validate
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.clusters.quantity import parse
from apps.costs.plans import plan_build, plan_csv, plan_yaml
from apps.costs.usage import container_usage
from tests.support.sandbox import collect_through, sandbox_cluster

pytestmark = pytest.mark.django_db


def test_it_reads_usage_per_deployment_container(collected):
    usage = {(c.namespace, c.workload, c.container): c for c in container_usage(collected)}
    web = next(c for k, c in usage.items() if k[:2] == ("shop", "web"))
    assert web.replicas == 3
    assert web.current.cpu_request_millis == 200 and web.current.memory_limit_bytes == 512 * 2**20
    assert len(web.timestamps) == len(web.cpu_millis) >= 3 * 34
    api = next(c for k, c in usage.items() if k[:2] == ("shop", "api"))
    assert api.hpa is not None and api.hpa.target_cpu_utilization == 70


def test_it_recommends_lower_requests_for_an_over_provisioned_workload(collected):
    plan = plan_build(cluster=collected)

    ledger = plan.item("payments", "ledger")
    r = ledger.recommendations[0]
    assert r.recommended.cpu_request_millis < r.current.cpu_request_millis
    assert ledger.savings_per_month > 0 and r.risk_memory == 0
    assert ledger.confidence == "low"
    savings = [i.savings_per_month for i in plan.items]
    assert savings == sorted(savings, reverse=True)
    assert plan.total_savings == pytest.approx(sum(savings), abs=0.01)
    assert not plan.not_enough_history
    assert plan.item("shop", "api").hpa_target is not None


def test_it_filters_by_namespace_and_min_savings(collected):
    plan = plan_build(cluster=collected, namespace="payments")
    assert [i.key for i in plan.items] == ["payments/ledger"]
    top = plan_build(cluster=collected).items[0]
    only = plan_build(cluster=collected, min_savings=top.savings_per_month)
    assert [i.key for i in only.items] == [top.key]


def test_it_says_what_is_missing_without_enough_history(db, live):
    cluster = sandbox_cluster(live)
    collect_through(live, cluster, 10, step=60)
    plan = plan_build(cluster=cluster)
    assert plan.items == [] and plan.total_savings == 0
    short = {(n.namespace, n.workload): n for n in plan.not_enough_history}
    assert ("shop", "web") in short
    assert "more minutes of samples" in short["shop", "web"].message
    assert short["payments", "ledger"].missing_samples == 10  # 2 pods x 10 collections of 30


def test_the_yaml_patches_change_the_deployment_through_the_official_client(collected, live):
    plan = plan_build(cluster=collected)
    docs = [d for d in yaml.safe_load_all(plan_yaml(plan)) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {i.workload for i in plan.items}
    assert any(d["kind"] == "HorizontalPodAutoscaler" for d in docs)
    ledger = plan.item("payments", "ledger").recommendations[0].recommended
    # The user's GitOps path: kubectl patch --type strategic, played by the official client.
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(str(live.kubeconfig), "sandbox"))
    api.patch_namespaced_deployment("ledger", "payments", deployments["ledger"])
    after = api.read_namespaced_deployment("ledger", "payments")
    res = after.spec.template.spec.containers[0].resources
    assert parse(res.requests["cpu"]) * 1000 == ledger.cpu_request_millis
    assert parse(res.requests["memory"]) == ledger.memory_request_bytes
    assert parse(res.limits["memory"]) == ledger.memory_limit_bytes
    # The merged object is still a valid Deployment.
    kubernetes_validate.validate(
        api.api_client.sanitize_for_serialization(after), "1.30.0", strict=True
    )


def test_the_csv_has_a_header_and_a_row_per_container(collected):
    rows = list(csv.DictReader(io.StringIO(plan_csv(plan_build(cluster=collected)))))
    ledger = next(r for r in rows if r["workload"] == "ledger")
    assert ledger["cluster"] == "sandbox" and ledger["namespace"] == "payments"
    assert ledger["cpu_request_now"] == "250m"
    assert float(ledger["savings_per_month_usd"]) > 0 and ledger["risk_memory"] == "0.0000"
    assert ledger["confidence"] == "low"


def test_the_hpa_patch_changes_the_cpu_target_and_keeps_the_other_metrics(collected, live):
    """spec.metrics has no merge key: a patch with the CPU metric alone would drop the rest."""
    autoscaling = k8s.AutoscalingV2Api(
        k8s_config.new_client_from_config(str(live.kubeconfig), "sandbox")
    )
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("api", "shop")
    metrics = [*autoscaling.api_client.sanitize_for_serialization(hpa.spec.metrics), memory]
    autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "api", "shop", {"spec": {"metrics": metrics}}
    )
    plan = plan_build(cluster=collected)
    item = plan.item("shop", "api")
    assert item.hpa_changes and item.hpa_target != 70
    text = plan_yaml(plan)
    assert "its other metrics are repeated unchanged" in text
    [doc] = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "HorizontalPodAutoscaler"]
    autoscaling.patch_namespaced_horizontal_pod_autoscaler("api", "shop", doc)
    after = autoscaling.api_client.sanitize_for_serialization(
        autoscaling.read_namespaced_horizontal_pod_autoscaler("api", "shop")
    )
    by_name = {m["resource"]["name"]: m["resource"]["target"] for m in after["spec"]["metrics"]}
    assert by_name == {
        "cpu": {"type": "Utilization", "averageUtilization": item.hpa_target},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    kubernetes_validate.validate(after, "1.30.0", strict=True)
