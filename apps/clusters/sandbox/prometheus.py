"""/metrics in the Prometheus text format, with the names kube-state-metrics and cAdvisor use,
so a real Prometheus can scrape the sandbox and ZeroTouch can read history back from it."""

from ..quantity import cpu_millis, memory_bytes
from . import metrics, traffic

HELP = {
    "kube_pod_status_phase": "gauge",
    "kube_pod_status_ready": "gauge",
    "kube_pod_container_status_restarts_total": "counter",
    "kube_pod_container_status_ready": "gauge",
    "kube_pod_container_status_waiting_reason": "gauge",
    "kube_pod_container_status_last_terminated_reason": "gauge",
    "kube_pod_container_resource_requests": "gauge",
    "kube_pod_container_resource_limits": "gauge",
    "kube_pod_info": "gauge",
    "kube_deployment_spec_replicas": "gauge",
    "kube_deployment_status_replicas_available": "gauge",
    "kube_node_status_condition": "gauge",
    "kube_node_status_allocatable": "gauge",
    "kube_node_spec_unschedulable": "gauge",
    "container_cpu_usage_seconds_total": "counter",
    "container_memory_working_set_bytes": "gauge",
    "container_oom_events_total": "counter",
    "sandbox_request_latency_seconds": "gauge",
    # The golden signals (traffic.py), named as an instrumented HTTP service names them.
    "http_requests_total": "counter",
    "http_request_duration_seconds": "histogram",
    "node_cpu_usage_seconds_total": "counter",
    "node_memory_working_set_bytes": "gauge",
}


def _labels(**kv) -> str:
    inner = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in kv.items()
    )
    return "{" + inner + "}"


def exposition(sb) -> str:
    with sb.lock:
        lines = {name: [] for name in HELP}
        _pods(sb, lines)
        _deployments(sb, lines)
        _nodes(sb, lines)
    out = []
    for name, kind in HELP.items():
        out.append(f"# TYPE {name} {kind}")
        # No timestamps: Prometheus stamps each scrape itself, as with a real exporter.
        out.extend(f"{name}{labels} {value}" for labels, value in lines[name])
    return "\n".join(out) + "\n"


def _pods(sb, lines: dict) -> None:
    for pod in sb.store.list("pods"):
        meta, status = pod["metadata"], pod["status"]
        ns, name = meta["namespace"], meta["name"]
        owner = next(iter(meta.get("ownerReferences", [])), {})
        lines["kube_pod_info"].append(
            (
                _labels(
                    namespace=ns,
                    pod=name,
                    node=pod["spec"].get("nodeName", ""),
                    created_by_kind=owner.get("kind", ""),
                    created_by_name=owner.get("name", ""),
                    uid=meta["uid"],
                ),
                1,
            )
        )
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            lines["kube_pod_status_phase"].append(
                (_labels(namespace=ns, pod=name, phase=phase), int(status.get("phase") == phase))
            )
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
        )
        lines["kube_pod_status_ready"].append(
            (_labels(namespace=ns, pod=name, condition="true"), int(ready))
        )
        for c in pod["spec"]["containers"]:
            res = c.get("resources", {})
            for kind, key in (
                ("requests", "kube_pod_container_resource_requests"),
                ("limits", "kube_pod_container_resource_limits"),
            ):
                for rname, value in (res.get(kind) or {}).items():
                    unit, amount = (
                        ("core", cpu_millis(value) / 1000)
                        if rname == "cpu"
                        else ("byte", memory_bytes(value))
                    )
                    lines[key].append(
                        (
                            _labels(
                                namespace=ns,
                                pod=name,
                                container=c["name"],
                                resource=rname,
                                unit=unit,
                            ),
                            amount,
                        )
                    )
        rt = sb.runtime.get(meta["uid"])
        for cs in status.get("containerStatuses", []):
            base = {"namespace": ns, "pod": name, "container": cs["name"]}
            lines["kube_pod_container_status_restarts_total"].append(
                (_labels(**base), cs["restartCount"])
            )
            lines["kube_pod_container_status_ready"].append((_labels(**base), int(cs["ready"])))
            waiting = cs.get("state", {}).get("waiting")
            if waiting:
                lines["kube_pod_container_status_waiting_reason"].append(
                    (_labels(**base, reason=waiting["reason"]), 1)
                )
            term = cs.get("lastState", {}).get("terminated")
            if term:
                lines["kube_pod_container_status_last_terminated_reason"].append(
                    (_labels(**base, reason=term["reason"]), 1)
                )
            if rt is not None and cs["name"] in rt.containers:
                ooms = int(term is not None and term["reason"] == "OOMKilled")
                lines["container_oom_events_total"].append((_labels(**base), ooms))
        for cname, cpu, mem in metrics.container_usage(sb, pod):
            base = {"namespace": ns, "pod": name, "container": cname}
            started = rt.containers[cname].started_at if rt else sb.now
            seconds = cpu / 1000 * max(1.0, (sb.now - started).total_seconds())
            lines["container_cpu_usage_seconds_total"].append((_labels(**base), round(seconds, 3)))
            lines["container_memory_working_set_bytes"].append((_labels(**base), int(mem)))


def _deployments(sb, lines: dict) -> None:
    for dep in sb.store.list("apps/deployments"):
        meta = dep["metadata"]
        lbl = _labels(namespace=meta["namespace"], deployment=meta["name"])
        lines["kube_deployment_spec_replicas"].append((lbl, dep["spec"].get("replicas", 1)))
        lines["kube_deployment_status_replicas_available"].append(
            (lbl, dep.get("status", {}).get("availableReplicas", 0))
        )
        workload = f"{meta['namespace']}/{meta['name']}"
        lines["sandbox_request_latency_seconds"].append(
            (lbl, round(latency_seconds(sb, workload), 4))
        )
        _golden(sb, dep, lines, meta["namespace"], meta["name"])


def _golden(sb, dep: dict, lines: dict, namespace: str, name: str) -> None:
    workload = f"{namespace}/{name}"
    totals = traffic.advance(sb.traffic.get(workload), traffic.signals(sb, dep), sb.now)
    sb.traffic[workload] = totals
    for code, n in (("200", totals.ok), ("503", totals.errors)):
        lbl = _labels(namespace=namespace, deployment=name, code=code)
        lines["http_requests_total"].append((lbl, round(n, 3)))
    h = lines["http_request_duration_seconds"]
    for le, n in zip(traffic.BUCKETS, totals.buckets, strict=True):
        h.append(
            ("_bucket" + _labels(namespace=namespace, deployment=name, le=f"{le:g}"), round(n, 3))
        )
    lbl = _labels(namespace=namespace, deployment=name)
    h.append(
        (
            "_bucket" + _labels(namespace=namespace, deployment=name, le="+Inf"),
            round(totals.count, 3),
        )
    )
    h.append(("_sum" + lbl, round(totals.seconds, 3)))
    h.append(("_count" + lbl, round(totals.count, 3)))


def latency_seconds(sb, workload: str) -> float:
    """A request latency that rises as a workload's CPU demand nears its limit (throttling)
    and when chaos adds network delay. Ground truth for "saturation with rising latency"."""
    profile = sb.profiles.get(workload)
    base = 0.05 + sb.latency_extra.get(workload, 0.0)
    if profile is None:
        return base
    factor = profile.factor(sb.now)
    return base * (1 + max(0.0, factor - 1.0) ** 2 * 4)


def _nodes(sb, lines: dict) -> None:
    usage = metrics.node_usage(sb)
    for node in sb.store.list("nodes"):
        name = node["metadata"]["name"]
        for cond in node["status"].get("conditions", []):
            for value in ("true", "false", "unknown"):
                lines["kube_node_status_condition"].append(
                    (
                        _labels(node=name, condition=cond["type"], status=value),
                        int(cond["status"].lower() == value),
                    )
                )
        cpu_m, mem = usage.get(name, (0.0, 0))
        if sb.node_ready.get(name, False):  # a node that does not report has no usage
            seconds = cpu_m / 1000 * (sb.now - sb.started).total_seconds()
            lines["node_cpu_usage_seconds_total"].append((_labels(node=name), round(seconds, 3)))
            lines["node_memory_working_set_bytes"].append((_labels(node=name), int(mem)))
        alloc = node["status"]["allocatable"]
        lines["kube_node_status_allocatable"].append(
            (_labels(node=name, resource="cpu", unit="core"), cpu_millis(alloc["cpu"]) / 1000)
        )
        lines["kube_node_status_allocatable"].append(
            (_labels(node=name, resource="memory", unit="byte"), memory_bytes(alloc["memory"]))
        )
        lines["kube_node_spec_unschedulable"].append(
            (_labels(node=name), int(bool(node["spec"].get("unschedulable"))))
        )
