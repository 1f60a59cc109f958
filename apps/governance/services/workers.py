"""Worker liveness."""

from django.utils import timezone

from ..models import WorkerHeartbeat


def worker_heartbeat(*, hostname: str, pid: int) -> None:
    """Upsert the worker's row (liveness, not a domain change: not audited)."""
    now = timezone.now()
    # A new process under the same name (a restarted worker) starts anew: whatever the old one
    # had claimed is lost even though the name is alive again.
    WorkerHeartbeat.objects.filter(hostname=hostname).exclude(pid=pid).update(started_at=now)
    n = WorkerHeartbeat.objects.filter(hostname=hostname).update(last_seen=now, pid=pid)
    if not n:
        WorkerHeartbeat.objects.bulk_create(
            [WorkerHeartbeat(hostname=hostname, pid=pid, started_at=now, last_seen=now)],
            ignore_conflicts=True,
        )
