"""Actions on a real Celery worker against Redis: approval queues the task on commit, the
worker changes the sandbox once, however often the task is delivered."""

import pytest

from apps.core.services import safety_mode_set
from apps.governance.action_models import Action, Status
from apps.governance.actions import action_approve, action_propose, policy_active
from apps.governance.models import Policy
from apps.governance.tasks import action_execute
from tests.support.sandbox import sandbox_cluster
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.scenario("healthy", speed=30),  # `live` moves at 30x: rollouts finish
]


def _approved(live, olivia, alice, replicas=4) -> Action:
    p = policy_active()
    Policy.objects.filter(pk=p.pk).update(rules={**p.rules, "verify_timeout_seconds": 30})
    cluster = sandbox_cluster(live)
    action = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_name="web",
        parameters={"replicas": replicas},
        reason="traffic",
    )
    return action_approve(approver=alice, action=action, reason="ok")


def _final(action: Action) -> Action:
    return wait_for(
        lambda: (a := Action.objects.get(pk=action.pk)).is_final and a,
        timeout=90,
        what=f"action #{action.pk} to finish",
    )


def test_approval_queues_it_and_the_worker_carries_it_out(
    celery_worker_process, live, olivia, alice
):
    action = _approved(live, olivia, alice)
    assert action.status == Status.QUEUED
    done = _final(action)
    assert done.status == Status.SUCCEEDED, done.status_reason
    assert live.sandbox.mutations["scale apps/deployments"] == 1


def test_the_same_action_delivered_three_times_at_once_changes_the_cluster_once(
    celery_worker_process, live, olivia, alice
):
    action = _approved(live, olivia, alice, replicas=5)
    action_execute.delay(action.pk)  # duplicates racing the one sent on commit
    action_execute.delay(action.pk)
    assert _final(action).status == Status.SUCCEEDED
    assert live.sandbox.mutations["scale apps/deployments"] == 1
    assert Action.objects.get(pk=action.pk).attempts == 1


def test_a_halt_after_queueing_means_no_change_at_all(
    celery_worker_process, live, olivia, alice, adam
):
    safety_mode_set(actor=adam, mode="halted", reason="incident")
    cluster = sandbox_cluster(live)
    action = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_name="web",
        parameters={"replicas": 6},
        reason="x",
    )
    action = action_approve(approver=alice, action=action)
    assert action.status == Status.CANCELLED
    # A direct task call changes nothing either: the task's own code, run here to its end.
    assert action_execute.apply(args=[action.pk]).get() == "skipped"
    assert Action.objects.get(pk=action.pk).status == Status.CANCELLED
    assert live.sandbox.mutations == {}
