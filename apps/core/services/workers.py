"""Worker liveness."""

from django.utils import timezone

from ..models import WorkerHeartbeat


def worker_heartbeat(*, hostname: str, pid: int, boot: str = "") -> None:
    """Upsert the worker's row (liveness, not a domain change: not audited). `boot`: the
    process's own random id (worker.py)."""
    now = timezone.now()
    # A new process under the same name (a restarted worker) starts anew: whatever the old one
    # had claimed is lost even though the name is alive again.
    mine = WorkerHeartbeat.objects.filter(hostname=hostname)
    mine.exclude(pid=pid, boot=boot).update(started_at=now)
    n = mine.update(last_seen=now, pid=pid, boot=boot)
    if not n:
        WorkerHeartbeat.objects.bulk_create(
            [WorkerHeartbeat(hostname=hostname, pid=pid, boot=boot, started_at=now, last_seen=now)],
            ignore_conflicts=True,
        )
