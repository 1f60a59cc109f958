"""Reading a cluster's samples by the hour, for the rollups (rollups.py) and the bills
(billing.py): hour and day arithmetic, how far samples are complete, the look-back that sees a
restart across an hour's start, and value reads straight from the driver."""

from datetime import datetime, timedelta
from operator import itemgetter

import numpy as np
import pandas as pd
from django.db import connections
from django.db.models import FloatField, Func, Q

from apps.clusters.models import Cluster

from .rightsizing import DEFAULT_POLICY

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# Samples read before an hour to see the restarts and OOM kills at its start: the start-up
# window plus two collection intervals of the slowest usual setting (see lookback()).
LOOKBACK = DEFAULT_POLICY.startup_window + timedelta(minutes=2)
# A clock that goes back by more than this before the mark rebuilds the rollups; less is jitter.
CLOCK_SLACK = timedelta(minutes=5)


def lookback(cluster: Cluster) -> timedelta:
    """At least two of the cluster's collection intervals, so each pod's previous sample is
    seen (else an OOM-killed container still marked oom_killed would count as killed again)."""
    return max(LOOKBACK, timedelta(seconds=2 * cluster.collect_interval_seconds + 60))


def ceil_day(t: datetime) -> datetime:
    f = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return f if f == t else f + DAY


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


def complete_until(cluster: Cluster) -> datetime | None:
    """Samples before this are all stored: a Prometheus backfill writes history up to
    history_until; the metrics API writes each collection at the cluster's clock."""
    if cluster.prometheus_url:
        return cluster.history_until
    return cluster.last_cluster_time


class Epoch(Func):
    """Unix seconds of a datetime column, computed by the database: the driver then loads
    floats instead of parsing datetimes (3 s of a 260,000-row read)."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra)


def fetch(qs, fields: tuple[str, ...]) -> list[tuple]:
    """`qs.values_list(*fields)` straight from the driver, in the order of `fields`: Django's
    per-value converters cost seconds on 260,000 rows, and nothing here needs them (times are
    read as Epoch floats; JSON may come as text and is decoded by the reader)."""
    sql, params = qs.values_list(*fields).query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        names = [d[0] for d in cursor.description]  # the SELECT puts annotations last
        rows = cursor.fetchall()
    order = [names.index(f) for f in fields]
    if order == list(range(len(names))):
        return rows
    pick = itemgetter(*order)
    return [pick(r) for r in rows]


def frame(qs, fields: tuple[str, ...]) -> pd.DataFrame:
    """`qs.values_list(*fields)` as a DataFrame, its "ts" read as Unix seconds computed by the
    database and rebuilt as UTC timestamps (to the millisecond), also kept as "ts_s"."""
    names = tuple("_ts_s" if f == "ts" else f for f in fields)
    rows = fetch(qs.annotate(_ts_s=Epoch("ts")), names)
    df = pd.DataFrame.from_records(rows, columns=list(fields))
    if not df.empty:
        # Truncated (a sample at 10:59:59.9996 stays in hour 10), past float error (1 µs).
        millis = np.floor(df["ts"].to_numpy(dtype=float) * 1000 + 1e-3).astype(np.int64)
        df["ts"] = pd.to_datetime(millis, unit="ms", utc=True)
        df["ts_s"] = millis / 1000
    return df


def spans(start: datetime, until: datetime) -> Q:
    """The rollup rows of the hours [start, until), `start` a whole hour: whole UTC days as
    their day rows, the hours around them as hour rows."""
    first_day, last_day = ceil_day(start), until.replace(hour=0, minute=0, second=0, microsecond=0)
    if first_day >= last_day:
        return Q(hours=1, hour__gte=start, hour__lt=until)
    return (
        Q(hours=24, hour__gte=first_day, hour__lt=last_day)
        | Q(hours=1, hour__gte=start, hour__lt=first_day)
        | Q(hours=1, hour__gte=last_day, hour__lt=until)
    )
