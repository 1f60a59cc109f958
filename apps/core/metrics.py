"""GET /metrics: ZeroTouch's own health in the Prometheus text format.

Everything is read from the database (and the broker) at scrape time, so every web process
answers the same whichever one Prometheus reaches: the workers write what only they know
(durations and failures of collections, scorings and trainings: WorkStat) and heartbeats; the
apps add their own families through PROMETHEUS_PARTS (clusters, governance, healing).
"""

import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.db.models import (
    Count,
    DurationField,
    Expression,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from .models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditVerification,
    Delivery,
    SafetyMode,
    WorkerHeartbeat,
    WorkStat,
)
from .registry import PROMETHEUS_PARTS
from .selectors import worker_lost_after
from .services.metrics import BUCKETS

log = logging.getLogger(__name__)
STORM_BRAKE_ACTOR = "system:storm-brake"
# What each kind of background work is called in WorkStat, and what its families say.
WORK = {
    "collection": "collections of a cluster (inventory, metrics, events)",
    "scoring": "scorings of a cluster (risk and anomalies)",
    "training": "trainings of a model",
}


def histogram(
    name: str, doc: str, label: str, rows: QuerySet, start: str, end: Expression | str
) -> HistogramMetricFamily:
    """A histogram of `end - start` (seconds) over `rows`, one series per value of `label`,
    counted in the database (one query, whatever the number of rows). Rows without an end are
    left out; a negative span counts as zero."""
    span = ExpressionWrapper(
        (F(end) if isinstance(end, str) else end) - F(start), output_field=DurationField()
    )
    zero = timedelta(0)
    counts = {
        f"le_{i}": Count("pk", filter=Q(span__lte=timedelta(seconds=b)))
        for i, b in enumerate(BUCKETS)
    }
    totals = (
        rows.annotate(span=span)
        .filter(span__isnull=False)
        .values(label)
        .annotate(n=Count("pk"), total=Sum("span", filter=Q(span__gt=zero)), **counts)
        .order_by(label)
    )
    family = HistogramMetricFamily(name, doc, labels=[label])
    for row in totals:
        buckets = [(_le(b), row[f"le_{i}"]) for i, b in enumerate(BUCKETS)]
        buckets.append(("+Inf", row["n"]))
        family.add_metric([row[label]], buckets, (row["total"] or zero).total_seconds())
    return family


def _le(bound: float) -> str:
    return str(float(bound))


def _ts(dt) -> float:
    return dt.timestamp() if dt else 0.0


def _work() -> list[Metric]:
    out = []
    stats = list(WorkStat.objects.order_by("name", "key"))
    for name, doc in WORK.items():
        rows = [s for s in stats if s.name == name]
        labels = sorted({k for s in rows for k in s.labels}) or (
            ["kind"] if name == "training" else ["cluster"]
        )
        duration = HistogramMetricFamily(
            f"zerotouch_{name}_duration_seconds", f"Duration of {doc}.", labels=labels
        )
        failures = CounterMetricFamily(
            f"zerotouch_{name}_failures", f"Failed {doc}.", labels=labels
        )
        for s in rows:
            values = [str(s.labels.get(k, "")) for k in labels]
            buckets = [(_le(b), n) for b, n in zip(BUCKETS, s.buckets, strict=False)]
            buckets.append(("+Inf", s.count))
            duration.add_metric(values, buckets, s.sum_seconds)
            failures.add_metric(values, s.failures)
        out += [duration, failures]
    return out


def _workers() -> list[Metric]:
    now = timezone.now()
    alive = WorkerHeartbeat.objects.filter(last_seen__gte=now - worker_lost_after()).count()
    workers = GaugeMetricFamily(
        "zerotouch_workers_alive", "Celery workers whose heartbeat is recent.", value=alive
    )
    readers = dict.fromkeys(settings.TASK_QUEUES, 0)
    live = WorkerHeartbeat.objects.filter(last_seen__gte=now - worker_lost_after())
    for queues in live.values_list("queues", flat=True):
        for queue in queues or []:
            if queue in readers:
                readers[queue] += 1
    per_queue = GaugeMetricFamily(
        "zerotouch_queue_workers",
        "Workers with a recent heartbeat that read each queue (0: its tasks wait forever).",
        labels=["queue"],
    )
    for queue, n in readers.items():
        per_queue.add_metric([queue], n)
    seen = GaugeMetricFamily(
        "zerotouch_worker_last_seen_timestamp_seconds",
        "When each worker last wrote its heartbeat.",
        labels=["hostname"],
    )
    # Workers seen in the last day: a pod name per rollout would otherwise add a series forever.
    for w in WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(days=1)).order_by(
        "hostname"
    ):
        seen.add_metric([w.hostname], _ts(w.last_seen))
    return [workers, per_queue, seen]


def queue_lengths() -> dict[str, int | None]:
    """Tasks waiting in each queue (None when the broker cannot be asked)."""
    names = {q: settings.CELERY_QUEUE_PREFIX + q for q in settings.TASK_QUEUES}
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith("redis"):
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            with client.pipeline() as pipe:
                for full in names.values():
                    pipe.llen(full)
                return dict(zip(names, pipe.execute(), strict=True))
        if url.startswith("filesystem"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            files = [p.name for p in folder.iterdir()]
            return {q: sum(f.endswith(f".{full}.msg") for f in files) for q, full in names.items()}
    except (OSError, redis.RedisError) as exc:
        log.warning("metrics: queue lengths unavailable: %s", exc)
    return dict.fromkeys(names)


def _queues() -> list[Metric]:
    family = GaugeMetricFamily(
        "zerotouch_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"]
    )
    for queue, n in queue_lengths().items():
        if n is not None:
            family.add_metric([queue], n)
    return [family]


def _safety() -> list[Metric]:
    mode = GaugeMetricFamily(
        "zerotouch_safety_mode",
        "1 for the mode each scope is in (global, cluster:<id>).",
        labels=["scope", "mode"],
    )
    brake = GaugeMetricFamily(
        "zerotouch_storm_brake_engaged",
        "1 while the storm brake holds a cluster halted.",
        labels=["scope"],
    )
    for row in SafetyMode.objects.order_by("scope"):
        mode.add_metric([row.scope, row.mode], 1)
        if row.scope != "global":
            engaged = row.mode == "halted" and row.changed_by == STORM_BRAKE_ACTOR
            brake.add_metric([row.scope], int(engaged))
    return [mode, brake]


def _audit() -> list[Metric]:
    head = AuditChainHead.objects.filter(pk=1).first()
    out = [
        GaugeMetricFamily(
            "zerotouch_audit_chain_head_seq",
            "Sequence number of the newest audit event.",
            value=head.seq if head else 0,
        )
    ]
    checkpoint = AuditCheckpoint.objects.order_by("-pk").first()
    if checkpoint:
        out += [
            GaugeMetricFamily(
                "zerotouch_audit_checkpoint_seq",
                "Head the newest signed checkpoint covers.",
                value=checkpoint.seq,
            ),
            GaugeMetricFamily(
                "zerotouch_audit_checkpoint_timestamp_seconds",
                "When the newest checkpoint was written.",
                value=_ts(checkpoint.at),
            ),
            GaugeMetricFamily(
                "zerotouch_audit_checkpoint_sink_failures",
                "Sinks that refused the newest checkpoint.",
                value=len(checkpoint.failed or []),
            ),
        ]
    verified = AuditVerification.objects.order_by("-at", "-pk").first()
    if verified:
        out += [
            GaugeMetricFamily(
                "zerotouch_audit_verification_ok",
                "1 when the newest verification of the audit chain found it intact.",
                value=int(verified.ok),
            ),
            GaugeMetricFamily(
                "zerotouch_audit_verified_head_seq",
                "Head of the chain at the newest verification.",
                value=verified.head_seq,
            ),
            GaugeMetricFamily(
                "zerotouch_audit_verification_timestamp_seconds",
                "When the audit chain was last verified.",
                value=_ts(verified.at),
            ),
        ]
    return out


def _notifications() -> list[Metric]:
    deliveries = GaugeMetricFamily(
        "zerotouch_notification_deliveries",
        "Notification deliveries kept, by channel and state (pending, sending, sent, failed).",
        labels=["channel", "kind", "status"],
    )
    attempts = CounterMetricFamily(
        "zerotouch_notification_attempts",
        "Attempts made to deliver notifications kept, by channel (retries included).",
        labels=["channel", "kind"],
    )
    rows = (
        Delivery.objects.values("channel__name", "channel__kind", "status")
        .annotate(n=Count("pk"), tries=Sum("attempts"))
        .order_by("channel__name", "status")
    )
    tried: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["channel__name"], row["channel__kind"])
        deliveries.add_metric([*key, row["status"]], row["n"])
        tried[key] = tried.get(key, 0) + (row["tries"] or 0)
    for key, n in tried.items():
        attempts.add_metric(list(key), n)
    return [deliveries, attempts]


class ZeroTouchCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from _work()
        yield from _workers()
        yield from _queues()
        yield from _safety()
        yield from _audit()
        yield from _notifications()
        for _name, part in PROMETHEUS_PARTS.items():
            yield from part()


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(ZeroTouchCollector())
