"""What a proposed action does to the monthly bill, for the Approvals inbox: the change in
requested CPU and memory times the cluster's default prices. Read from what ZeroTouch stored
(the workload row and its latest container samples), never from the cluster: pages do not call
clusters. Registered in core's ACTION_COST registry by CostsConfig.ready()."""

from dataclasses import dataclass

from apps.clusters.models import ContainerSample, Workload
from apps.clusters.quantity import QuantityError, cpu_millis, memory_bytes
from apps.core.formatting import usd
from apps.core.registry import CostChange
from apps.governance.action_models import Action, Kind

from .prices import Prices
from .selectors import prices_for_cluster

NO_CHANGE = CostChange(0.0, "no cost change")
FREE_KINDS = {Kind.RESTART_POD, Kind.EVICT_POD, Kind.ROLLOUT_RESTART}


@dataclass(frozen=True)
class Requests:
    """Requests of one container of one replica, as last collected (None: not set)."""

    cpu_m: int | None
    memory: int | None


def requests_per_container(action: Action) -> dict[str, Requests]:
    """Container name -> its requests in the workload's newest collected pod samples."""
    latest = (
        ContainerSample.objects.filter(
            cluster_id=action.cluster_id, namespace=action.namespace, workload=action.target_name
        )
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )
    if latest is None:
        return {}
    rows = ContainerSample.objects.filter(
        cluster_id=action.cluster_id,
        namespace=action.namespace,
        workload=action.target_name,
        ts=latest,
    ).order_by("pod", "container")
    out: dict[str, Requests] = {}
    for r in rows:  # the first pod in name order: the pods of a revision ask alike
        out.setdefault(r.container, Requests(r.request_cpu_m, r.request_memory))
    return out


def monthly_text(dollars: float) -> str:
    if round(dollars, 2) == 0:
        return "no cost change"
    return f"{usd(dollars, signed=True)}/month"


def _priced(dollars: float) -> CostChange:
    return CostChange(round(dollars, 2), monthly_text(dollars))


def _unknown(why: str) -> CostChange:
    return CostChange(None, f"cost unknown: {why}")


def _scale(action: Action, p: Prices, replicas: int, per: dict[str, Requests]) -> CostChange:
    delta = action.parameters["replicas"] - replicas
    cpu = sum(r.cpu_m or 0 for r in per.values())
    memory = sum(r.memory or 0 for r in per.values())
    return _priced(delta * p.compute_month(cpu, memory))


def _patch(action: Action, p: Prices, replicas: int, per: dict[str, Requests]) -> CostChange:
    name = action.parameters.get("container", "")
    wanted = action.parameters.get("requests") or {}
    if not wanted:
        return CostChange(0.0, "no request change")
    now = per.get(name)
    if now is None:
        return _unknown(f"no samples for {action.namespace}/{action.target_name} container {name}")
    try:
        cpu = cpu_millis(wanted["cpu"]) - (now.cpu_m or 0) if "cpu" in wanted else 0
        memory = memory_bytes(wanted["memory"]) - (now.memory or 0) if "memory" in wanted else 0
    except QuantityError as exc:
        return _unknown(str(exc))
    return _priced(replicas * p.compute_month(cpu, memory))


def action_cost(action: Action) -> CostChange | None:
    """The monthly cost change of an action; None for kinds this cannot price."""
    if action.kind in FREE_KINDS:
        return NO_CHANGE
    if action.kind not in (Kind.SCALE, Kind.PATCH_RESOURCES) or action.target_kind != "Deployment":
        return None
    where = f"{action.namespace}/{action.target_name}"
    replicas = (
        Workload.objects.filter(
            cluster_id=action.cluster_id,
            namespace=action.namespace,
            kind="Deployment",
            name=action.target_name,
        )
        .values_list("replicas", flat=True)
        .first()
    )
    per = requests_per_container(action)
    if replicas is None or not per:
        return _unknown(f"no samples for {where}")
    p = prices_for_cluster(action.cluster).default.prices
    if action.kind == Kind.SCALE:
        return _scale(action, p, replicas, per)
    return _patch(action, p, replicas, per)
