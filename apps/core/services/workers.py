"""Worker liveness."""

from django.utils import timezone

from ..models import WorkerHeartbeat


def worker_heartbeat(
    *, hostname: str, pid: int, boot: str = "", queues: list[str] | None = None
) -> None:
    """Upsert the worker's row (liveness, not a domain change: not audited). `boot`: the
    process's own random id (worker.py); `queues`: those it reads."""
    queues = sorted(queues or [])
    now = timezone.now()
    # A new process under the same name (a restarted worker) starts anew: whatever the old one
    # had claimed is lost even though the name is alive again.
    mine = WorkerHeartbeat.objects.filter(hostname=hostname)
    mine.exclude(pid=pid, boot=boot).update(started_at=now)
    n = mine.update(last_seen=now, pid=pid, boot=boot, queues=queues)
    if not n:
        row = WorkerHeartbeat(
            hostname=hostname, pid=pid, boot=boot, queues=queues, started_at=now, last_seen=now
        )
        WorkerHeartbeat.objects.bulk_create([row], ignore_conflicts=True)
