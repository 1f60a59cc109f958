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


_stop: list[Callable[[int, str, str], None]] = []


def chaos_stop_register(send: Callable[[int, str, str], None]) -> None:
    """Set the function that queues the ending of a chaos fault after the commit."""
    _stop[:] = [send]


def queue_chaos_stop(action_id: int, *, actor: str, reason: str) -> None:
    """Queue the executor to end chaos Action `action_id`'s fault once the current transaction
    commits (cancelled if it has not run, its Chaos Mesh object deleted if it has)."""
    if not _stop:
        raise RuntimeError("no chaos stop is registered: the governance app is not ready")
    _stop[0](action_id, actor, reason)
