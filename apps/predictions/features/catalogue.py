"""The feature catalogue: input columns, window lengths and caps, the FEATURES list, and the
`Frames` the collector's samples come in. Pure: no Django."""

from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

CONTAINER_COLUMNS = [
    "ts",
    "namespace",
    "workload",
    "pod",
    "container",
    "node",
    "cpu_m",
    "memory",
    "request_cpu_m",
    "limit_cpu_m",
    "request_memory",
    "limit_memory",
    "restarts",
    "ready",
    "state",
    "waiting_reason",
    "last_terminated_reason",
    "oom_killed",
]
NODE_COLUMNS = [
    "ts",
    "node",
    "cpu_m",
    "memory",
    "allocatable_cpu_m",
    "allocatable_memory",
    "ready",
    "memory_pressure",
    "disk_pressure",
    "pid_pressure",
    "unschedulable",
]
EVENT_COLUMNS = [
    "uid",
    "namespace",
    "type",
    "reason",
    "message",
    "count",
    "object_kind",
    "object_name",
    "object_namespace",
    "first_seen",
    "last_seen",
]
WORKLOAD_COLUMNS = [
    "ts",
    "namespace",
    "name",
    "replicas",
    "ready_replicas",
    "available_replicas",
    "updated_replicas",
    "revision",
    "last_rollout_at",
]

SHORT_S, LONG_S = 180, 600  # trailing windows: 3 and 10 minutes
MIN_HISTORY_MINUTES = 5.0  # an entity needs this much history before it gets a score
MIN_SAMPLES = 5  # ... and this many samples in the last 10 minutes
CAP_MINUTES = 240.0  # "minutes to limit" when not approaching it (or no limit)
CAP_SINCE = 60.0  # "minutes since" a restart or rollout: older, or never, counts as 60
FRESH_S = 180  # live scoring: an entity not sampled in the last 3 minutes is gone
PAD = 86_400  # keeps every entity's window lookups inside its own key range
SPAN = 1 << 40  # keys: entity * _SPAN + seconds (int64)
WAITING_OK = ("", "ContainerCreating", "PodInitializing")
# Context, not model inputs: who and when, how much history, and what explanations need
# (how many containers, which share of them has limits, which node is in trouble).
META_COLUMNS = [
    "entity",
    "entity_kind",
    "ts",
    "samples",
    "history_minutes",
    "node_hint",
    "containers",
    "mem_limit_known",
    "cpu_limit_known",
]


class Feature(NamedTuple):
    name: str
    description: str
    unit: str
    default: float  # imputed when missing


_CAP, _SINCE = CAP_MINUTES, CAP_SINCE
# The one list of features: names, words for explanations, units, and imputed defaults.
# "minutes to limit" is CAP_MINUTES when not approaching the limit or when there is none;
# "minutes since" is CAP_SINCE when longer ago, never, or unknown: a container counts as started
# when it restarts or appears after its entity's first sample (one there from the start of the
# frame has an unknown age), so a short frame does not make every container look new.
FEATURES: list[Feature] = [
    Feature("mem_limit_ratio", "memory used / memory limit, worst container", "ratio", 0.0),
    Feature("mem_slope", "change of memory/limit per minute over 3 min", "ratio/min", 0.0),
    Feature("mem_slope_10m", "change of memory/limit per minute over 10 min", "ratio/min", 0.0),
    Feature("mem_volatility", "std of memory/limit over 10 min", "ratio", 0.0),
    Feature("mem_minutes_to_limit", "minutes to memory limit, 3-min trend", "min", _CAP),
    Feature("mem_growth", "memory growth over 3 min relative to its level", "%/min", 0.0),
    Feature("mem_request_ratio", "memory used / memory request, worst container", "ratio", 0.0),
    Feature("cpu_limit_ratio", "CPU used / CPU limit, 3-min mean, worst container", "ratio", 0.0),
    Feature("cpu_slope", "change of CPU/limit per minute over 10 min", "ratio/min", 0.0),
    Feature("cpu_volatility", "std of CPU/limit over 10 min", "ratio", 0.0),
    Feature("cpu_minutes_to_limit", "minutes to CPU limit, 10-min trend", "min", _CAP),
    Feature("cpu_request_ratio", "CPU used / CPU request, worst container", "ratio", 0.0),
    Feature("restarts_10m", "container restarts in the last 10 min", "restarts", 0.0),
    Feature("oom_kills_10m", "restarts after an OOM kill in the last 10 min", "restarts", 0.0),
    Feature("minutes_since_restart", "minutes since a container last restarted", "min", CAP_SINCE),
    Feature("minutes_since_rollout", "minutes since the last rollout", "min", CAP_SINCE),
    Feature("youngest_container_minutes", "minutes since a container (re)started", "min", _SINCE),
    Feature("ready_share", "share of containers ready", "share", 1.0),
    Feature("ready_share_10m", "mean share of containers ready over 10 min", "share", 1.0),
    Feature("replicas_ready_share", "ready replicas / desired replicas", "share", 1.0),
    Feature("waiting_share", "share of containers waiting (back-off, pull errors)", "share", 0.0),
    Feature("unscheduled_share", "share of containers on no node (Pending)", "share", 0.0),
    Feature("node_not_ready_share", "share of containers on NotReady nodes", "share", 0.0),
    Feature("node_pressure_share", "share of containers on nodes under pressure", "share", 0.0),
    Feature("node_unschedulable_share", "share of containers on cordoned nodes", "share", 0.0),
    Feature("node_mem_ratio", "node memory used / allocatable (nodes only)", "ratio", 0.0),
    Feature("node_mem_slope", "node memory/allocatable change per min", "ratio/min", 0.0),
    Feature("node_metrics_missing", "share of containers on nodes without usage", "share", 0.0),
    Feature("ev_backoff_10m", "BackOff warnings in 10 min", "events", 0.0),
    Feature("ev_unhealthy_10m", "failed probes (Unhealthy) in 10 min", "events", 0.0),
    Feature("ev_failed_10m", "Failed warnings (pulls, starts) in 10 min", "events", 0.0),
    Feature("ev_oom_10m", "OOM-kill events in 10 min", "events", 0.0),
    Feature("ev_scheduling_10m", "scheduling and volume warnings in 10 min", "events", 0.0),
    Feature("ev_eviction_10m", "evictions in 10 min", "events", 0.0),
    Feature("ev_node_10m", "node condition events in 10 min", "events", 0.0),
    Feature("ev_other_warning_10m", "other warnings in 10 min", "events", 0.0),
    Feature("is_node", "1 for a node, 0 for a workload", "flag", 0.0),
]
FEATURE_NAMES = [f.name for f in FEATURES]
FEATURE_INFO = {f.name: f for f in FEATURES}

EVENT_BUCKETS = {  # event reason -> feature
    **dict.fromkeys(["BackOff"], "ev_backoff_10m"),
    **dict.fromkeys(["Unhealthy"], "ev_unhealthy_10m"),
    **dict.fromkeys(["Failed", "ErrImagePull", "InspectFailed"], "ev_failed_10m"),
    **dict.fromkeys(["OOMKilling", "OOMKilled", "SystemOOM"], "ev_oom_10m"),
    **dict.fromkeys(
        ["FailedScheduling", "ProvisioningFailed", "FailedMount", "FailedAttachVolume"],
        "ev_scheduling_10m",
    ),
    **dict.fromkeys(["Evicted", "TaintManagerEviction", "Preempted"], "ev_eviction_10m"),
    **dict.fromkeys(
        [
            "NodeNotReady",
            "NodeHasDiskPressure",
            "NodeHasInsufficientMemory",
            "NodeHasInsufficientPID",
            "Rebooted",
        ],
        "ev_node_10m",
    ),
}
ANY_TYPE = {"ev_eviction_10m", "ev_node_10m"}  # counted even when typed Normal (as k8s does)
EVENT_FEATURES = [f.name for f in FEATURES if f.name.startswith("ev_")]


@dataclass(frozen=True)
class Frames:
    containers: pd.DataFrame
    nodes: pd.DataFrame
    events: pd.DataFrame
    workloads: pd.DataFrame | None = None


def empty_frames() -> Frames:
    return Frames(
        *(pd.DataFrame(columns=c) for c in (CONTAINER_COLUMNS, NODE_COLUMNS)),
        pd.DataFrame(columns=EVENT_COLUMNS),
        pd.DataFrame(columns=WORKLOAD_COLUMNS),
    )
