"""Per-entity metric series for anomaly detection and the timeline charts. Pure (pandas).

A workload's series sums its containers (CPU, memory), takes the worst container for memory
against its limit, counts restarts since the previous sample and containers not ready. A
node's series is its own usage and state. One row per entity per sample time.
"""

import numpy as np
import pandas as pd

from .features import Frames

WORKLOAD_METRICS = ["cpu_m", "memory_mib", "memory_limit_pct", "restarts", "not_ready"]
NODE_METRICS = ["cpu_m", "memory_mib", "cpu_pct", "memory_pct", "not_ready", "pressure"]
METRIC_LABELS = {
    "cpu_m": "CPU (millicores)",
    "memory_mib": "memory (MiB)",
    "memory_limit_pct": "memory, % of limit (worst container)",
    "restarts": "container restarts",
    "not_ready": "containers not ready",
    "cpu_pct": "CPU, % of allocatable",
    "memory_pct": "memory, % of allocatable",
    "pressure": "pressure conditions",
}
MIB = 1024 * 1024


def workload_series(containers: pd.DataFrame) -> pd.DataFrame:
    """entity ("namespace/workload", or the pod for a bare pod), ts, WORKLOAD_METRICS."""
    if containers.empty:
        return pd.DataFrame(columns=["entity", "ts", *WORKLOAD_METRICS])
    c = containers
    name = c["workload"].fillna("").where(c["workload"].fillna("") != "", c["pod"])
    key = c["namespace"].astype(str) + "/" + name.astype(str)
    pod_key = c["namespace"].astype(str) + "/" + c["pod"].astype(str) + "/" + c["container"]
    restarts = c["restarts"].astype(float)
    prev = restarts.groupby(pod_key.to_numpy()).shift()
    limit = c["limit_memory"].astype(float)
    frame = pd.DataFrame(
        {
            "entity": key.to_numpy(),
            "ts": c["ts"].to_numpy(),
            "cpu_m": c["cpu_m"].astype(float).to_numpy(),
            "memory_mib": (c["memory"].astype(float) / MIB).to_numpy(),
            "memory_limit_pct": np.where(
                limit > 0, 100 * c["memory"].astype(float) / limit, np.nan
            ),
            "restarts": (restarts - prev).clip(lower=0).fillna(0).to_numpy(),
            "not_ready": (~c["ready"].astype(bool)).astype(float).to_numpy(),
        }
    )
    return (
        frame.groupby(["entity", "ts"], sort=True)
        .agg(
            cpu_m=("cpu_m", "sum"),
            memory_mib=("memory_mib", "sum"),
            memory_limit_pct=("memory_limit_pct", "max"),
            restarts=("restarts", "sum"),
            not_ready=("not_ready", "sum"),
        )
        .reset_index()
    )


def node_series(nodes: pd.DataFrame) -> pd.DataFrame:
    if nodes.empty:
        return pd.DataFrame(columns=["entity", "ts", *NODE_METRICS])
    n = nodes
    cpu_alloc = n["allocatable_cpu_m"].astype(float).replace(0, np.nan)
    mem_alloc = n["allocatable_memory"].astype(float).replace(0, np.nan)
    pressure = n[["memory_pressure", "disk_pressure", "pid_pressure"]].astype(float).sum(axis=1)
    return pd.DataFrame(
        {
            "entity": n["node"].to_numpy(),
            "ts": n["ts"].to_numpy(),
            "cpu_m": n["cpu_m"].astype(float).to_numpy(),
            "memory_mib": (n["memory"].astype(float) / MIB).to_numpy(),
            "cpu_pct": (100 * n["cpu_m"].astype(float) / cpu_alloc).to_numpy(),
            "memory_pct": (100 * n["memory"].astype(float) / mem_alloc).to_numpy(),
            "not_ready": (~n["ready"].astype(bool)).astype(float).to_numpy(),
            "pressure": pressure.to_numpy(),
        }
    ).sort_values(["entity", "ts"], kind="stable")


def all_series(frames: Frames) -> dict[str, pd.DataFrame]:
    return {"workload": workload_series(frames.containers), "node": node_series(frames.nodes)}


def metrics_for(kind: str) -> list[str]:
    return WORKLOAD_METRICS if kind == "workload" else NODE_METRICS


def split_entity(kind: str, entity: str) -> tuple[str, str]:
    """("namespace", "name") of a workload key; ("", node) for a node."""
    if kind == "workload":
        ns, _, name = entity.partition("/")
        return ns, name
    return "", entity
