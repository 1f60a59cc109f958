from celery import shared_task

from . import context
from .services import safety_expire_due as _expire


@shared_task(name="governance.safety_expire_due", bind=True, ignore_result=True)
def safety_expire_due(self) -> int:
    """Beat, every 15 s: expired modes and switches fall back (and are audited)."""
    with context.bound(request_id=f"task:{self.request.id or 'local'}"):
        return _expire()
