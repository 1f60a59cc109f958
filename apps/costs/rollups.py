"""Hourly rollups of container samples, and their reads.

A cost plan over 14 days of 30-s samples is 40,320 rows per container: 80 million for 2,000
pods, more than a plan can read in seconds. So once an hour is complete (no more samples can
arrive for it) `rollup_cluster` keeps per Deployment container, and per workload for whole pods,
its counts, sums, peaks and log-bucket histograms (histogram.py), the starts and OOM kills seen
and the requests at its end. The plan and the idle rule then read the rollups before
`RollupMark.rolled_until` and the raw samples after it (a few minutes of look-back before it, so
a restart across the boundary is still seen). Quantiles from rollups are at most 1% generous
(one bucket); counts, means and peaks are exact. Without rollups every read is raw and exact.

The window of a read with rollups starts at the first whole hour after its `since`.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from apps.clusters.models import Cluster, ContainerSample

from . import billing, histogram
from .hours import (
    CLOCK_SLACK,
    DAY,
    HOUR,
    Epoch,
    ceil_hour,
    complete_until,
    fetch,
    floor_hour,
    frame,
    lookback,
    spans,
)
from .models import RollupMark, UsageRollup
from .rightsizing import DEFAULT_POLICY, History, OomKill

log = logging.getLogger(__name__)

FIELDS = (
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
    "oom_killed",
)
KEY = ["namespace", "workload", "container"]
POD_KEY = ["namespace", "workload", "pod", "container"]
EPOCH = pd.Timestamp(0, tz="UTC")


# --- Writing --------------------------------------------------------------------------------


def rollup_cluster(cluster: Cluster, *, max_hours: int = 24) -> int:
    """Roll up the cluster's complete hours not rolled yet, oldest first, at most `max_hours`
    of them (a catch-up over 14 days goes on at the next run). Each hour, usage and cost
    rollups (billing.py) alike, is one transaction with the mark; two runs at once roll an
    hour once. Returns the hours rolled."""
    raw_end = complete_until(cluster)
    if raw_end is None:
        return 0
    end = floor_hour(raw_end)
    mark = RollupMark.objects.filter(cluster=cluster).first()
    if mark is not None and mark.rolled_until > floor_hour(raw_end + CLOCK_SLACK):
        # The cluster's clock went back (a sandbox restarted on the same database): samples
        # now arrive for hours already rolled. Rebuild from the raw samples, the truth.
        log.warning("clock of %s went back before its rollups: rebuilding them", cluster.name)
        with transaction.atomic():
            locked = RollupMark.objects.select_for_update().filter(cluster=cluster).first()
            if locked is None or locked.rolled_until != mark.rolled_until:
                return 0  # another run changed them meanwhile
            UsageRollup.objects.filter(cluster=cluster).delete()
            billing.forget(cluster)
            locked.delete()
        mark = None
    expected = mark.rolled_until if mark else None  # the mark as this run found it
    start = expected
    oldest = (
        ContainerSample.objects.filter(cluster=cluster, ts__lt=end)
        .order_by("ts")
        .values_list("ts", flat=True)
        .first()
    )
    if oldest is None:
        return 0
    if start is None or start < floor_hour(oldest):  # first run, or samples pruned since
        start = floor_hour(oldest)
    done = 0
    hour = start
    while hour < end and done < max_hours:
        samples = frame(
            ContainerSample.objects.filter(
                cluster=cluster, ts__gt=hour - lookback(cluster), ts__lt=hour + HOUR
            ),
            FIELDS,
        )
        rows = hour_rows(cluster, hour, samples)
        costs = billing.rows(cluster, hour, billing.hour_bill(cluster, hour, samples, raw_end))
        with transaction.atomic():
            locked = RollupMark.objects.select_for_update().filter(cluster=cluster).first()
            if (locked.rolled_until if locked else None) != expected:
                return done  # another run moved (or rebuilt) the mark meanwhile
            UsageRollup.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
            billing.save(*costs)
            if (hour + HOUR).hour == 0:  # a UTC day is complete: merge its hours
                _compact_day(cluster, hour + HOUR - DAY)
                billing.compact_day(cluster, hour + HOUR - DAY)
            RollupMark.objects.update_or_create(
                cluster=cluster, defaults={"rolled_until": hour + HOUR}
            )
        done += 1
        hour += HOUR
        expected = hour
    return done


def _compact_day(cluster: Cluster, day: datetime) -> None:
    """One row per key for the whole day, merged from its hourly rows (which stay, for reads
    whose window starts within the day)."""
    qs = UsageRollup.objects.filter(cluster=cluster, hours=1, hour__gte=day, hour__lt=day + DAY)
    groups: dict[tuple, list] = {}
    qs = qs.annotate(first_s=Epoch("first_ts"), last_s=Epoch("last_ts")).order_by("hour")
    for row in fetch(qs, READ_FIELDS):
        groups.setdefault(row[:3], []).append(row)
    days = [
        UsageRollup(cluster=cluster, hours=24, hour=day, **_fields(key, _merge(rows)))
        for key, rows in groups.items()
    ]
    UsageRollup.objects.bulk_create(days, batch_size=2000, ignore_conflicts=True)


def _fields(key: tuple, r: "Rolled") -> dict:
    h = r.history
    return {
        "namespace": key[0],
        "workload": key[1],
        "container": key[2],
        "samples": h.samples,
        "first_ts": datetime.fromtimestamp(h.first, UTC),
        "last_ts": datetime.fromtimestamp(h.last, UTC),
        "cpu_sum": h.cpu_sum,
        "cpu_max": h.cpu_max,
        "memory_sum": h.memory_sum,
        "memory_max": h.memory_max,
        "cpu_hist": histogram.encode(h.cpu_steady),
        "cpu_startup_hist": histogram.encode(h.cpu_startup),
        "memory_hist": histogram.encode(h.memory),
        "startup_samples": h.startup_samples,
        "startup_cpu_max": h.startup_cpu_max,
        "startup_memory_max": h.startup_memory_max,
        "starts": h.starts,
        "ooms": [[k.at, k.memory_limit_bytes] for k in r.ooms],
        "nodes": r.nodes,
        **r.latest,
    }


def prune(*, now: datetime) -> int:
    """Rollups go with the samples they summarise: older than SAMPLE_RETENTION_DAYS."""
    cutoff = floor_hour(now - timedelta(days=settings.SAMPLE_RETENTION_DAYS)) - HOUR
    old = UsageRollup.objects.filter(hours=1, hour__lt=cutoff)
    n = (old | UsageRollup.objects.filter(hours=24, hour__lt=cutoff - DAY)).delete()[0]
    return n + billing.prune(cutoff)


def hour_rows(cluster: Cluster, hour: datetime, samples: pd.DataFrame) -> list[UsageRollup]:
    """The usage rollups of [hour, hour + 1 h) from `samples`: the cluster's container samples
    of the hour and of a look-back before it."""
    return [UsageRollup(cluster=cluster, **r) for r in aggregate(samples, hour)]


def aggregate(df: pd.DataFrame, hour: datetime) -> list[dict]:
    """The rollup rows (as field dicts) of the samples of [hour, hour + 1 h); `df` may also
    hold earlier samples (the look-back), used only to see starts and OOM kills. Whole-frame
    pandas/numpy passes: an hour of 2,000 pods at 30 s (240,000 samples) takes about a second."""
    if df.empty:
        return []
    df = df[df["workload"] != ""].sort_values(["ts", "pod"], kind="stable").reset_index(drop=True)
    df["ts_s"] = (df["ts"] - EPOCH).dt.total_seconds()
    for col in ("cpu_m", "memory", "request_cpu_m", "request_memory"):
        df[col] = df[col].astype(float)
    ooms, starts = container_events(df)
    hour_s = (pd.Timestamp(hour) - EPOCH).total_seconds()
    df = df[df["ts_s"] >= hour_s].reset_index(drop=True)
    if df.empty:
        return []
    last_ts = df.groupby(["namespace", "workload"])["ts"].transform("max")
    pods_at_last = df[df["ts"] == last_ts].groupby(KEY)["pod"].nunique().to_dict()
    latest = df.drop_duplicates(KEY, keep="last").set_index(KEY)[RESOURCES].to_dict("index")
    ok = df[np.isfinite(df["cpu_m"]) & np.isfinite(df["memory"])].reset_index(drop=True)
    if ok.empty:
        return []
    startup = _startup(ok, starts)
    out = []
    for key, row in _stats(ok, KEY, startup).items():
        now = latest[key]
        out.append(
            row
            | {
                "starts": sum(1 for s in starts.get(key, ()) if s >= hour_s),
                "ooms": [[k.at, k.memory_limit_bytes] for k in ooms.get(key, ()) if k.at >= hour_s],
                "request_cpu_m": _num(now["request_cpu_m"]),
                "limit_cpu_m": _num(now["limit_cpu_m"]),
                "request_memory": _int(now["request_memory"]),
                "limit_memory": _int(now["limit_memory"]),
                "pods_at_last": int(pods_at_last.get(key, 0)),
            }
        )
    out += _pod_rows(df)
    for r in out:
        r["hour"] = hour
    return out


RESOURCES = ["request_cpu_m", "limit_cpu_m", "request_memory", "limit_memory"]


def _startup(ok: pd.DataFrame, starts: dict) -> np.ndarray:
    """Samples at most the start-up window after a start of their container key (as
    rightsizing's own mask: any pod's start counts for the key)."""
    if not starts:
        return np.zeros(len(ok), dtype=bool)
    table = pd.DataFrame(
        [(*key, at) for key, ats in starts.items() for at in ats], columns=[*KEY, "at"]
    ).sort_values("at")
    left = ok[[*KEY, "ts_s"]].assign(row=np.arange(len(ok))).sort_values("ts_s")
    merged = pd.merge_asof(left, table, left_on="ts_s", right_on="at", by=KEY)
    window = DEFAULT_POLICY.startup_window.total_seconds()
    mask = np.zeros(len(ok), dtype=bool)
    mask[merged["row"].to_numpy()] = (merged["ts_s"] - merged["at"] <= window).to_numpy()
    return mask


def _stats(frame: pd.DataFrame, by: list[str], startup: np.ndarray) -> dict[tuple, dict]:
    """Per group of `by`: counts, first and last, sums, peaks, start-up figures and the
    encoded histograms (steady CPU, start-up CPU, memory)."""
    frame = frame.assign(startup=startup)
    g = frame.groupby(by, sort=True)
    ids = g.ngroup().to_numpy()
    agg = g.agg(
        samples=("cpu_m", "size"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
        cpu_sum=("cpu_m", "sum"),
        cpu_max=("cpu_m", "max"),
        memory_sum=("memory", "sum"),
        memory_max=("memory", "max"),
    )
    up = (
        frame[startup]
        .groupby(by)
        .agg(
            startup_samples=("cpu_m", "size"),
            startup_cpu_max=("cpu_m", "max"),
            startup_memory_max=("memory", "max"),
        )
    )
    up = up.to_dict("index")
    n = len(agg)
    cpu_b = histogram.buckets(frame["cpu_m"].to_numpy(), histogram.CPU_FLOOR)
    mem_b = histogram.buckets(frame["memory"].to_numpy(), histogram.MEMORY_FLOOR)
    steady = _encoded(ids[~startup], cpu_b[~startup], n)
    started = _encoded(ids[startup], cpu_b[startup], n)
    memory = _encoded(ids, mem_b, n)
    out = {}
    for i, (key, a) in enumerate(agg.to_dict("index").items()):
        key = key if isinstance(key, tuple) else (key,)
        u = up.get(key, {})
        out[key if len(by) == 3 else (*key, "")] = {
            "namespace": key[0],
            "workload": key[1],
            "container": key[2] if len(by) == 3 else "",
            "samples": int(a["samples"]),
            "first_ts": pd.Timestamp(a["first_ts"]).to_pydatetime(),
            "last_ts": pd.Timestamp(a["last_ts"]).to_pydatetime(),
            "cpu_sum": float(a["cpu_sum"]),
            "cpu_max": float(a["cpu_max"]),
            "memory_sum": float(a["memory_sum"]),
            "memory_max": int(np.ceil(a["memory_max"])),
            "cpu_hist": steady[i],
            "cpu_startup_hist": started[i],
            "memory_hist": memory[i],
            "startup_samples": int(u.get("startup_samples", 0)),
            "startup_cpu_max": float(u.get("startup_cpu_max", 0.0)),
            "startup_memory_max": int(np.ceil(u.get("startup_memory_max", 0))),
        }
    return out


def _encoded(ids: np.ndarray, buckets: np.ndarray, groups: int) -> list[bytes]:
    """Per group id 0..groups-1, the histogram of its buckets, encoded: one numpy pass."""
    codes, counts = np.unique(ids.astype(np.int64) << 32 | buckets, return_counts=True)
    owner, bucket = codes >> 32, codes & 0xFFFFFFFF
    pairs = np.column_stack([bucket, counts]).astype("<i4")
    edges = np.searchsorted(owner, np.arange(groups + 1))
    return [pairs[edges[i] : edges[i + 1]].tobytes() for i in range(groups)]


def _pod_rows(df: pd.DataFrame) -> list[dict]:
    """Per workload, its pods' samples summed over their containers (the idle rule's view, as
    the raw read sums them: a container that reports no memory still adds its CPU)."""
    cols = ["cpu_m", "memory", "request_cpu_m", "request_memory"]
    pods = (
        df.groupby(["ts", "namespace", "workload", "pod", "node"], sort=False)[cols]
        .sum(min_count=1)
        .reset_index()
        .sort_values(["ts", "pod"], kind="stable")
    )
    pods = pods[np.isfinite(pods["cpu_m"]) & np.isfinite(pods["memory"])].reset_index(drop=True)
    if pods.empty:
        return []
    by = ["namespace", "workload"]
    stats = _stats(pods, by, np.zeros(len(pods), dtype=bool))
    last = pods[pods["ts"] == pods.groupby(by)["ts"].transform("max")]
    at_last = (
        last.fillna({"request_cpu_m": 0, "request_memory": 0})
        .groupby(by)
        .agg(cpu=("request_cpu_m", "mean"), memory=("request_memory", "mean"), n=("pod", "nunique"))
        .to_dict("index")
    )
    nodes: dict[tuple, dict] = {}
    for (ns, wl, node), count in pods[pods["node"] != ""].groupby([*by, "node"]).size().items():
        nodes.setdefault((ns, wl), {})[node] = int(count)
    out = []
    for (ns, wl, _), row in stats.items():
        a = at_last[(ns, wl)]
        out.append(
            row
            | {
                "nodes": nodes.get((ns, wl), {}),
                "request_cpu_m": float(a["cpu"]),
                "request_memory": int(a["memory"]),
                "pods_at_last": int(a["n"]),
            }
        )
    return out


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


# --- Reading --------------------------------------------------------------------------------


def boundary(cluster: Cluster, since: datetime, until: datetime) -> datetime | None:
    """Where rollups end and raw samples take over for a read of [since, until]; None when no
    whole hour after `since` is rolled up, or the rollups reach past `until` (a clock that went
    back, until the next rollup run rebuilds them): the read is all raw."""
    mark = RollupMark.objects.filter(cluster=cluster).values_list("rolled_until", flat=True)
    rolled = mark.first()
    if rolled is None or rolled > until:
        return None
    return rolled if rolled > ceil_hour(since) else None


@dataclass
class Rolled:
    """One key's rollups over a window, merged."""

    history: History
    latest: dict  # the requests and limits of its newest row, and pods_at_last
    ooms: list[OomKill] = field(default_factory=list)
    nodes: dict[str, int] = field(default_factory=dict)


LATEST = ("request_cpu_m", "limit_cpu_m", "request_memory", "limit_memory", "pods_at_last")
READ_FIELDS = (
    "namespace",
    "workload",
    "container",
    "samples",
    "first_s",
    "last_s",
    "cpu_sum",
    "cpu_max",
    "memory_sum",
    "memory_max",
    "cpu_hist",
    "cpu_startup_hist",
    "memory_hist",
    "startup_samples",
    "startup_cpu_max",
    "startup_memory_max",
    "starts",
    "ooms",
    "nodes",
    *LATEST,
)


def read(
    cluster: Cluster, since: datetime, until: datetime, *, pods: bool, namespace: str = ""
) -> dict[tuple, Rolled]:
    """The rollups of the whole hours in [since, until), merged per (namespace, workload,
    container) — or, with `pods`, per (namespace, workload) from the whole-pod rows. Whole
    UTC days are read as their day rows, the hours around them as hour rows."""
    qs = UsageRollup.objects.filter(spans(ceil_hour(since), until), cluster=cluster)
    qs = qs.filter(container="") if pods else qs.exclude(container="")
    if namespace:
        qs = qs.filter(namespace=namespace)
    groups: dict[tuple, list] = {}
    qs = qs.annotate(first_s=Epoch("first_ts"), last_s=Epoch("last_ts")).order_by("hour")
    for row in fetch(qs, READ_FIELDS):
        key = row[:2] if pods else row[:3]
        groups.setdefault(key, []).append(row)
    return {key: _merge(rows) for key, rows in groups.items()}


def _json(value):
    """A JSON column's value as fetched: text (decoded here), already decoded, or NULL."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value or ()


def _merge(rows: list) -> Rolled:
    cols = list(zip(*rows, strict=True))
    f = dict(zip(READ_FIELDS, cols, strict=True))
    nodes: dict[str, int] = {}
    for n in f["nodes"]:
        for name, count in (_json(n) or {}).items():
            nodes[name] = nodes.get(name, 0) + count
    latest = dict(zip(LATEST, rows[-1][-len(LATEST) :], strict=True))
    return Rolled(
        history=History(
            first=min(f["first_s"]),
            last=max(f["last_s"]),
            samples=sum(f["samples"]),
            cpu_steady=histogram.decode(list(f["cpu_hist"])),
            cpu_startup=histogram.decode(list(f["cpu_startup_hist"])),
            memory=histogram.decode(list(f["memory_hist"])),
            cpu_sum=sum(f["cpu_sum"]),
            cpu_max=max(f["cpu_max"]),
            memory_sum=sum(f["memory_sum"]),
            memory_max=max(f["memory_max"]),
            startup_samples=sum(f["startup_samples"]),
            startup_cpu_max=max(f["startup_cpu_max"]),
            startup_memory_max=max(f["startup_memory_max"]),
            starts=sum(f["starts"]),
        ),
        latest=latest,
        ooms=[OomKill(at, int(limit)) for o in f["ooms"] for at, limit in _json(o)],
        nodes=nodes,
    )


def container_events(df: pd.DataFrame) -> tuple[dict, dict]:
    """OOM kills (oom_killed became true, or it stayed true and the restart count went up,
    with the memory limit then) and starts (restart count went up; a pod first seen after the
    window's first collection), per container key."""
    g = df.groupby(POD_KEY, sort=False)
    prev_restarts = g["restarts"].shift()
    prev_oom = g["oom_killed"].shift(fill_value=False).astype(bool)
    restarted = (df["restarts"] > prev_restarts).to_numpy()
    first = prev_restarts.isna().to_numpy() & (df["ts"] > df["ts"].min()).to_numpy()
    oom = df["oom_killed"].to_numpy(dtype=bool) & (~prev_oom.to_numpy() | restarted)
    oom &= df["limit_memory"].notna().to_numpy()
    ooms: dict = {}
    for row in df.loc[oom, [*KEY, "ts_s", "limit_memory"]].itertuples(index=False):
        ooms.setdefault(tuple(row[:3]), []).append(OomKill(row[3], int(row[4])))
    starts: dict = {}
    for row in df.loc[restarted | first, [*KEY, "ts_s"]].itertuples(index=False):
        starts.setdefault(tuple(row[:3]), []).append(row[3])
    return ooms, starts
