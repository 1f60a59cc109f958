from celery import shared_task

from . import context, services


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
