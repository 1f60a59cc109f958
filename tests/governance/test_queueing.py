"""Approval reaches the executor's Celery task through governance/queueing.py, where the app
registers it at start-up: the actions never import the task module that imports them."""

from apps.governance import queueing
from apps.governance.tasks import action_execute


def test_the_app_registers_the_executor_task_at_start_up():
    assert queueing.executor_registered() == action_execute.delay_on_commit


def test_it_queues_through_whatever_is_registered():
    sent: list[int] = []
    registered = queueing.executor_registered()
    queueing.executor_register(sent.append)
    try:
        queueing.queue_execution(7)
    finally:
        queueing.executor_register(registered)
    assert sent == [7]
    assert queueing.executor_registered() == action_execute.delay_on_commit
