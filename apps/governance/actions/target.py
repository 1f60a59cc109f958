"""The target of an action as the cluster reports it, and the rating that follows from it.
These talk to the cluster: call them outside any transaction."""

from dataclasses import dataclass, field

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster
from apps.clusters.quantity import cpu_millis, format_cpu, format_memory, memory_bytes
from apps.core.errors import NotFound, Unavailable, ValidationFailed

from .. import rating
from ..action_models import NODE_KINDS, POD_KINDS, Kind


@dataclass(frozen=True)
class Resolved:
    """The target as the cluster reports it when the action is proposed."""

    target_kind: str  # Pod, Deployment, Node
    uid: str
    workload: str = ""  # the Deployment a pod belongs to
    extra: dict = field(default_factory=dict)  # parameters the cluster fills in
    replicas: int | None = None
    controlled: bool = True
    node_pods: int | None = None
    resources: dict | None = None  # the patched container's, for patch_resources


def resolve_target(
    cluster: Cluster, kind: str, namespace: str, name: str, parameters: dict
) -> Resolved:
    """What is being changed — and the target must exist. Talks to the cluster: call it
    outside any transaction."""
    try:
        gw = gateway_for(cluster)
    except gw_errors.GatewayError as exc:
        raise Unavailable(f"cluster {cluster.name}: {exc.message}") from exc
    try:
        if kind in NODE_KINDS:
            return _resolve_node(gw, kind, name)
        if kind in POD_KINDS:
            return _resolve_pod(gw, namespace, name)
        return _resolve_deployment(gw, kind, namespace, name, parameters)
    except gw_errors.NotFound as exc:
        raise NotFound(f"target does not exist: {exc.message}", field="target_name") from exc
    except gw_errors.GatewayError as exc:
        raise Unavailable(f"cluster {cluster.name}: {exc.message}") from exc
    finally:
        gw.close()


def _resolve_node(gw, kind: str, name: str) -> Resolved:
    node = next((n for n in gw.nodes() if n.name == name), None)
    if node is None:
        raise NotFound(f"node {name} does not exist", field="target_name")
    pods = None
    if kind == Kind.DRAIN_NODE:
        on_node = gw.pods(field_selector=f"spec.nodeName={name}")
        pods = sum(1 for p in on_node if not p.terminating)
    return Resolved("Node", node.uid, node_pods=pods)


def _resolve_pod(gw, namespace: str, name: str) -> Resolved:
    pod = gw.pod(namespace, name)
    if pod.owner is None:
        return Resolved("Pod", pod.uid, controlled=False)
    if pod.owner.kind != "ReplicaSet":
        return Resolved("Pod", pod.uid)  # a StatefulSet, DaemonSet or Job recreates it
    rs = next((r for r in gw.replica_sets(namespace) if r.name == pod.owner.name), None)
    if rs is None or rs.owner is None:
        return Resolved("Pod", pod.uid, replicas=rs.replicas if rs else None)
    try:
        replicas = gw.deployment(namespace, rs.owner.name).replicas
    except gw_errors.NotFound:
        replicas = rs.replicas  # its Deployment is being deleted
    return Resolved("Pod", pod.uid, workload=rs.owner.name, replicas=replicas)


def _resolve_deployment(gw, kind: str, namespace: str, name: str, parameters: dict) -> Resolved:
    dep = gw.deployment(namespace, name)
    extra, resources = {}, None
    if kind == Kind.ROLLOUT_UNDO:
        # Undo binds to the template, not the number: Kubernetes renumbers on undo.
        extra["template_hash"] = gw.replica_set_hash(namespace, name, parameters["revision"])
    if kind == Kind.PATCH_RESOURCES:
        _fits_a_node(gw.nodes(), parameters)
        resources = dep.resources.get(parameters["container"])
        if resources is None:
            raise ValidationFailed(
                f"deployment {namespace}/{name} has no container {parameters['container']!r}; "
                f"it has {', '.join(sorted(dep.resources)) or 'none'}",
                field="parameters.container",
            )
    return Resolved(
        "Deployment",
        dep.uid,
        workload=name,
        extra=extra,
        replicas=dep.replicas,
        resources=resources,
    )


def action_rating(
    *,
    cluster: Cluster,
    kind: str,
    parameters: dict,
    target: Resolved,
    judged: tuple[str, str] | None,
    severity: str | None,
    risk: str | None,
) -> rating.Rating:
    """ZeroTouch's severity and risk for the change, raised (never lowered) to what the
    proposer asked for."""
    facts = rating.Facts(
        kind=kind,
        parameters=parameters,
        environment=cluster.environment,
        replicas=target.replicas,
        controlled=target.controlled,
        node_pods=target.node_pods,
        resources=target.resources,
    )
    return rating.raised(rating.rate(facts, judged), severity=severity, risk=risk)


def _fits_a_node(nodes: list, parameters: dict) -> None:
    """Requests within the largest node's allocatable, limits within its capacity: a pod
    asking for more could never be scheduled or never use it."""
    if not nodes:
        return  # nothing to compare with; the absolute bounds still held
    most = {
        "requests": {
            "cpu": max(n.allocatable_cpu_m for n in nodes),
            "memory": max(n.allocatable_memory for n in nodes),
        },
        "limits": {
            "cpu": max(n.capacity_cpu_m for n in nodes),
            "memory": max(n.capacity_memory for n in nodes),
        },
    }
    for part in ("requests", "limits"):
        for name, value in (parameters.get(part) or {}).items():
            amount = cpu_millis(value) if name == "cpu" else memory_bytes(value)
            cap = most[part][name]
            if cap and amount > cap:
                shown = format_cpu(cap) if name == "cpu" else format_memory(cap)
                raise ValidationFailed(
                    f"{part}.{name}: {value} is more than the largest node of this cluster "
                    f"{'can allocate' if part == 'requests' else 'has'} ({shown})",
                    field=f"parameters.{part}.{name}",
                )
