"""Entities: `build_features` and the helpers callers use on its rows. Pure: no Django."""

import numpy as np
import pandas as pd

from .catalogue import (
    CAP_SINCE,
    EVENT_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    META_COLUMNS,
    MIN_HISTORY_MINUTES,
    MIN_SAMPLES,
    PAD,
    SPAN,
    Frames,
)
from .rows import (
    container_rows,
    event_counts,
    event_occurrences,
    node_entities,
    node_rows,
    with_node_state,
    workload_rows,
)
from .windows import ratio_of, seconds_of

# --- entities -------------------------------------------------------------------------------


def build_features(
    frames: Frames, *, latest_within: float | None = None, impute_missing: bool = True
) -> pd.DataFrame:
    """One row per entity per sample time (META_COLUMNS, then FEATURE_NAMES), sorted by
    entity and time. `latest_within` (live scoring): only the rows of each container's and
    node's last sample, if taken within that many seconds of the frame's last, computed from
    the same trailing windows; `latest()` of them is `latest()` of every row, for the
    entities sampled in that time."""
    c, n = frames.containers, frames.nodes
    if c.empty and n.empty:
        return pd.DataFrame(columns=META_COLUMNS + FEATURE_NAMES)
    t0 = int(min(seconds_of(x["ts"]).min() for x in (c, n) if not x.empty)) - PAD
    nodes = node_rows(n, t0) if not n.empty else pd.DataFrame(columns=["node", "t"])
    parts = []
    if not c.empty:
        rows, extra = container_rows(c, t0, latest_within)
        parts.append(workload_rows(with_node_state(rows, nodes), extra))
    if not nodes.empty:
        parts.append(node_entities(nodes, latest_within))
    ent = pd.concat(parts, ignore_index=True).sort_values(["entity", "t"], ignore_index=True)
    missing = [c for c in META_COLUMNS + FEATURE_NAMES if c not in ent and c != "ts"]
    ent = ent.assign(**dict.fromkeys(missing, np.nan))  # e.g. no containers: node rows only
    _workload_state(ent, frames.workloads, t0)
    code, uniques = pd.factorize(ent["entity"])
    query = code.astype(np.int64) * SPAN + ent["t"].to_numpy(np.int64)
    for name in EVENT_FEATURES:
        ent[name] = 0.0
    if frames.events is not None and not frames.events.empty:
        pods = extra["pods"] if not c.empty else pd.DataFrame(columns=["workload", "node"])
        occ = event_occurrences(frames.events, pods, t0)
        event_counts(ent, occ, query, dict(zip(uniques, range(len(uniques)), strict=True)))
    ent["ts"] = pd.to_datetime((ent["t"].to_numpy(np.int64) + t0) * 1000, unit="ms", utc=True)
    ent["node_hint"] = ent["node_hint"].fillna("")
    ent["containers"] = ent["containers"].fillna(0).astype(int)
    known = ["mem_limit_known", "cpu_limit_known"]
    ent[known] = ent[known].fillna(0.0)
    out = ent[META_COLUMNS + FEATURE_NAMES].replace([np.inf, -np.inf], np.nan)
    return impute(out) if impute_missing else out


def _workload_state(ent: pd.DataFrame, workloads: pd.DataFrame | None, t0: int) -> None:
    """Ready replicas / desired and minutes since the last rollout, from the workload series."""
    ent["replicas_ready_share"] = np.nan
    ent["minutes_since_rollout"] = np.nan
    if workloads is not None and not workloads.empty:
        since = pd.Timestamp((int(ent["t"].min()) + t0 - 120) * 10**9, tz="UTC")
        workloads = workloads[pd.to_datetime(workloads["ts"], utc=True) >= since]
        rollout = workloads["last_rollout_at"]
        w = pd.DataFrame(
            {
                "entity": workloads["namespace"].astype(str) + "/" + workloads["name"].astype(str),
                "t": seconds_of(workloads["ts"]) - t0,
                "share": ratio_of(workloads["ready_replicas"], workloads["replicas"]),
                "rollout": seconds_of(rollout.fillna(pd.Timestamp(0, tz="UTC"))).astype(float),
            }
        )
        w.loc[rollout.isna().to_numpy(), "rollout"] = np.nan
        w.loc[workloads["replicas"].fillna(0).to_numpy() == 0, "share"] = 1.0
        left = ent[["entity", "t"]].reset_index().sort_values("t", kind="stable")
        m = (
            pd.merge_asof(
                left,
                w.sort_values("t", kind="stable"),
                on="t",
                by="entity",
                direction="backward",
                tolerance=120,
            )
            .set_index("index")
            .sort_index()
        )
        ent["replicas_ready_share"] = m["share"].to_numpy()
        since = (ent["t"].to_numpy() + t0 - m["rollout"].to_numpy()) / 60.0
        ent["minutes_since_rollout"] = np.clip(since, 0, CAP_SINCE)
    ent["replicas_ready_share"] = ent["replicas_ready_share"].fillna(ent["ready_share"])


def pod_index(containers: pd.DataFrame) -> pd.DataFrame:
    """ "namespace/pod" -> workload entity and last node, from a containers frame."""
    c = containers.sort_values("ts", kind="stable").drop_duplicates(
        ["namespace", "pod"], keep="last"
    )
    name = c["workload"].fillna("").where(c["workload"].fillna("") != "", c["pod"])
    idx = (c["namespace"].astype(str) + "/" + c["pod"].astype(str)).to_numpy()
    workload = (c["namespace"].astype(str) + "/" + name.astype(str)).to_numpy()
    return pd.DataFrame({"workload": workload, "node": c["node"].fillna("").to_numpy()}, index=idx)


def impute(features: pd.DataFrame) -> pd.DataFrame:
    """Fill missing feature values with each feature's documented default."""
    return features.fillna({f.name: f.default for f in FEATURES if f.name in features})


def enough_history(features: pd.DataFrame) -> np.ndarray:
    """Rows with at least MIN_HISTORY_MINUTES of history and MIN_SAMPLES in 10 minutes."""
    history = features["history_minutes"].to_numpy(np.float64) >= MIN_HISTORY_MINUTES
    return history & (features["samples"].to_numpy(np.float64) >= MIN_SAMPLES)


def latest(features: pd.DataFrame) -> pd.DataFrame:
    """Each entity's most recent row (what a live score needs)."""
    return features.sort_values("ts", kind="stable").drop_duplicates("entity", keep="last")
