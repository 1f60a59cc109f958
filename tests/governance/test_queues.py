"""Queues by kind of work: an approved action does not wait behind a training that holds the
`train` worker, and every task is routed to the queue its kind names."""

import os
import signal

import pytest
from celery import current_app
from django.conf import settings

from apps.core.models import WorkerHeartbeat
from apps.governance.action_models import Action, Status
from apps.governance.actions import action_approve, action_propose, policy_active
from apps.governance.models import Policy
from apps.predictions.models import ModelVersion
from apps.predictions.selectors import training_now
from apps.predictions.tasks import train_base
from tests.support.sandbox import sandbox_cluster
from tests.support.waiting import wait_for
from tests.support.workers import start_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.scenario("healthy", speed=30),
]


def _queue(task: str) -> str:
    route = current_app.amqp.router.route({}, task)
    return route["queue"].name.removeprefix(settings.CELERY_QUEUE_PREFIX)


def test_every_task_has_the_queue_of_its_kind():
    current_app.loader.import_default_modules()
    tasks = sorted(t for t in current_app.tasks if not t.startswith("celery."))
    assert {t: _queue(t) for t in tasks} == {
        "chaos.runs_watch": "act",
        "chaos.schedules_due": "act",
        "chaos.sweep": "act",
        "clusters.collect": "collect",
        "clusters.collect_due": "default",
        "clusters.prune_samples": "default",
        "core.audit_checkpoint": "default",
        "core.audit_verify": "train",
        "core.notification_deliver": "default",
        "core.notifications_digest": "default",
        "core.notifications_sweep": "default",
        "core.prune": "default",
        "core.safety_expire_due": "default",
        "costs.rollup_usage": "default",
        "governance.action_execute": "act",
        "governance.actions_sweep": "default",
        "governance.chaos_stop": "act",
        "healing.cycle": "score",
        "healing.logs_fetch": "score",
        "predictions.fit_anomaly": "train",
        "predictions.prune": "default",
        "predictions.retrain": "train",
        "predictions.score": "score",
        "predictions.train_base": "train",
    }
    # A worker started without -Q reads every queue.
    assert [q.name for q in current_app.conf.task_queues] == [
        settings.CELERY_QUEUE_PREFIX + q for q in ("collect", "score", "train", "act", "default")
    ]


def test_an_approved_action_runs_while_a_training_holds_the_train_worker(live, olivia, alice):
    current_app.control.purge()
    train = start_worker("train", ("train",))
    rest = start_worker("rest", ("collect", "score", "act", "default"))
    try:
        train_base.delay()  # the cold-start base model: minutes of simulation and fitting
        version = wait_for(
            lambda: training_now().filter(kind=ModelVersion.Kind.FAILURE).first(),
            timeout=60,
            what="the train worker to start training",
        )
        # Each worker's heartbeat names the queues it reads (/metrics counts their readers).
        beats = wait_for(
            lambda: (
                (
                    b := {
                        h.split("@")[0]: q
                        for h, q in WorkerHeartbeat.objects.values_list("hostname", "queues")
                    }
                ).keys()
                == {"train", "rest"}
                and b
            ),
            timeout=60,
            what="both workers' heartbeats",
        )
        assert beats == {"train": ["train"], "rest": ["act", "collect", "default", "score"]}
        p = policy_active()
        Policy.objects.filter(pk=p.pk).update(rules={**p.rules, "verify_timeout_seconds": 30})
        action = action_propose(
            actor=olivia,
            cluster=sandbox_cluster(live),
            kind="scale",
            namespace="shop",
            target_name="web",
            parameters={"replicas": 4},
            reason="traffic",
        )
        action = action_approve(approver=alice, action=action, reason="ok")
        done = wait_for(
            lambda: (a := Action.objects.get(pk=action.pk)).is_final and a,
            timeout=90,
            what=f"action #{action.pk} to finish while the training runs",
        )
        assert done.status == Status.SUCCEEDED, done.status_reason
        assert live.sandbox.mutations["scale apps/deployments"] == 1
        # The training was still running: the action never waited for it.
        assert ModelVersion.objects.get(pk=version.pk).status == ModelVersion.Status.TRAINING
    finally:
        for worker in (train, rest):
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        current_app.control.purge()
