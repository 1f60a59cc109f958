"""Per-container and per-node rows, their aggregation into entities, and event counts.
Pure: no Django."""

import numpy as np
import pandas as pd

from .catalogue import (
    ANY_TYPE,
    CAP_SINCE,
    EVENT_BUCKETS,
    EVENT_FEATURES,
    LONG_S,
    SHORT_S,
    SPAN,
    WAITING_OK,
)
from .windows import codes_of, last_true, ratio_of, seconds_of, to_limit, trends, window_sums

# --- containers -----------------------------------------------------------------------------


def container_rows(c: pd.DataFrame, t0: int, latest: float | None) -> tuple[pd.DataFrame, dict]:
    """Per-container trailing features at the query rows (every row, or with `latest` each
    container's last sample if taken within `latest` seconds of the frame's last), plus
    per-(entity, time) sums over all rows for the entity-level history. Strings are touched
    once (factorised) or only at the query rows: they are slow in pandas."""
    ns, wl, pod = (pd.factorize(c[col])[0] for col in ("namespace", "workload", "pod"))
    bare = c["workload"].isna().to_numpy() | (c["workload"].to_numpy() == "")
    ecode = codes_of(ns, np.where(bare, wl.max(initial=0) + 1 + pod, wl))
    cid = codes_of(ns, pod, c["container"])
    t = seconds_of(c["ts"]) - t0
    order = np.lexsort((t, cid))
    t, cid, ecode = t[order], cid[order], ecode[order]
    col = {k: c[k].to_numpy(np.float64)[order] for k in NUMERIC_COLUMNS}
    key = cid.astype(np.int64) * SPAN + t
    if latest is None:
        q, since = np.arange(len(t)), None
    else:
        last = np.r_[cid[1:] != cid[:-1], True]  # sorted by container, then time
        q = np.flatnonzero(last & (t >= t.max() - latest))
        since = int(t[q].min())
    at = order[q]  # the query rows in the frame's own order, for the string columns
    mem = ratio_of(col["memory"], col["limit_memory"])
    cpu = ratio_of(col["cpu_m"], col["limit_cpu_m"])
    tmin = t / 60.0
    ys = np.column_stack([mem, col["memory"], cpu])
    slope_s, mean_s, _ = trends(key, ys, tmin, key[q], SHORT_S, since)
    ys = np.column_stack([mem, cpu])
    slope_l, _, std_l = trends(key, ys, tmin, key[q], LONG_S, since)
    first = np.r_[True, cid[1:] != cid[:-1]]
    inc = np.where(first, 0.0, np.clip(np.diff(col["restarts"], prepend=0), 0, None))
    oom = np.zeros(len(t))
    hit = np.flatnonzero(inc > 0)
    reason = c["last_terminated_reason"].to_numpy()[order[hit]] == "OOMKilled"
    oom[hit] = np.where(reason | c["oom_killed"].to_numpy(bool)[order[hit]], inc[hit], 0.0)
    sums, _ = window_sums(key, np.column_stack([inc, oom]), key[q], LONG_S)
    # A container's start is known from a restart, or when it appeared after its entity's
    # first sample (a new pod); one there from the start of the frame has an unknown age.
    entity_first = pd.Series(t).groupby(ecode).transform("min").to_numpy()
    born = np.maximum(last_true(key, inc > 0), last_true(key, first & (t > entity_first)))
    born = np.where(born >= 0, born, key - int(CAP_SINCE * 60))
    node = c["node"].fillna("").to_numpy()[at].astype(str)
    ready = c["ready"].to_numpy(float)[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = np.where(mean_s[:, 1] > 0, 100 * slope_s[:, 1] / mean_s[:, 1], np.nan)
    rows = pd.DataFrame(
        {
            "ecode": ecode[q],
            "t": t[q],
            "node": node,
            "mem_limit_ratio": mem[q],
            "mem_slope": slope_s[:, 0],
            "mem_slope_10m": slope_l[:, 0],
            "mem_volatility": std_l[:, 0],
            "mem_growth": growth,
            "mem_minutes_to_limit": to_limit(mem[q], slope_s[:, 0]),
            "mem_request_ratio": ratio_of(col["memory"][q], col["request_memory"][q]),
            "mem_limit_known": (np.nan_to_num(col["limit_memory"][q]) > 0).astype(float),
            "cpu_limit_ratio": mean_s[:, 2],
            "cpu_slope": slope_l[:, 1],
            "cpu_volatility": std_l[:, 1],
            "cpu_minutes_to_limit": to_limit(mean_s[:, 2], slope_l[:, 1]),
            "cpu_request_ratio": ratio_of(col["cpu_m"][q], col["request_cpu_m"][q]),
            "cpu_limit_known": (np.nan_to_num(col["limit_cpu_m"][q]) > 0).astype(float),
            "restarts_10m": sums[:, 0],
            "oom_kills_10m": sums[:, 1],
            "youngest_container_minutes": np.minimum((key[q] - born[q]) / 60.0, CAP_SINCE),
            "ready": ready[q],
            "waiting": (~c["waiting_reason"].iloc[at].fillna("").isin(WAITING_OK)).to_numpy(float),
            "unscheduled": (node == "").astype(float),
        }
    )
    history = {"ecode": ecode, "t": t, "ready": ready, "inc": inc}
    entities = _entity_names(c, ecode, order)
    pods = pod_index_of(c, codes_of(ns, pod)[order], ecode, entities, order)
    return rows, {"history": history, "entities": entities, "pods": pods}


NUMERIC_COLUMNS = [
    "cpu_m",
    "memory",
    "request_cpu_m",
    "limit_cpu_m",
    "request_memory",
    "limit_memory",
    "restarts",
]


def _entity_names(c: pd.DataFrame, ecode: np.ndarray, order: np.ndarray) -> np.ndarray:
    """ "namespace/workload" (or "namespace/pod" for a bare pod) for each entity code."""
    _, first = np.unique(ecode, return_index=True)
    rows = c.iloc[order[first]]
    name = rows["workload"].fillna("").where(rows["workload"].fillna("") != "", rows["pod"])
    return (rows["namespace"].astype(str) + "/" + name.astype(str)).to_numpy(dtype=object)


def pod_index_of(c, pcode, ecode, entities, order) -> pd.DataFrame:
    """ "namespace/pod" -> its workload entity and last node, for attributing events (rows
    sorted by container, then time: a pod's last row is a latest sample of it)."""
    _, from_end = np.unique(pcode[::-1], return_index=True)
    keep = len(pcode) - 1 - from_end
    rows = c.iloc[order[keep]]
    idx = (rows["namespace"].astype(str) + "/" + rows["pod"].astype(str)).to_numpy()
    frame = pd.DataFrame(
        {"workload": entities[ecode[keep]], "node": rows["node"].fillna("").to_numpy()}, index=idx
    )
    return frame[~frame.index.duplicated(keep="last")]


# --- nodes ----------------------------------------------------------------------------------


def node_rows(n: pd.DataFrame, t0: int) -> pd.DataFrame:
    t = seconds_of(n["ts"]) - t0
    nid = codes_of(n["node"])
    order = np.lexsort((t, nid))
    n, t, nid = n.iloc[order].reset_index(drop=True), t[order], nid[order]
    key = nid.astype(np.int64) * SPAN + t
    mem = ratio_of(n["memory"], n["allocatable_memory"])
    slope, _, _ = trends(key, mem[:, None], t / 60.0, key, LONG_S)
    pressure = n[["memory_pressure", "disk_pressure", "pid_pressure"]].astype(bool).any(axis=1)
    return pd.DataFrame(
        {
            "node": n["node"].astype(str).to_numpy(),
            "t": t,
            "node_not_ready_share": (~n["ready"].astype(bool)).to_numpy(float),
            "node_pressure_share": pressure.to_numpy(float),
            "node_unschedulable_share": n["unschedulable"].astype(bool).to_numpy(float),
            "node_metrics_missing": n["memory"].isna().to_numpy(float),
            "node_mem_ratio": mem,
            "node_mem_slope": slope[:, 0],
        }
    )


NODE_STATE = [
    "node_not_ready_share",
    "node_pressure_share",
    "node_unschedulable_share",
    "node_metrics_missing",
]
CONTAINER_AGG = {
    **dict.fromkeys(
        [
            "mem_limit_ratio",
            "mem_slope",
            "mem_slope_10m",
            "mem_volatility",
            "mem_growth",
            "mem_request_ratio",
            "cpu_limit_ratio",
            "cpu_slope",
            "cpu_volatility",
            "cpu_request_ratio",
        ],
        "max",
    ),
    **dict.fromkeys(
        ["mem_minutes_to_limit", "cpu_minutes_to_limit", "youngest_container_minutes"], "min"
    ),
    **dict.fromkeys(
        ["mem_limit_known", "cpu_limit_known", "ready", "waiting", "unscheduled", *NODE_STATE],
        "mean",
    ),
    **dict.fromkeys(["restarts_10m", "oom_kills_10m"], "sum"),
}


def with_node_state(rows: pd.DataFrame, nodes: pd.DataFrame) -> pd.DataFrame:
    """Each container row gets its node's state at the same collection (NaN: no node)."""
    if nodes.empty:
        return rows.assign(**dict.fromkeys(NODE_STATE, np.nan))
    state = nodes[["node", "t", *NODE_STATE]]
    return rows.merge(state, on=["node", "t"], how="left")


def workload_rows(rows: pd.DataFrame, extra: dict) -> pd.DataFrame:
    g = rows.groupby(["ecode", "t"], sort=True)
    agg = g.agg(**{k: (k, v) for k, v in CONTAINER_AGG.items()}, containers=("ready", "size"))
    agg = agg.rename(
        columns={
            "ready": "ready_share",
            "waiting": "waiting_share",
            "unscheduled": "unscheduled_share",
        }
    ).reset_index()
    bad = rows[(rows["node_not_ready_share"] > 0) | (rows["node_pressure_share"] > 0)]
    hint = bad.groupby(["ecode", "t"])["node"].first().rename("node_hint")
    agg = agg.merge(hint, on=["ecode", "t"], how="left")
    _entity_history(agg, extra["history"])
    agg["entity"] = extra["entities"][agg["ecode"].to_numpy()]
    return agg.drop(columns="ecode").assign(entity_kind="workload", is_node=0.0)


def _entity_history(agg: pd.DataFrame, h: dict) -> None:
    """From every (entity, collection) pair: samples in 10 min, history, the mean ready share
    over 10 min and the minutes since the last restart, at the aggregated rows."""
    pair = h["ecode"].astype(np.int64) * SPAN + h["t"]
    keys, inv = np.unique(pair, return_inverse=True)
    count = np.bincount(inv).astype(float)
    share = np.bincount(inv, weights=h["ready"]) / count
    restarted = np.bincount(inv, weights=h["inc"]) > 0
    query = agg["ecode"].to_numpy(np.int64) * SPAN + agg["t"].to_numpy(np.int64)
    sums, n = window_sums(keys, share[:, None], query, LONG_S)
    agg["samples"] = n[:, 0].astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["ready_share_10m"] = sums[:, 0] / n[:, 0]
    firsts = keys[np.r_[True, keys[1:] // SPAN != keys[:-1] // SPAN]]
    start = firsts[np.searchsorted(firsts // SPAN, query // SPAN)]
    agg["history_minutes"] = (query - start) / 60.0
    last = last_true(keys, restarted)[np.searchsorted(keys, query)]
    since = np.where(last >= 0, (query - last) / 60.0, CAP_SINCE)
    agg["minutes_since_restart"] = np.minimum(since, CAP_SINCE)


def node_entities(nodes: pd.DataFrame, latest: float | None) -> pd.DataFrame:
    """Node rows (sorted by node, then time, by _node_rows) with their own history; with
    `latest`, each node's last row if taken within `latest` seconds of the frame's last."""
    t = nodes["t"].to_numpy(np.int64)
    key = codes_of(nodes["node"]).astype(np.int64) * SPAN + t
    _, n = window_sums(key, np.ones((len(key), 1)), key, LONG_S)
    first = nodes.groupby("node")["t"].transform("min").to_numpy()
    out = nodes.rename(columns={"node": "entity"})
    out = out.assign(samples=n[:, 0].astype(int), history_minutes=(t - first) / 60.0)
    if latest is not None:
        name = nodes["node"].to_numpy()
        last = np.r_[name[1:] != name[:-1], True]
        out = out[last & (t >= t.max() - latest)]
    out = out.reset_index(drop=True)
    out["node_hint"] = out["entity"]
    # A node's own state only: its pods' troubles belong to their workloads (and, mixed in,
    # they teach the model which node happened to host a crashing pod).
    out["ready_share"], out["ready_share_10m"], out["containers"] = 1.0, 1.0, 0
    out["minutes_since_restart"] = CAP_SINCE
    return out.assign(entity_kind="node", is_node=1.0)


# --- events ---------------------------------------------------------------------------------


def event_occurrences(events: pd.DataFrame, pods: pd.DataFrame, t0: int) -> pd.DataFrame:
    """(entity, t, bucket, n): each stored event counts once at first_seen and its further
    occurrences (count - 1) at last_seen, since the table keeps only an event's latest state."""
    e = events.copy()
    e["bucket"] = e["reason"].map(EVENT_BUCKETS).fillna("ev_other_warning_10m")
    e = e[(e["type"].eq("Warning") | e["bucket"].isin(ANY_TYPE)) & e["last_seen"].notna()]
    obj_ns = e["object_namespace"].fillna("")
    ns = obj_ns.where(obj_ns != "", e["namespace"].fillna(""))
    name, kind = e["object_name"].fillna(""), e["object_kind"].fillna("")
    in_pod = e["message"].fillna("").str.extract(r"in pod ([\w.-]+)/([\w.-]+)")
    pod_key = ns.where(kind == "Pod", in_pod[0]) + "/" + name.where(kind == "Pod", in_pod[1])
    replica_set = name.str.replace(r"-[a-z0-9]+$", "", regex=True)
    targets = [
        pod_key.map(pods["workload"]),
        pod_key.map(pods["node"]).where(kind != "Node", name),
        (ns + "/" + name).where(kind == "Deployment"),
        (ns + "/" + replica_set).where(kind == "ReplicaSet"),
    ]
    first = seconds_of(e["first_seen"].fillna(e["last_seen"])) - t0
    last = seconds_of(e["last_seen"]) - t0
    more = (e["count"].fillna(1) - 1).clip(lower=0).to_numpy(np.float64)
    parts = [
        pd.DataFrame(
            {"entity": target.to_numpy(), "t": t, "n": n, "bucket": e["bucket"].to_numpy()}
        )
        for target in targets
        for t, n in ((first, 1.0), (last, more))
    ]
    occ = pd.concat(parts, ignore_index=True)
    occ = occ[occ["entity"].notna() & (occ["entity"] != "") & (occ["n"] > 0)]
    return occ.assign(t=occ["t"].clip(lower=1))  # older than a day: outside every window


def event_counts(ent: pd.DataFrame, occ: pd.DataFrame, query: np.ndarray, codes: dict) -> None:
    occ = occ.assign(code=occ["entity"].map(codes)).dropna(subset=["code"])
    okey = occ["code"].to_numpy(np.int64) * SPAN + occ["t"].to_numpy(np.int64)
    order = np.argsort(okey, kind="stable")
    vals = np.zeros((len(occ), len(EVENT_FEATURES)))
    bucket = occ["bucket"].to_numpy()
    for i, b in enumerate(EVENT_FEATURES):
        vals[:, i] = np.where(bucket == b, occ["n"].to_numpy(np.float64), 0.0)
    sums, _ = window_sums(okey[order], vals[order], query, LONG_S)
    for i, b in enumerate(EVENT_FEATURES):
        ent[b] = sums[:, i]
