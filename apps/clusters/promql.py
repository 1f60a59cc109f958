"""A small client for the Prometheus HTTP API (query_range), and the history it gives:
container and node samples in the same rows the collector writes, so a new install can learn
from weeks of history that Prometheus already holds."""

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta

MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series in one query


class PrometheusError(Exception):
    pass


def _get(base_url: str, path: str, params: dict, query: str, timeout: float) -> dict:
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise PrometheusError(f"Prometheus URL {base_url!r} is not http(s)://")
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        # The scheme is checked just above (http or https only), as registration checks it.
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310  # nosec B310
            body = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise PrometheusError(f"Prometheus refused {query!r}: {exc.code} {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PrometheusError(f"Prometheus at {base_url} unreachable: {exc}") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"Prometheus error for {query!r}: {body.get('error')}")
    return body


def query_range(
    base_url: str, query: str, start: datetime, end: datetime, step: float, *, timeout: float = 30.0
) -> list[tuple[dict, list[tuple[datetime, float]]]]:
    params = {
        "query": query,
        "start": start.timestamp(),
        "end": end.timestamp(),
        "step": f"{step:g}",  # float seconds
    }
    body = _get(base_url, "/api/v1/query_range", params, query, timeout)
    out = []
    for series in body["data"]["result"]:
        points = []
        for ts, value in series["values"]:
            v = float(value)
            if math.isfinite(v):
                points.append((datetime.fromtimestamp(float(ts), tz=UTC), v))
        out.append((series["metric"], points))
    return out


def query_instant(base_url: str, query: str, *, timeout: float = 10.0) -> list[tuple[dict, float]]:
    """An instant query now: (labels, value) per series, a scalar as one unlabelled value;
    values that are not finite numbers are left out."""
    body = _get(base_url, "/api/v1/query", {"query": query}, query, timeout)
    data = body["data"]
    if data.get("resultType") == "scalar":
        rows = [({}, data["result"][1])]
    elif data.get("resultType") == "vector":
        rows = [(series["metric"], series["value"][1]) for series in data["result"]]
    else:
        raise PrometheusError(f"{query!r} is a {data.get('resultType')}, not an instant value")
    out = []
    for labels, value in rows:
        v = float(value)
        if math.isfinite(v):
            out.append((labels, v))
    return out


def earliest(base_url: str, start: datetime, end: datetime) -> datetime | None:
    """When Prometheus's history begins within [start, end] (to a coarse step), or None."""
    step = max(60.0, (end - start).total_seconds() / 1000)
    n = math.ceil((end - start).total_seconds() / step)
    aligned = end - timedelta(seconds=n * step)  # so the last evaluation falls on `end`
    series = query_range(base_url, "count(up)", aligned, end, step)
    times = [ts for _, points in series for ts, _ in points]
    # A point at T means a sample within Prometheus's 5-minute lookback before T.
    return min(times) - timedelta(minutes=5) if times else None


def windows(start: datetime, end: datetime, step: float):
    """Split [start, end] so no query asks for more points than Prometheus allows."""
    span = timedelta(seconds=step * MAX_POINTS)
    while start < end:
        stop = min(end, start + span)
        yield start, stop
        start = stop + timedelta(seconds=step)


CONTAINER_QUERIES = {
    "memory": 'container_memory_working_set_bytes{container!=""}',
    "cpu_m": 'rate(container_cpu_usage_seconds_total{container!=""}[%(window)s]) * 1000',
    "restarts": "kube_pod_container_status_restarts_total",
    "ready": "kube_pod_container_status_ready",
    "oom": 'kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}',
    "request_cpu": 'kube_pod_container_resource_requests{resource="cpu"} * 1000',
    "limit_cpu": 'kube_pod_container_resource_limits{resource="cpu"} * 1000',
    "request_memory": 'kube_pod_container_resource_requests{resource="memory"}',
    "limit_memory": 'kube_pod_container_resource_limits{resource="memory"}',
}
NODE_QUERIES = {
    "memory": "node_memory_working_set_bytes",
    "cpu_m": "rate(node_cpu_usage_seconds_total[%(window)s]) * 1000",
    "ready": 'kube_node_status_condition{condition="Ready",status="true"}',
    "allocatable_cpu": 'kube_node_status_allocatable{resource="cpu"} * 1000',
    "allocatable_memory": 'kube_node_status_allocatable{resource="memory"}',
}


def _collect(base_url: str, queries: dict, key_labels: tuple, start, end, step, window):
    """{(key..., ts): {field: value}} for every query."""
    rows: dict[tuple, dict] = defaultdict(dict)
    for field, q in queries.items():
        for labels, points in query_range(base_url, q % {"window": window}, start, end, step):
            key = tuple(labels.get(k, "") for k in key_labels)
            for ts, v in points:
                rows[(*key, ts)][field] = v
    return rows


def history(base_url: str, start: datetime, end: datetime, step: float) -> tuple[dict, dict]:
    """Container rows keyed (namespace, pod, container, ts) and node rows keyed (node, ts)."""
    window = f"{max(60, int(step * 4))}s"
    containers: dict = {}
    nodes: dict = {}
    info: dict[tuple[str, str], dict] = {}
    for a, b in windows(start, end, step):
        containers.update(
            _collect(
                base_url, CONTAINER_QUERIES, ("namespace", "pod", "container"), a, b, step, window
            )
        )
        nodes.update(_collect(base_url, NODE_QUERIES, ("node",), a, b, step, window))
        for labels, _ in query_range(base_url, "kube_pod_info", a, b, step):
            info[(labels.get("namespace", ""), labels.get("pod", ""))] = labels
    return {"containers": containers, "info": info}, nodes


def workload_of(pod_info: dict) -> str:
    """The workload behind a pod from kube_pod_info's labels: a ReplicaSet named
    <deployment>-<pod-template-hash> belongs to that Deployment; other owners are their own."""
    owner = pod_info.get("created_by_name", "")
    if pod_info.get("created_by_kind", "ReplicaSet") != "ReplicaSet":
        return owner
    head, _, tail = owner.rpartition("-")
    return head if head and len(tail) in (9, 10) else owner
