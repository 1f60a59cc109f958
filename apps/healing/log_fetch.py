"""The latest lines on request: a person with Cap.READ_LOGS asks on the incident page, a
worker reads them, the page shows what was stored.

The web pods have no cluster credentials (deploy/kubernetes: no token for web), so the
request only writes a pending LogExcerpt (`fetching`) and queues `healing.logs_fetch` on the
`score` queue, whose worker reads with the read-only account. At most one fetch per incident
is pending (a partial unique constraint): a second click while one is pending changes
nothing. A fetch no worker finished within LOST_AFTER is marked lost (by the next request,
and shown as such meanwhile) so that it neither blocks new fetches nor keeps the page polling.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record

from . import logs
from .models import Incident, LogExcerpt

TASK = "healing.logs_fetch"  # by name: tasks.py imports this module
EXPIRES = 30  # seconds a queued fetch may wait for a worker
TIME_LIMIT = 40  # seconds it may run (three reads of at most 10 s each, and the writes)
LOST_AFTER = timedelta(seconds=EXPIRES + TIME_LIMIT + 10)
LOST = f"no worker read them within {LOST_AFTER.seconds} s of the request"
SHOWN = 12  # excerpts on the page, newest first


@dataclass
class FetchRequest:
    excerpt: LogExcerpt  # the pending row (this request's, or the one already pending)
    queued: bool  # False: one was pending already, nothing was queued


@dataclass
class StoredLogs:
    """What the incident page shows, all from the database."""

    excerpts: list[LogExcerpt] = field(default_factory=list)  # newest capture first
    fetching: LogExcerpt | None = None  # a fetch queued or running
    count: int = 0  # excerpts stored in all
    can_fetch: bool = False  # the target runs containers


def _lost_expire(incident: Incident) -> None:
    LogExcerpt.objects.filter(
        incident=incident, fetching=True, created_at__lt=timezone.now() - LOST_AFTER
    ).update(fetching=False, error=LOST)


@transaction.atomic
def log_fetch_request(*, incident: Incident, actor: AbstractBaseUser) -> FetchRequest:
    """Queue a worker read of the incident's failing container, unless one is pending. The
    pending row and its audit event are written together; the task is sent after commit."""
    require(actor, Cap.READ_LOGS)
    if not logs.has_containers(incident):
        raise ValidationFailed(
            f"a {incident.scope} incident has no container to read logs from", field="incident"
        )
    _lost_expire(incident)
    pending = LogExcerpt.objects.filter(incident=incident, fetching=True).first()
    if pending is not None:
        return FetchRequest(pending, queued=False)
    try:
        with transaction.atomic():
            row = LogExcerpt.objects.create(
                incident=incident,
                at=incident.cluster.last_cluster_time or timezone.now(),
                requested_by=actor.get_username(),
                fetching=True,
            )
    except IntegrityError:  # another request won the race: it is the pending one
        return FetchRequest(LogExcerpt.objects.get(incident=incident, fetching=True), False)
    audit_record(
        actor=actor,
        verb="incident.logs_requested",
        target_type="incident",
        target_id=str(incident.pk),
        target_repr=f"incident #{incident.pk} {incident.title}"[:200],
        after={"log_excerpt": row.pk, "target": incident.target_label},
    )
    transaction.on_commit(partial(current_app.send_task, TASK, args=(row.pk,), expires=EXPIRES))
    return FetchRequest(row, queued=True)


def log_fetch_run(*, excerpt_id: int) -> bool:
    """The worker's half: read the lines (no transaction open while the cluster answers), then
    fill the pending row (the first run read) and add one row per further run. False if the
    row is no longer pending (lost and superseded, or already done)."""
    row = (
        LogExcerpt.objects.select_related("incident__cluster")
        .filter(pk=excerpt_id, fetching=True)
        .first()
    )
    if row is None:
        return False
    found = logs.incident_logs_read(incident=row.incident)
    first, *rest = found.excerpts or [logs.Excerpt("", "", False, error=found.note)]
    return _store(row, found.at or row.at, first, rest)


def log_fetch_fail(*, excerpt_id: int, error: str) -> bool:
    """End a pending fetch with an error (the task ran out of time)."""
    n = LogExcerpt.objects.filter(pk=excerpt_id, fetching=True).update(
        fetching=False, error=error[:2000]
    )
    return n == 1


@transaction.atomic
def _store(row: LogExcerpt, at, first: logs.Excerpt, rest: list[logs.Excerpt]) -> bool:
    n = LogExcerpt.objects.filter(pk=row.pk, fetching=True).update(
        fetching=False, at=at, **_fields(first)
    )
    if n != 1:
        return False
    LogExcerpt.objects.bulk_create(
        LogExcerpt(
            incident_id=row.incident_id,
            at=at,
            requested_by=row.requested_by,
            created_at=row.created_at,  # one capture: shown together, in the order read
            **_fields(e),
        )
        for e in rest
    )
    return True


def _fields(e: logs.Excerpt) -> dict:
    return {
        "pod": e.pod,
        "container": e.container,
        "previous": e.previous,
        "lines": e.lines,
        "error": e.error[:2000],
    }


def incident_logs_stored(*, incident: Incident, with_lines: bool) -> StoredLogs:
    """The stored excerpts, newest capture first (the runs of one capture in the order read),
    and the pending fetch if one is still in time. with_lines=False (viewers) counts only."""
    rows = incident.log_excerpts.all()
    out = StoredLogs(
        count=rows.filter(fetching=False).count(), can_fetch=logs.has_containers(incident)
    )
    if not with_lines:
        return out
    shown = list(rows.order_by("-created_at", "pk")[: SHOWN + 1])
    fresh = timezone.now() - LOST_AFTER
    out.fetching = next((e for e in shown if e.fetching and e.created_at >= fresh), None)
    out.excerpts = [e for e in shown if e is not out.fetching][:SHOWN]
    for e in out.excerpts:
        if e.fetching:  # lost: shown as such until the next request marks it
            e.error = LOST
    return out
