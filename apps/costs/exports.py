"""A cost plan as files for GitOps: Kubernetes strategic-merge patches (YAML, one document per
Deployment, plus one per HPA whose CPU target changes) and CSV. Pure: no Django import."""

import copy
import csv
import io
from typing import TYPE_CHECKING

import yaml

from apps.core.formatting import usd

if TYPE_CHECKING:
    from .plans import Plan, PlanItem

CSV_COLUMNS = (
    "cluster",
    "namespace",
    "workload",
    "container",
    "cpu_request_now",
    "cpu_request_recommended",
    "cpu_limit_now",
    "cpu_limit_recommended",
    "memory_request_now",
    "memory_request_recommended",
    "memory_limit_now",
    "memory_limit_recommended",
    "hpa_target",
    "savings_per_month_usd",
    "risk_memory",
    "risk_cpu_limit",
    "confidence",
    "findings",
    "change",
    "replicas_now",
    "replicas_recommended",
)


def deployment_patch(item: "PlanItem") -> dict:
    """A strategic-merge patch: containers merge by name, so only these resources change. An
    idle workload's patch sets its replicas to 0."""
    head = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": item.workload, "namespace": item.namespace},
    }
    if item.scales_to_zero:
        return {**head, "spec": {"replicas": 0}}
    containers = []
    for r in item.recommendations:
        new = r.recommended
        limits = {"memory": new.memory_limit}
        if new.cpu_limit is not None:
            limits = {"cpu": new.cpu_limit, **limits}
        containers.append(
            {
                "name": r.container,
                "resources": {
                    "requests": {"cpu": new.cpu_request, "memory": new.memory_request},
                    "limits": limits,
                },
            }
        )
    return {**head, "spec": {"template": {"spec": {"containers": containers}}}}


def hpa_patch(item: "PlanItem") -> dict:
    """spec.metrics has no merge key, so a strategic merge replaces the list whole: the patch
    carries every metric the HPA has now, with only the CPU utilization target changed."""
    cpu = {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": item.hpa_target},
        },
    }
    metrics = [cpu if _is_cpu(m) else copy.deepcopy(m) for m in item.hpa_metrics]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": item.hpa_name, "namespace": item.namespace},
        "spec": {"metrics": metrics if any(map(_is_cpu, item.hpa_metrics)) else [cpu]},
    }


def _is_cpu(metric: dict) -> bool:
    return metric.get("type") == "Resource" and (metric.get("resource") or {}).get("name") == "cpu"


def plan_yaml(plan: "Plan") -> str:
    """Every item as patch documents with a comment header, ready for kustomize."""
    head = (
        f"# ZeroTouch cost plan for cluster {plan.cluster.name}"
        f"{' (simulated)' if plan.cluster.simulated else ''}, namespace "
        f"{plan.namespace or 'all'}; generated at {plan.generated_at.isoformat()}\n"
        f"# {len(plan.items)} workloads, ${plan.total_savings:.2f} a month in total; "
        "strategic-merge patches (kubectl patch --type strategic, or kustomize patches)\n"
    )
    docs = []
    for item in plan.items:
        if item.scales_to_zero:
            docs.append(
                f"# {item.key}: idle; scale {item.replicas_now} -> 0 replicas; saves "
                f"{usd(item.savings_per_month)} a month; {item.confidence} confidence; "
                f"{item.findings[0]}; cluster {item.cluster}; generated at "
                f"{plan.generated_at.isoformat()}\n" + _dump(deployment_patch(item))
            )
            continue
        risk_cpu = "n/a" if item.risk_cpu_limit is None else f"{item.risk_cpu_limit:.1%}"
        comment = (
            f"# {item.key}: saves ${item.savings_per_month:.2f} a month; risk: "
            f"{item.risk_memory:.1%} of samples above the new memory limit, {risk_cpu} above "
            f"the CPU limit; {item.confidence} confidence; cluster {item.cluster}; "
            f"generated at {plan.generated_at.isoformat()}\n"
        )
        docs.append(comment + _dump(deployment_patch(item)))
        if item.hpa_changes:
            docs.append(
                f"# {item.key}: HPA {item.hpa_name} CPU target {item.hpa_target_now}% -> "
                f"{item.hpa_target}%, so pods scale at the same absolute CPU with the new "
                "request (spec.metrics is replaced whole, so its other metrics are repeated "
                "unchanged)\n" + _dump(hpa_patch(item))
            )
    return head + "---\n".join(docs) if docs else head


def _dump(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def plan_csv(plan: "Plan") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in plan.items:
        if item.scales_to_zero:
            blank = [""] * 9  # the resource columns and the HPA target
            writer.writerow(
                [
                    item.cluster,
                    item.namespace,
                    item.workload,
                    "",
                    *blank,
                    f"{item.savings_per_month:.2f}",
                    "0.0000",
                    "",
                    item.confidence,
                    "; ".join(item.findings),
                    item.change,
                    item.replicas_now,
                    0,
                ]
            )
            continue
        for r in item.recommendations:
            now, new = r.current, r.recommended
            writer.writerow(
                [
                    item.cluster,
                    item.namespace,
                    item.workload,
                    r.container,
                    now.cpu_request or "",
                    new.cpu_request,
                    now.cpu_limit or "",
                    new.cpu_limit or "",
                    now.memory_request or "",
                    new.memory_request,
                    now.memory_limit or "",
                    new.memory_limit,
                    "" if r.hpa_target is None else r.hpa_target,
                    f"{r.savings_per_month:.2f}",
                    f"{r.risk_memory:.4f}",
                    "" if r.risk_cpu_limit is None else f"{r.risk_cpu_limit:.4f}",
                    r.confidence,
                    "; ".join(r.findings),
                    item.change,
                    "",
                    "",
                ]
            )
    return out.getvalue()
