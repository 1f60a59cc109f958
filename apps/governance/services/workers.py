"""Worker liveness."""

from django.utils import timezone

from ..models import WorkerHeartbeat


def worker_heartbeat(*, hostname: str, pid: int) -> None:
    """Upsert the worker's row (liveness, not a domain change: not audited)."""
    now = timezone.now()
    n = WorkerHeartbeat.objects.filter(hostname=hostname).update(last_seen=now, pid=pid)
    if not n:
        WorkerHeartbeat.objects.bulk_create(
            [WorkerHeartbeat(hostname=hostname, pid=pid, started_at=now, last_seen=now)],
            ignore_conflicts=True,
        )
