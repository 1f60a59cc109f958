from celery import shared_task
from django.utils import timezone

from . import context, services
from .services import deliveries


@shared_task(name="core.safety_expire_due", bind=True, ignore_result=True)
def safety_expire_due(self) -> int:
    """Beat, every 15 s: expired modes and switches fall back (and are audited)."""
    with context.bound(request_id=f"task:{self.request.id or 'local'}"):
        return services.safety_expire_due()


@shared_task(name="core.audit_checkpoint", ignore_result=True, expires=120)
def audit_checkpoint() -> int | None:
    """Beat, every AUDIT_CHECKPOINT_SECONDS: sign the audit chain's head and write it to the
    sinks outside the database (only when it moved)."""
    cp = services.audit_checkpoint_write()
    return cp.seq if cp else None


@shared_task(name="core.audit_verify", ignore_result=True, soft_time_limit=1500, time_limit=1600)
def audit_verify() -> bool:
    """Beat, every AUDIT_VERIFY_SECONDS: verify the chain and its checkpoints and keep the
    result for /metrics (an alert fires when it failed)."""
    return services.audit_verify().ok


@shared_task(
    name="core.notification_deliver",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # the delivery counts its attempts (NOTIFY_MAX_ATTEMPTS)
)
def notification_deliver(self, delivery_id: int) -> str | None:
    """Send one notification to one channel; on a 5xx, 429 or timeout, retry with back-off at
    the time the delivery records (NOTIFY_RETRY_SECONDS, doubling)."""
    d = deliveries.notification_deliver(delivery_id=delivery_id)
    if d is None:
        return None  # another worker has it, or it is settled
    if d.status == "pending":
        wait = (d.deliver_after - timezone.now()).total_seconds()
        raise self.retry(countdown=max(0.0, wait))
    return d.status


@shared_task(name="core.notifications_sweep", ignore_result=True, expires=60)
def notifications_sweep() -> int:
    """Beat, every minute: queue deliveries that are due and that no task carries (quiet hours
    ended, queueing lost, a worker died mid-send)."""
    due = deliveries.notifications_due()
    deliveries.deliveries_enqueue(due)
    return len(due)


@shared_task(name="core.notifications_digest", ignore_result=True, expires=600)
def notifications_digest() -> int:
    """Beat, every NOTIFY_DIGEST_MINUTES: one message per channel with its batched events."""
    return deliveries.notifications_digest_send()


@shared_task(name="core.prune", ignore_result=True)
def prune() -> dict:
    """Beat, hourly: rows past SAMPLE_RETENTION_DAYS nobody needs go (services/retention.py)."""
    return services.retention_prune()
