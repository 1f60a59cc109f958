"""Where an approved action goes to be carried out: the executor's Celery task.

The task module imports the actions (the sweep expires and reclaims them), so the actions do
not import it back: the app registers the task's `delay_on_commit` here when Django is ready
(apps.py), and approval calls `queue_execution`. Until then nothing can be queued, and saying
so is better than an action approved and silently left behind.
"""

from collections.abc import Callable

_send: list[Callable[[int], None]] = []


def executor_register(send: Callable[[int], None]) -> None:
    """Set the function that queues one action's execution after the commit (once per
    process; a second registration replaces the first, as a reloaded app would)."""
    _send[:] = [send]


def executor_registered() -> Callable[[int], None] | None:
    return _send[0] if _send else None


def queue_execution(action_id: int) -> None:
    """Queue the executor for `action_id` once the current transaction commits."""
    if not _send:
        raise RuntimeError("no executor is registered: the governance app is not ready")
    _send[0](action_id)
