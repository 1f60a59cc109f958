"""kill -9 in the middle of actions: of the worker's pool child, and of the whole worker, 6
times each in CI (RELIABILITY_ROUNDS=20 or more for a longer run). Every action ends in a final
state with at most one effective change at the sandbox, and the interruption is in the audit
log."""

import os
import signal

import pytest
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.services import safety_switch_set
from apps.governance.action_models import Action, Status
from apps.governance.actions import action_approve, action_propose, policy_active
from apps.governance.models import Policy
from apps.governance.tasks import actions_sweep
from tests.support.paths import REAL_SERVICES
from tests.support.sandbox import sandbox_cluster, start_sandbox
from tests.support.waiting import wait_for
from tests.support.workers import children, start_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROUNDS = int(os.environ.get("RELIABILITY_ROUNDS", "6"))
TARGETS = ["web", "api", "worker"]


@pytest.fixture
def setup(tmp_path, adam):
    if not REAL_SERVICES:
        pytest.skip("needs PostgreSQL and Redis (fallback run)")
    from aiops_site.celery import app

    app.control.purge()  # this run's queue only
    server = start_sandbox(tmp_path, speed=40)
    p = policy_active()
    Policy.objects.filter(pk=p.pk).update(
        rules={**p.rules, "execution_timeout_seconds": 3, "verify_timeout_seconds": 30}
    )
    # Many restarts of three deployments in a minute: the budgets would (rightly) stop them.
    safety_switch_set(actor=adam, name="lift_blast_radius", enabled=True, reason="test")
    cluster = sandbox_cluster(server)
    yield server, cluster
    server.stop()


def _action(cluster, olivia, alice, i: int) -> Action:
    a = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="rollout_restart",
        namespace="shop",
        target_name=TARGETS[i % 3],
        reason=f"round {i}",
    )
    return action_approve(approver=alice, action=a)  # queued; its task is sent on commit


def _lease_over(pk: int) -> bool:
    a = Action.objects.get(pk=pk)
    return a.is_final or a.lease_until is None or a.lease_until < timezone.now()


def _state(pk: int) -> str:
    return Action.objects.filter(pk=pk).values_list("status", flat=True).first()


@pytest.mark.parametrize("victim", ["child", "worker"])
def test_kill_9_mid_action_never_loses_or_repeats_a_change(setup, olivia, alice, victim):
    server, cluster = setup
    worker = start_worker("reliability")
    actions = []
    try:
        for i in range(ROUNDS):
            action = _action(cluster, olivia, alice, i)
            actions.append(action.pk)
            wait_for(
                lambda pk=action.pk: _state(pk) != Status.QUEUED,
                timeout=60,
                what="the worker to claim the action",
                interval=0.02,
            )
            if victim == "child":
                for child in children(worker.pid):
                    os.kill(child, signal.SIGKILL)  # the pool restarts a child by itself
            else:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)
                worker = start_worker("reliability")
            wait_for(  # the lease runs out (3 s: execution_timeout_seconds)
                lambda pk=action.pk: _lease_over(pk),
                timeout=30,
                what="the interrupted attempt's lease to run out",
                interval=0.1,
            )
            actions_sweep.delay()  # what beat does every 30 s
            try:
                wait_for(
                    lambda pk=action.pk: Action.objects.get(pk=pk).is_final,
                    timeout=90,
                    what=f"action {action.pk} to reach a final state",
                    interval=0.2,
                )
            except AssertionError:
                a = Action.objects.get(pk=action.pk)
                trail = list(
                    AuditEvent.objects.filter(target_id=str(a.pk)).values_list("verb", "reason")
                )
                raise AssertionError(
                    f"{a.status} lease={a.lease_until} attempts={a.attempts} trail={trail}"
                ) from None
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finals = dict(Action.objects.filter(pk__in=actions).values_list("pk", "status"))
    assert all(s == Status.SUCCEEDED for s in finals.values()), finals
    # One rollout per action, however often it was attempted.
    assert server.sandbox.effective_mutations["patch apps/deployments"] == len(actions)
    interrupted = AuditEvent.objects.filter(
        verb="action.running", reason="resumed after an interrupted attempt"
    ).count()
    assert interrupted >= 1  # the interruptions are visible in the audit log
