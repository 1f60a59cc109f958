"""Failures observed in the stored samples, and labels for "fails within the horizon". Pure.

`observe_failures(frames)` finds failures the way production must, from the same frames the
features use (no ground truth): one row per occurrence (entity, entity_kind, time, kind, detail).

| kind | observed as |
| --- | --- |
| OOMKilled | a container restarted and its last termination is OOMKilled |
| CrashLoopBackOff | a container waiting in CrashLoopBackOff / Create-or-RunContainerError |
| ImagePullBackOff | a container waiting in ErrImagePull / ImagePullBackOff / InvalidImageName |
| NotReady | a node whose Ready condition is not True (the node is the entity) |
| Evicted | an Evicted or TaintManagerEviction event on a pod (its workload is the entity) |
| Unavailable | ready replicas below desired for at least 3 minutes (from the dip's start) |
| Pending | a container on no node for at least 5 minutes (from when it was first seen so) |
| CPUThrottled | CPU use at >= 98% of the limit on two samples in a row |

Occurrences of one entity less than RECOVERY_MINUTES apart form one failure episode; an
episode's start is the failure event a prediction should anticipate.

`label(features, failures, horizon_minutes)` marks each feature row:
- `failing`: the entity is inside an episode, or within RECOVERY_MINUTES after its last
  occurrence. Those rows are EXCLUDED from training and evaluation (predicting a failure that
  is already visible is not prediction); `y` is 0 there, so always filter on `failing`.
- `y` = 1 when, not failing, an episode of the entity starts in (ts, ts + horizon].
- `minutes_to_failure` (to the next episode start, NaN when none) and `next_kind`.
"""

import numpy as np
import pandas as pd

from .features import Frames, pod_index, seconds_of

FAILURE_COLUMNS = ["entity", "entity_kind", "time", "kind", "detail"]
RECOVERY_MINUTES = 10.0
UNAVAILABLE_MINUTES = 3.0
PENDING_MINUTES = 5.0
THROTTLE_RATIO = 0.98
CRASH_REASONS = {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
EVICTION_REASONS = {"Evicted", "TaintManagerEviction"}


def observe_failures(frames: Frames) -> pd.DataFrame:
    parts = [_container_failures(frames.containers), _node_failures(frames.nodes)]
    if frames.events is not None and not frames.events.empty:
        parts.append(_evictions(frames.events, pod_index(frames.containers)))
    if frames.workloads is not None and not frames.workloads.empty:
        parts.append(_unavailable(frames.workloads))
    parts = [p for p in parts if len(p)]
    if not parts:
        none = pd.Series([], dtype="datetime64[us, UTC]")
        return pd.DataFrame(columns=FAILURE_COLUMNS).assign(time=none)
    out = pd.concat(parts, ignore_index=True)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out[FAILURE_COLUMNS].sort_values(["entity", "time"], kind="stable", ignore_index=True)


def outcome_failures(outcomes: list[tuple[str, str, object, str]]) -> pd.DataFrame:
    """Failures learned from outcomes: (entity, entity_kind, time, detail) of fixes whose
    verification saw the workload or node still unhealthy (failed, rolled back). The
    collector may have missed them between samples; the executor did not."""
    if not outcomes:
        none = pd.Series([], dtype="datetime64[us, UTC]")
        return pd.DataFrame(columns=FAILURE_COLUMNS).assign(time=none)
    entity, kind, time, detail = zip(*outcomes, strict=True)
    out = pd.DataFrame(
        {"entity": entity, "entity_kind": kind, "time": time, "kind": "FixFailed", "detail": detail}
    )
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out[FAILURE_COLUMNS]


def _rows(entity, kind: str, time, detail, entity_kind: str = "workload") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": np.asarray(entity),
            "entity_kind": entity_kind,
            "time": np.asarray(time),
            "kind": kind,
            "detail": np.asarray(detail),
        }
    )


def _sustained(group: np.ndarray, t: np.ndarray, flag: np.ndarray, seconds: float) -> np.ndarray:
    """Rows (sorted by group, t) inside a run of `flag` lasting at least `seconds`."""
    same = np.r_[False, group[1:] == group[:-1]]
    start = flag & ~(np.r_[False, flag[:-1]] & same)
    run = np.cumsum(start)
    by = pd.Series(t).groupby(np.where(flag, run, 0))
    span = (by.transform("max") - by.transform("min")).to_numpy()
    return flag & (span >= seconds)


def _container_failures(c: pd.DataFrame) -> pd.DataFrame:
    if c.empty:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    c = c.sort_values(["namespace", "pod", "container", "ts"], kind="stable", ignore_index=True)
    name = c["workload"].fillna("").where(c["workload"].fillna("") != "", c["pod"])
    entity = (c["namespace"] + "/" + name).to_numpy()
    cid = c.groupby(["namespace", "pod", "container"], sort=False).ngroup().to_numpy()
    t = seconds_of(c["ts"]).astype(float)
    inc = c["restarts"].astype(float).groupby(cid).diff().fillna(0).to_numpy() > 0
    oom = inc & (c["last_terminated_reason"].eq("OOMKilled") | c["oom_killed"].astype(bool))
    waiting = c["waiting_reason"].fillna("")
    cpu_hot = (c["cpu_m"] >= THROTTLE_RATIO * c["limit_cpu_m"]).to_numpy() & (
        c["limit_cpu_m"].fillna(0).to_numpy() > 0
    )
    unscheduled = c["node"].fillna("").eq("").to_numpy()
    pod = (c["namespace"] + "/" + c["pod"] + " " + c["container"]).to_numpy()
    found = {
        "OOMKilled": oom.to_numpy(),
        "CrashLoopBackOff": waiting.isin(CRASH_REASONS).to_numpy(),
        "ImagePullBackOff": waiting.isin(PULL_REASONS).to_numpy(),
        "CPUThrottled": _sustained(cid, t, cpu_hot, 30),
        "Pending": _sustained(cid, t, unscheduled, PENDING_MINUTES * 60),
    }
    return pd.concat(
        [_rows(entity[m], kind, c["ts"].to_numpy()[m], pod[m]) for kind, m in found.items()],
        ignore_index=True,
    )


def _node_failures(n: pd.DataFrame) -> pd.DataFrame:
    if n.empty:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    down = ~n["ready"].astype(bool).to_numpy()
    return _rows(n["node"].to_numpy()[down], "NotReady", n["ts"].to_numpy()[down], "", "node")


def _evictions(e: pd.DataFrame, pods: pd.DataFrame) -> pd.DataFrame:
    e = e[e["reason"].isin(EVICTION_REASONS) & e["object_kind"].eq("Pod")]
    ns = (
        e["object_namespace"]
        .fillna("")
        .where(e["object_namespace"].fillna("") != "", e["namespace"])
    )
    key = ns + "/" + e["object_name"]
    entity = key.map(pods["workload"]).fillna(key)
    when = e["first_seen"].fillna(e["last_seen"])
    return _rows(entity.to_numpy(), "Evicted", when.to_numpy(), key.to_numpy())


def _unavailable(w: pd.DataFrame) -> pd.DataFrame:
    w = w.sort_values(["namespace", "name", "ts"], kind="stable", ignore_index=True)
    entity = (w["namespace"] + "/" + w["name"]).to_numpy()
    code = pd.factorize(entity)[0]
    short = (w["ready_replicas"] < w["replicas"]).to_numpy()
    m = _sustained(code, seconds_of(w["ts"]).astype(float), short, UNAVAILABLE_MINUTES * 60)
    detail = w["ready_replicas"].astype(str) + "/" + w["replicas"].astype(str) + " ready"
    return _rows(entity[m], "Unavailable", w["ts"].to_numpy()[m], detail.to_numpy()[m])


def ground_truth(failures: list[dict]) -> pd.DataFrame:
    """The sandbox's ground truth ({time, kind, workload, pod, node}) as a failure table."""
    rows = []
    for f in failures:
        if f["kind"] == "NotReady":
            rows.append((f["node"], "node", f["time"], f["kind"], f.get("detail", "")))
        elif f.get("workload") or f.get("pod"):
            rows.append(
                (f.get("workload") or f["pod"], "workload", f["time"], f["kind"], f.get("pod", ""))
            )
    out = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out.sort_values(["entity", "time"], kind="stable", ignore_index=True)


def episodes(failures: pd.DataFrame, *, gap_minutes: float = RECOVERY_MINUTES) -> pd.DataFrame:
    """Merge each entity's occurrences less than `gap_minutes` apart: (entity, entity_kind,
    start, end, kind = the first occurrence's kind, kinds = every kind seen, occurrences)."""
    cols = ["entity", "entity_kind", "start", "end", "kind", "kinds", "occurrences"]
    if failures.empty:
        none = pd.Series([], dtype="datetime64[us, UTC]")
        return pd.DataFrame(columns=cols).assign(start=none, end=none)
    f = failures.sort_values(["entity", "time"], kind="stable", ignore_index=True)
    f["time"] = pd.to_datetime(f["time"], utc=True)
    t = seconds_of(f["time"]).astype(float)
    same = np.r_[False, f["entity"].to_numpy()[1:] == f["entity"].to_numpy()[:-1]]
    new = ~(same & (np.r_[np.inf, np.diff(t)] < gap_minutes * 60))
    g = f.groupby(np.cumsum(new))
    out = g.agg(
        entity=("entity", "first"),
        entity_kind=("entity_kind", "first"),
        start=("time", "min"),
        end=("time", "max"),
        kind=("kind", "first"),
        occurrences=("kind", "size"),
    )
    out["kinds"] = g["kind"].agg(lambda k: ",".join(sorted(set(k)))).to_numpy()
    return out[cols].reset_index(drop=True)


def label(
    features: pd.DataFrame, failures: pd.DataFrame, horizon_minutes: float = 15
) -> pd.DataFrame:
    """Per feature row: y, failing, minutes_to_failure, next_kind (index of `features`)."""
    ep = episodes(failures)
    rows = pd.DataFrame(
        {
            "entity": features["entity"].astype(str).to_numpy(),
            "t": seconds_of(features["ts"]).astype(float),
            "i": np.arange(len(features)),
        }
    ).sort_values("t", kind="stable")
    if ep.empty:
        out = pd.DataFrame(
            {"y": 0, "failing": False, "minutes_to_failure": np.nan, "next_kind": ""},
            index=features.index,
        )
        return out
    ep = ep.assign(
        t=seconds_of(ep["start"]).astype(float),
        until=seconds_of(ep["end"]).astype(float),
        entity=ep["entity"].astype(str).to_numpy(),
    )
    ep = ep.sort_values("t", kind="stable")[["entity", "t", "until", "kind"]]
    back = pd.merge_asof(rows, ep, on="t", by="entity", direction="backward")
    nxt = pd.merge_asof(
        rows,
        ep.rename(columns={"t": "start"}).assign(t=lambda d: d["start"]),
        on="t",
        by="entity",
        direction="forward",
        allow_exact_matches=False,
    )
    back, nxt = back.sort_values("i"), nxt.sort_values("i")
    failing = (back["until"].to_numpy() + RECOVERY_MINUTES * 60) > back["t"].to_numpy()
    failing &= back["until"].notna().to_numpy()
    minutes = (nxt["start"].to_numpy() - nxt["t"].to_numpy()) / 60.0
    y = (~failing) & (minutes <= horizon_minutes)
    return pd.DataFrame(
        {
            "y": y.astype(int),
            "failing": failing,
            "minutes_to_failure": minutes,
            "next_kind": nxt["kind"].fillna("").to_numpy(),
        },
        index=features.index,
    )
