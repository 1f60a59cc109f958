"""Features, labels and the simulated histories they are built from (pure: no database)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from apps.predictions import labels
from apps.predictions.features import (
    CONTAINER_COLUMNS,
    EVENT_COLUMNS,
    FEATURE_NAMES,
    FEATURES,
    FRESH_S,
    META_COLUMNS,
    NODE_COLUMNS,
    WORKLOAD_COLUMNS,
    Frames,
    build_features,
    latest,
)
from apps.predictions.simulate import simulate


@pytest.fixture(scope="module")
def leak():
    """The memory-leak scenario as written: the api leaks from minute 10, OOM ~7 min later."""
    return simulate("memory-leak", seed=1, hours=0.5)


@pytest.fixture(scope="module")
def leak_features(leak):
    return build_features(leak.frames)


@pytest.fixture(scope="module")
def healthy():
    return simulate("healthy", seed=2, hours=1.0)


def _at(features: pd.DataFrame, entity: str, start, minutes: float) -> pd.Series:
    rows = features[features["entity"] == entity].set_index("ts")
    return rows.loc[start + pd.Timedelta(minutes=minutes)]


def test_it_samples_the_sandbox_with_the_collectors_columns(leak):
    f = leak.frames
    assert list(f.containers.columns) == CONTAINER_COLUMNS
    assert list(f.nodes.columns) == NODE_COLUMNS
    assert list(f.events.columns) == EVENT_COLUMNS
    assert list(f.workloads.columns) == WORKLOAD_COLUMNS
    assert f.containers["ts"].nunique() == 60  # every 30 s for 30 min
    worker = f.containers[f.containers["workload"] == "worker"]
    assert worker["limit_cpu_m"].isna().all()  # no CPU limit in the scenario: None, as stored
    assert (worker["limit_memory"] == 2**30).all()
    running = f.containers["memory"].notna()
    assert (f.containers.loc[running, "memory"] % 1024 == 0).all()  # metrics-server: whole Ki
    assert leak.failures[0]["kind"] == "OOMKilled"


def test_it_documents_every_feature_once(leak_features):
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert all(f.description and f.unit for f in FEATURES)
    assert list(leak_features.columns) == META_COLUMNS + FEATURE_NAMES
    assert not leak_features[FEATURE_NAMES].isna().any().any()


def test_it_sees_a_memory_leak_rise_towards_the_limit(leak, leak_features):
    start = leak.start
    before = _at(leak_features, "shop/api", start, 9)
    rising = _at(leak_features, "shop/api", start, 12)
    near = _at(leak_features, "shop/api", start, 16)
    assert before["mem_minutes_to_limit"] > 30
    assert rising["mem_limit_ratio"] > before["mem_limit_ratio"] + 0.1
    assert rising["mem_slope"] > 0.05  # > 5% of the limit per minute
    assert rising["mem_minutes_to_limit"] < 8
    assert near["mem_limit_ratio"] > 0.9
    after = _at(leak_features, "shop/api", start, 18)
    assert after["restarts_10m"] >= 4 and after["oom_kills_10m"] >= 4
    assert after["ev_oom_10m"] >= 4  # the node's OOMKilling events, attributed to the pods


def test_it_keeps_a_healthy_history_quiet(healthy):
    f = build_features(healthy.frames)
    settled = f[f["history_minutes"] >= 10]
    assert (settled["restarts_10m"] == 0).all()
    assert (settled["mem_minutes_to_limit"] > 30).all()
    assert (settled["ready_share"] == 1).all()
    assert (settled["node_not_ready_share"] == 0).all()
    assert labels.observe_failures(healthy.frames).empty


def test_it_leaves_no_limit_as_no_ratio(leak):
    raw = build_features(leak.frames, impute_missing=False)
    worker = raw[(raw["entity"] == "shop/worker") & (raw["history_minutes"] >= 5)]
    assert worker["cpu_limit_ratio"].isna().all()
    assert (worker["cpu_limit_known"] == 0).all() and (worker["mem_limit_known"] == 1).all()
    assert worker["cpu_request_ratio"].notna().all()


def test_it_scores_the_latest_collection_as_the_full_history_does(leak):
    """Live scoring computes only each container's and node's last sample, yet gives every
    entity sampled in the last FRESH_S the row the full history would: also one whose pods
    stopped reporting a minute ago (its last row), and none for one gone longer."""
    c, n = leak.frames.containers, leak.frames.nodes
    end = c["ts"].max()
    quiet = (c["workload"] == "worker") & (c["ts"] > end - pd.Timedelta(seconds=60))
    gone = (c["workload"] == "web") & (c["ts"] > end - pd.Timedelta(seconds=FRESH_S + 60))
    frames = dataclasses.replace(leak.frames, containers=c[~quiet & ~gone])
    full = latest(build_features(frames))
    full = full[full["ts"] >= end - pd.Timedelta(seconds=FRESH_S)].set_index("entity")
    only = latest(build_features(frames, latest_within=FRESH_S)).set_index("entity")
    only = only[only["ts"] >= end - pd.Timedelta(seconds=FRESH_S)]
    assert sorted(only.index) == sorted(full.index)
    assert "shop/worker" in only.index and "shop/web" not in only.index
    assert only.loc["shop/worker", "ts"] < end  # its last row, a minute old
    assert set(n["node"]) <= set(only.index)
    full, only = full.sort_index(), only.sort_index()
    numeric = [c for c in only.columns if c not in ("entity_kind", "ts", "node_hint")]
    np.testing.assert_allclose(only[numeric].to_numpy(float), full[numeric].to_numpy(float))


def _frames(restarts: list[int], ready: list[bool], events: pd.DataFrame | None = None) -> Frames:
    ts = pd.date_range("2026-01-05T10:00:00Z", periods=len(restarts), freq="30s")
    c = pd.DataFrame(
        {
            "ts": ts,
            "namespace": "ns",
            "workload": "app",
            "pod": "app-1",
            "container": "c",
            "node": "n1",
            "cpu_m": 100.0,
            "memory": 100.0 * 2**20,
            "request_cpu_m": 100.0,
            "limit_cpu_m": np.nan,
            "request_memory": 128.0 * 2**20,
            "limit_memory": np.nan,
            "restarts": restarts,
            "ready": ready,
            "state": "running",
            "waiting_reason": "",
            "last_terminated_reason": "",
            "oom_killed": False,
        }
    )
    n = pd.DataFrame(
        {
            "ts": ts,
            "node": "n1",
            "cpu_m": 1000.0,
            "memory": 2.0**30,
            "allocatable_cpu_m": 4000,
            "allocatable_memory": 2**33,
            "ready": True,
            "memory_pressure": False,
            "disk_pressure": False,
            "pid_pressure": False,
            "unschedulable": False,
        }
    )
    return Frames(c, n, events if events is not None else pd.DataFrame(columns=EVENT_COLUMNS))


def test_it_counts_restarts_and_warnings_inside_the_window():
    restarts = [0] * 10 + [1, 1, 3] + [3] * 27  # restarts at minute 5 and minute 6
    ev = pd.DataFrame(
        [
            {
                "uid": "u1",
                "namespace": "ns",
                "type": "Warning",
                "reason": "BackOff",
                "message": "",
                "count": 3,
                "object_kind": "Pod",
                "object_name": "app-1",
                "object_namespace": "ns",
                "first_seen": pd.Timestamp("2026-01-05T10:05:10Z"),
                "last_seen": pd.Timestamp("2026-01-05T10:06:10Z"),
            }
        ]
    )
    f = build_features(_frames(restarts, [True] * 40, ev))
    app = f[f["entity"] == "ns/app"].set_index("ts")["restarts_10m"]
    at = pd.Timestamp("2026-01-05T10:00:00Z")
    assert app[at + pd.Timedelta(minutes=4.5)] == 0
    assert app[at + pd.Timedelta(minutes=6)] == 3
    assert app[at + pd.Timedelta(minutes=15)] == 2  # the minute-5 restart left the window
    assert app[at + pd.Timedelta(minutes=16.5)] == 0
    backoff = f[f["entity"] == "ns/app"].set_index("ts")["ev_backoff_10m"]
    assert backoff[at + pd.Timedelta(minutes=5.5)] == 1  # first seen
    assert backoff[at + pd.Timedelta(minutes=6.5)] == 3  # and twice more by last_seen
    since = f[f["entity"] == "ns/app"].set_index("ts")["minutes_since_restart"]
    assert since[at + pd.Timedelta(minutes=8)] == 2


def test_it_finds_the_observed_failures_where_the_ground_truth_has_them(leak):
    observed = labels.episodes(labels.observe_failures(leak.frames))
    truth = labels.episodes(labels.ground_truth(leak.failures))
    assert list(observed["entity"]) == ["shop/api"] == list(truth["entity"])
    assert observed["kind"].iloc[0] == "OOMKilled"
    lag = (observed["start"].iloc[0] - truth["start"].iloc[0]).total_seconds()
    assert 0 <= lag <= 30  # seen at the next collection


def test_it_labels_the_horizon_before_a_failure_and_marks_the_failing_rows(leak, leak_features):
    failures = labels.observe_failures(leak.frames)
    lab = labels.label(leak_features, failures, horizon_minutes=15)
    start = labels.episodes(failures)["start"].iloc[0]
    api = leak_features["entity"] == "shop/api"
    ts = leak_features["ts"]
    before = api & (ts >= start - pd.Timedelta(minutes=15)) & (ts < start)
    assert lab.loc[before, "y"].eq(1).all() and not lab.loc[before, "failing"].any()
    assert lab.loc[api & (ts < start - pd.Timedelta(minutes=15)), "y"].eq(0).all()  # (ts, ts+H]
    assert lab.loc[api & (ts >= start), "failing"].all()  # OOM kills every ~7 min: one episode
    assert lab.loc[api & (ts >= start), "y"].eq(0).all()
    assert lab.loc[~api, "y"].eq(0).all()
    minutes = lab.loc[before, "minutes_to_failure"]
    assert minutes.between(0, 15).all() and (lab.loc[before, "next_kind"] == "OOMKilled").all()


def test_it_needs_a_readiness_dip_to_last_before_calling_it_unavailable():
    ts = pd.date_range("2026-01-05T10:00:00Z", periods=20, freq="30s")
    ready = [3] * 4 + [2] * 2 + [3] * 4 + [1] * 8 + [3] * 2  # a 30-s dip, then a 3.5-min one
    w = pd.DataFrame(
        {
            "ts": ts,
            "namespace": "ns",
            "name": "app",
            "replicas": 3,
            "ready_replicas": ready,
            "available_replicas": ready,
            "updated_replicas": 3,
            "revision": 1,
            "last_rollout_at": pd.NaT,
        }
    )
    frames = _frames([0] * 20, [True] * 20)
    failures = labels.observe_failures(Frames(frames.containers, frames.nodes, frames.events, w))
    assert set(failures["kind"]) == {"Unavailable"}
    assert failures["time"].min() == ts[10]  # from the start of the long dip only
    assert len(failures) == 8
