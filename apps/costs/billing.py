"""Cost rollups: allocation's bills (allocation.Bill) of each complete hour, kept so that cost
allocation over days reads a row per container and day instead of every sample.

`rollups.rollup_cluster` writes them with the usage rollups, in the same transaction as the
mark; `allocation_read` bills a range as the raw samples of its partial first hour, the rolled
whole hours up to the mark, and the raw samples after it. Bills are in resource units
(millicore-hours, byte-hours) and are priced when read, so a price edited today applies to the
whole range, as it does for a raw read. Idle is kept per collection and node, as the raw read
computes it, so the rolled read gives the raw read's figures (to rounding) over the same samples.
"""

from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
from django.db.models import Sum

from apps.clusters.models import Cluster, ContainerSample, NodeSample

from . import allocation
from .hours import (
    CLOCK_SLACK,
    DAY,
    HOUR,
    ceil_hour,
    complete_until,
    fetch,
    floor_hour,
    frame,
    lookback,
    spans,
)
from .models import CostHour, CostRollup, RollupMark

KEYS = ["namespace", "workload", "pod", "container", "node"]
SUMS = ["cpu", "memory", "cpu_use", "cpu_req", "mem_use", "mem_req"]


def _interval(cluster: Cluster) -> timedelta:
    return timedelta(seconds=max(1, cluster.collect_interval_seconds))


# --- Writing --------------------------------------------------------------------------------


def next_collection(
    cluster: Cluster, at: datetime, until: datetime | None = None
) -> datetime | None:
    """The first collection at or after `at` (before `until`), if any: two indexed lookups."""
    found = []
    for model in (ContainerSample, NodeSample):
        qs = model.objects.filter(cluster=cluster, ts__gte=at)
        if until is not None:
            qs = qs.filter(ts__lte=until)
        found.append(qs.order_by("ts").values_list("ts", flat=True).first())
    return min((t for t in found if t is not None), default=None)


def hour_bill(
    cluster: Cluster, hour: datetime, containers: pd.DataFrame, complete: datetime
) -> allocation.Bill | None:
    """The bill of [hour, hour + 1 h); `containers` holds the cluster's container samples of
    the hour (earlier ones are ignored). The next collection is looked up before `complete`."""
    end = hour + HOUR
    nodes = frame(
        NodeSample.objects.filter(cluster=cluster, ts__gte=hour, ts__lt=end),
        allocation.NODE_COLUMNS,
    )
    if not containers.empty:
        containers = containers[containers["ts"] >= pd.Timestamp(hour)]
    return allocation.bill(
        containers.reset_index(drop=True),
        nodes,
        slot=HOUR,
        interval=_interval(cluster),
        end=end,
        after=next_collection(cluster, end, complete),
    )


def rows(
    cluster: Cluster, hour: datetime, b: allocation.Bill | None
) -> tuple[list[CostRollup], CostHour | None]:
    """An hour's bill as its rows: one per container and node, and the hour's summary."""
    if b is None:
        return [], None
    c = b.containers
    containers = [
        CostRollup(
            cluster=cluster,
            hour=hour,
            hours=1,
            **dict(zip(KEYS, key, strict=True)),
            **dict(zip(SUMS, sums, strict=True)),
            billed_hours=float(billed),
        )
        for key, sums, billed in zip(
            c[KEYS].itertuples(index=False, name=None),
            c[SUMS].astype(float).itertuples(index=False, name=None),
            c["hours"],
            strict=True,
        )
    ]
    summary = CostHour(
        cluster=cluster,
        hour=hour,
        first_ns=b.first,
        last_ns=b.last,
        end_ns=b.end,
        after_ns=b.after,
        nominal_ns=b.nominal,
        billed_hours=float(b.slots["hours"].sum()),
        unscheduled=b.unscheduled,
        gaps=[list(g) for g in b.gaps],
        namespaces=[
            [ns, node, float(cpu), float(mem)]
            for ns, node, cpu, mem in b.namespaces[
                ["namespace", "node", "cpu", "memory"]
            ].itertuples(index=False, name=None)
        ],
        nodes=[
            [node, *map(float, sums)]
            for node, *sums in b.nodes[["node", *allocation.NODE_SUMS]].itertuples(
                index=False, name=None
            )
        ],
    )
    return containers, summary


def save(containers: list[CostRollup], summary: CostHour | None) -> None:
    CostRollup.objects.bulk_create(containers, batch_size=2000, ignore_conflicts=True)
    if summary is not None:
        CostHour.objects.bulk_create([summary], ignore_conflicts=True)


def compact_day(cluster: Cluster, day: datetime) -> None:
    """One row per container and node for the whole day, summed from its hourly rows."""
    sums = _summed(
        CostRollup.objects.filter(cluster=cluster, hours=1, hour__gte=day, hour__lt=day + DAY)
    )
    CostRollup.objects.bulk_create(
        (
            CostRollup(
                cluster=cluster,
                hour=day,
                hours=24,
                **dict(zip(KEYS, row[:5], strict=True)),
                **dict(zip(SUMS, row[5:11], strict=True)),
                billed_hours=row[11],
            )
            for row in sums
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )


def forget(cluster: Cluster) -> None:
    """Drop a cluster's cost rollups (a rebuild)."""
    CostRollup.objects.filter(cluster=cluster).delete()
    CostHour.objects.filter(cluster=cluster).delete()


def prune(cutoff: datetime) -> int:
    old = CostRollup.objects.filter(hours=1, hour__lt=cutoff)
    n = (old | CostRollup.objects.filter(hours=24, hour__lt=cutoff - DAY)).delete()[0]
    return n + CostHour.objects.filter(hour__lt=cutoff).delete()[0]


# --- Reading --------------------------------------------------------------------------------

SUMMED = {f"sum_{f}": Sum(f) for f in [*SUMS, "billed_hours"]}


def _summed(qs) -> list[tuple]:
    """Per container and node, the sums of the rows of `qs`, added up by the database."""
    return fetch(qs.order_by().values(*KEYS).annotate(**SUMMED), (*KEYS, *SUMMED))


def rolled_span(cluster: Cluster, since: datetime, until: datetime) -> tuple | None:
    """The whole hours of [since, until] that are rolled up, as (from, to); None when none are,
    or the rollups reach past the cluster's clock (it went back; they are being rebuilt).
    It starts at the oldest hour kept (pruning leaves a day row whose first hours are gone)
    and ends an hour early when `until` falls within a look-back of its end: that hour's last
    collection billed up to the next one, which may be past `until`."""
    mark = RollupMark.objects.filter(cluster=cluster).values_list("rolled_until", flat=True)
    rolled, clock = mark.first(), complete_until(cluster)
    if rolled is None or clock is None or rolled > floor_hour(clock + CLOCK_SLACK):
        return None
    oldest = (
        CostHour.objects.filter(cluster=cluster).order_by("hour").values_list("hour", flat=True)
    )
    if (kept := oldest.first()) is None:
        return None
    start, stop = max(ceil_hour(since), kept), min(rolled, floor_hour(until))
    if until - stop < lookback(cluster):
        stop -= HOUR
    return (start, stop) if start < stop else None


def read(cluster: Cluster, start: datetime, stop: datetime) -> allocation.Bill | None:
    """The rolled bill of the whole hours [start, stop): the hours' summaries, and the
    containers' sums over them (whole UTC days from their day rows)."""
    hours = CostHour.objects.filter(cluster=cluster, hour__gte=start, hour__lt=stop)
    b = allocation.chain([_summary_bill(h) for h in hours.order_by("hour")])
    if b is None:
        return None
    sums = _summed(CostRollup.objects.filter(spans(start, stop), cluster=cluster))
    containers = pd.DataFrame.from_records(sums, columns=[*KEYS, *SUMS, "hours"])
    return replace(b, containers=containers)


def _summary_bill(h: CostHour) -> allocation.Bill:
    slot = int(pd.Timestamp(h.hour).value)
    ns = pd.DataFrame(h.namespaces or [], columns=["namespace", "node", "cpu", "memory"])
    nodes = pd.DataFrame(h.nodes or [], columns=["node", *allocation.NODE_SUMS])
    return allocation.Bill(
        containers=pd.DataFrame(columns=[*KEYS, *SUMS, "hours"]),
        namespaces=ns.assign(slot=slot),
        nodes=nodes.assign(slot=slot),
        slots=pd.DataFrame({"slot": [slot], "hours": [h.billed_hours]}),
        first=h.first_ns,
        last=h.last_ns,
        end=h.end_ns,
        nominal=h.nominal_ns,
        after=h.after_ns,
        gaps=tuple(tuple(g) for g in h.gaps),
        unscheduled=h.unscheduled,
    )


def raw_frames(cluster: Cluster, since: datetime, until: datetime) -> tuple:
    """Container and node samples of [since, until], for a bill."""
    scope = {"cluster": cluster, "ts__gte": since, "ts__lte": until}
    return (
        frame(ContainerSample.objects.filter(**scope), allocation.CONTAINER_COLUMNS),
        frame(NodeSample.objects.filter(**scope), allocation.NODE_COLUMNS),
    )


def allocation_read(
    cluster: Cluster, since: datetime, until: datetime, bucket: timedelta
) -> tuple[list, allocation.Bill | None]:
    """The bills of [since, until] and the part of them read from rollups. With hourly (or
    longer) buckets and hours rolled up: the raw partial hour before them, the rolled whole
    hours, the raw samples after them. Else one bill of every sample, in `bucket` slots."""
    span = rolled_span(cluster, since, until) if bucket % HOUR == timedelta(0) else None
    if span is None:
        c, n = raw_frames(cluster, since, until)
        return [allocation.bill(c, n, slot=bucket, interval=_interval(cluster), until=until)], None
    start, stop = span
    rolled = read(cluster, start, stop)
    # A partial hour or tail of one collection bills the rolled hours' usual interval.
    interval = (
        _interval(cluster) if rolled is None else timedelta(microseconds=rolled.nominal / 1e3)
    )
    head = None
    if since < start:
        c, n = raw_frames(cluster, since, start)
        after = next_collection(cluster, start, until)
        head = allocation.bill(
            c, n, slot=HOUR, interval=interval, until=until, end=start, after=after
        )
    c, n = raw_frames(cluster, stop, until)
    tail = allocation.bill(c, n, slot=HOUR, interval=interval, until=until)
    return [head, rolled, tail], rolled
