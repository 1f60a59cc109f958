"""Steady-state probes: read-only checks with a tolerance, each answering ok or not with the
value it saw. An experiment's probes are its hypothesis: "while the fault is in, this holds".

Kinds:
- `availability`: the workload's ready replicas as a share of the desired, at least
  `min_percent`;
- `restarts`: container restarts of the workload's pods since the run began (new pods count
  from zero), at most `max`;
- `promql`: an instant PromQL query against the cluster's Prometheus, its first value compared
  with `op` (<, <=, >, >=) to `threshold`. A query with no result fails (no data is not
  evidence of health).
- the golden signals, read from the cluster's Prometheus over `window` (default 1m) with the
  names an instrumented HTTP service exports (`http_requests_total{namespace, deployment,
  code}`, `http_request_duration_seconds_bucket{namespace, deployment, le}`; the sandbox
  exports them): `request_rate` at least `min` requests/s, `error_ratio` (5xx share) at most
  `max`, `latency_p95` at most `max_seconds`.
"""

import math
import operator
import re

from apps.clusters.gateway import errors as gw_errors
from apps.clusters.labels import format_label_selector
from apps.clusters.promql import PrometheusError, query_instant
from apps.core.errors import ValidationFailed

KINDS = ("availability", "restarts", "promql", "request_rate", "error_ratio", "latency_p95")
GOLDEN = {
    "request_rate": ("min", ">="),
    "error_ratio": ("max", "<="),
    "latency_p95": ("max_seconds", "<="),
}
_WINDOW = re.compile(r"^[1-9][0-9]{0,3}[smh]$")
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
DEFAULT = [{"kind": "availability", "min_percent": 50}]
MAX_PROBES = 10
MAX_QUERY = 2000


def clean(probes) -> list[dict]:
    """The probes checked, in order; ValidationFailed names the probe and field."""
    if probes is None:
        return [dict(p) for p in DEFAULT]
    if not isinstance(probes, list) or len(probes) > MAX_PROBES:
        raise ValidationFailed(f"probes must be a list of at most {MAX_PROBES}", field="probes")
    return [_clean_one(i, p) for i, p in enumerate(probes)]


def _clean_one(i: int, p) -> dict:
    where = f"probes[{i}]"
    if not isinstance(p, dict) or p.get("kind") not in KINDS:
        raise ValidationFailed(
            f"{where}: kind must be one of {', '.join(KINDS)}", field=f"{where}.kind"
        )
    kind = p["kind"]
    allowed = {
        "availability": {"kind", "min_percent"},
        "restarts": {"kind", "max"},
        "promql": {"kind", "query", "op", "threshold"},
        **{k: {"kind", GOLDEN[k][0], "window"} for k in GOLDEN},
    }[kind]
    unknown = sorted(set(p) - allowed)
    if unknown:
        raise ValidationFailed(
            f"{where}: a {kind} probe takes no {unknown[0]!r}", field=f"{where}.{unknown[0]}"
        )
    if kind == "availability":
        _number(p.get("min_percent"), 1, 100, f"{where}.min_percent")
    elif kind == "restarts":
        v = p.get("max")
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 1000:
            raise ValidationFailed(
                f"{where}: max must be a whole number from 0 to 1000", field=f"{where}.max"
            )
    elif kind in GOLDEN:
        bound = GOLDEN[kind][0]
        hi = 1.0 if kind == "error_ratio" else 1e9
        _number(p.get(bound), 0, hi, f"{where}.{bound}")
        window = p.setdefault("window", "1m")
        if not isinstance(window, str) or not _WINDOW.match(window):
            raise ValidationFailed(
                f"{where}: window must be a PromQL duration such as 30s, 1m or 5m",
                field=f"{where}.window",
            )
    else:
        q = p.get("query")
        if not isinstance(q, str) or not q.strip() or len(q) > MAX_QUERY or "\x00" in q:
            raise ValidationFailed(
                f"{where}: query must be a PromQL expression of at most {MAX_QUERY} characters",
                field=f"{where}.query",
            )
        if p.get("op") not in OPS:
            raise ValidationFailed(
                f"{where}: op must be one of {', '.join(OPS)}", field=f"{where}.op"
            )
        _number(p.get("threshold"), -1e15, 1e15, f"{where}.threshold")
    return dict(p)


def _number(v, lo: float, hi: float, field: str) -> None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or not lo <= v <= hi:
        raise ValidationFailed(f"{field} must be a number from {lo:g} to {hi:g}", field=field)


def label(p: dict) -> str:
    if p["kind"] == "availability":
        return f"availability >= {p['min_percent']:g}%"
    if p["kind"] == "restarts":
        return f"restarts <= {p['max']}"
    if p["kind"] in GOLDEN:
        bound, op = GOLDEN[p["kind"]]
        unit = " s" if p["kind"] == "latency_p95" else ("/s" if p["kind"] == "request_rate" else "")
        return f"{p['kind']} {op} {p[bound]:g}{unit} ({p['window']})"
    return f"{p['query']} {p['op']} {p['threshold']:g}"


def golden_query(kind: str, namespace: str, workload: str, window: str) -> str:
    sel = f'namespace="{namespace}",deployment="{workload}"'
    total = f"sum(rate(http_requests_total{{{sel}}}[{window}]))"
    if kind == "request_rate":
        return total
    if kind == "error_ratio":
        return f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[{window}])) / {total}'
    return (
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{{{sel}}}[{window}])))"
    )


def restarts_by_pod(gw, namespace: str, selector: dict) -> dict[str, int]:
    text = format_label_selector({"matchLabels": selector})
    return {p.uid: p.restarts for p in gw.pods(namespace, label_selector=text)}


def evaluate(
    gw,
    *,
    cluster,
    namespace: str,
    workload: str,
    selector: dict,
    probes: list[dict],
    baseline: dict,
) -> list[dict]:
    """Each probe's result: {"probe", "ok", "value", "detail"}. A probe that cannot be read
    fails, saying why: an unknown steady state is not a steady state."""
    out = []
    for p in probes:
        try:
            ok, value, detail = _one(gw, cluster, namespace, workload, selector, p, baseline)
        except (gw_errors.GatewayError, PrometheusError) as exc:
            ok, value, detail = False, None, f"cannot read: {getattr(exc, 'message', exc)}"
        out.append({"probe": label(p), "ok": ok, "value": value, "detail": detail})
    return out


def _one(gw, cluster, namespace, workload, selector, p, baseline) -> tuple[bool, float, str]:
    if p["kind"] == "availability":
        d = gw.deployment(namespace, workload)
        pct = 100.0 * d.ready_replicas / d.replicas if d.replicas else 100.0
        return pct >= p["min_percent"], round(pct, 1), f"{d.ready_replicas}/{d.replicas} ready"
    if p["kind"] == "restarts":
        grew = restarts_since(
            baseline.get("restarts", {}), restarts_by_pod(gw, namespace, selector)
        )
        return grew <= p["max"], float(grew), f"{grew} restarts since the run began"
    if not cluster.prometheus_url:
        return False, None, f"{cluster.name} has no Prometheus URL for a PromQL probe"
    if p["kind"] in GOLDEN:
        bound, op = GOLDEN[p["kind"]]
        query, threshold = golden_query(p["kind"], namespace, workload, p["window"]), p[bound]
    else:
        query, op, threshold = p["query"], p["op"], p["threshold"]
    result = query_instant(cluster.prometheus_url, query)
    if not result:
        return False, None, "the query returned no data"
    value = round(result[0][1], 4)
    return bool(OPS[op](value, threshold)), value, f"{value:g} (limit {op} {threshold:g})"


def restarts_since(before: dict[str, int], now: dict[str, int]) -> int:
    """Restarts since `before` (uid -> count): a pod that was there counts its increase; a new
    pod counts all of its own."""
    return sum(max(0, n - before.get(uid, 0)) for uid, n in now.items())
