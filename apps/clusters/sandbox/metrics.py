"""Usage as metrics-server and Prometheus exporters report it: the metrics.k8s.io API objects
and a /metrics page with kube-state-metrics and cAdvisor names."""

from ..quantity import cpu_millis, format_cpu_nanos, format_memory_ki, memory_bytes
from . import kubelet

WINDOW = "30s"


def _running(sb, pod: dict):
    rt = sb.runtime.get(pod["metadata"]["uid"])
    if rt is None or not rt.node or not sb.node_ready.get(rt.node, False):
        return None, []
    return rt, [c for c in rt.containers.values() if c.state == "running" and c.started_at]


def _spread(sb) -> dict[str, float]:
    """A workload's traffic is shared by the replicas it asks for: its scenario's replica
    count over the Deployment's replicas now (scaled up, each pod gets less; a rollout's
    surge or a pod lost to a dead node does not change the share). Once per instant."""
    cached = getattr(sb, "_spread_cache", None)
    if cached is not None and cached[0] == sb.now:
        return cached[1]
    planned = {f"{w.namespace}/{w.name}": w.replicas for w in sb.scenario.workloads}
    out = {}
    for dep in sb.store.list("apps/deployments"):
        key = f"{dep['metadata']['namespace']}/{dep['metadata']['name']}"
        want = int(dep.get("spec", {}).get("replicas", 1) or 0)
        if planned.get(key) and want and want != planned[key]:
            out[key] = planned[key] / want
    sb._spread_cache = (sb.now, out)
    return out


def container_usage(sb, pod: dict) -> list[tuple[str, float, float]]:
    """[(container, cpu millicores, memory bytes)] for running containers, now."""
    rt, running = _running(sb, pod)
    if rt is None:
        return []
    profile = sb.profile_for(rt)
    spread = _spread(sb).get(rt.workload, 1.0)
    limits = {
        c["name"]: c.get("resources", {}).get("limits", {}) for c in pod["spec"]["containers"]
    }
    out = []
    for c in running:
        cpu = (
            kubelet.cpu_demand_m(
                profile, f"{rt.uid}/{c.name}", sb.now, sb.cpu_extra.get(rt.uid, 0.0)
            )
            * spread
        )
        limit = limits.get(c.name, {}).get("cpu")
        if limit is not None:
            cpu = min(cpu, cpu_millis(limit))  # throttled at the limit
        mem = kubelet.memory_bytes_at(
            profile, f"{rt.uid}/{c.name}", c.started_at, sb.now, sb.mem_extra.get(rt.uid, 0.0)
        )
        mem_limit = limits.get(c.name, {}).get("memory")
        if mem_limit is not None:
            mem = min(mem, memory_bytes(mem_limit) * 0.999)
        out.append((c.name, cpu, mem))
    return out


def pod_cpu_m(sb, pod: dict) -> float:
    return sum(cpu for _, cpu, _ in container_usage(sb, pod))


def pod_metrics(sb, pod: dict) -> dict | None:
    usage = container_usage(sb, pod)
    if not usage:
        return None
    meta = pod["metadata"]
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": meta.get("labels", {}),
            "creationTimestamp": sb.iso(),
        },
        "timestamp": sb.iso(),
        "window": WINDOW,
        "containers": [
            {
                "name": n,
                "usage": {
                    "cpu": format_cpu_nanos(int(cpu * 1e6)),
                    "memory": format_memory_ki(int(mem)),
                },
            }
            for n, cpu, mem in usage
        ],
    }


def node_usage(sb) -> dict[str, tuple[float, float]]:
    totals = {n["metadata"]["name"]: [150.0, 600 * 2**20] for n in sb.store.list("nodes")}
    for pod in sb.store.list("pods"):
        node = pod["spec"].get("nodeName")
        if node in totals:
            for _, cpu, mem in container_usage(sb, pod):
                totals[node][0] += cpu
                totals[node][1] += mem
    return {k: (v[0], v[1]) for k, v in totals.items()}


def node_metrics(sb) -> list[dict]:
    out = []
    for name, (cpu, mem) in node_usage(sb).items():
        if not sb.node_ready.get(name, False):
            continue  # metrics-server cannot scrape a node that is not ready
        node = sb.store.get("nodes", "", name)
        out.append(
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {
                    "name": name,
                    "labels": node["metadata"].get("labels", {}),
                    "creationTimestamp": sb.iso(),
                },
                "timestamp": sb.iso(),
                "window": WINDOW,
                "usage": {
                    "cpu": format_cpu_nanos(int(cpu * 1e6)),
                    "memory": format_memory_ki(int(mem)),
                },
            }
        )
    return out
