from celery import shared_task

from apps.core import context

from .actions import actions_expire_due, actions_reclaim_from_lost_workers
from .executor import RetryLater, chaos_stop, execute
from .selectors import lost_action_ids


@shared_task(
    name="governance.action_execute",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RetryLater,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def action_execute(self, action_id: int) -> str:
    """Execute one approved action (claimed with a lease: at most one effective change)."""
    with context.bound(request_id=f"task:{self.request.id or 'local'}"):
        return execute(action_id, worker=self.request.hostname or "")


@shared_task(name="governance.actions_sweep", ignore_result=True)
def actions_sweep() -> int:
    """Beat, every 30 s: expire proposals nobody approved in time; re-queue actions whose task
    was lost or whose worker died (their lease ran out). Nothing is silently dropped."""
    with context.bound(request_id="task:sweep"):
        actions_expire_due()
        actions_reclaim_from_lost_workers()
        return len([action_execute.delay(pk) for pk in lost_action_ids()])


@shared_task(
    name="governance.chaos_stop",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RetryLater,),
    retry_backoff=1,
    retry_backoff_max=15,
    max_retries=20,
    ignore_result=True,
)
def chaos_stop_task(self, action_id: int, actor: str, reason: str) -> str:
    """End a chaos fault early (an abort, the emergency stop, the sweeper): retried until the
    cluster answers, because a fault left behind is worse than a late delete."""
    with context.bound(request_id=f"task:{self.request.id or 'local'}"):
        return chaos_stop(action_id, actor=actor, reason=reason)
