"""A resource patch whose new pods are OOM-killed is rolled back by itself, on a real Celery
worker against the sandbox in fast-forward; a patch that is fine still succeeds."""

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.core.models import AuditEvent
from apps.governance.action_models import Action, Status
from apps.governance.actions import action_approve, action_propose, policy_active
from apps.governance.models import Policy
from tests.support.sandbox import sandbox_cluster
from tests.support.waiting import wait_for

# `live`: the healthy cluster at 30x: the api's working set is about 300Mi, so a 64Mi limit is
# OOM-killed as its pods warm up.
pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.scenario("healthy", speed=30),
]


@pytest.fixture
def watch_policy(db):
    p = policy_active()
    rules = {**p.rules, "verify_timeout_seconds": 60, "resources_watch_seconds": 90}
    Policy.objects.filter(pk=p.pk).update(rules=rules)


def _resources(server) -> dict:
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(str(server.kubeconfig), "sandbox"))
    dep = api.read_namespaced_deployment("api", "shop")
    r = dep.spec.template.spec.containers[0].resources
    return {"requests": r.requests, "limits": r.limits}


def _patch_api(live, olivia, alice, resources: dict) -> Action:
    action = action_propose(
        actor=olivia,
        cluster=sandbox_cluster(live),
        kind="patch_resources",
        namespace="shop",
        target_name="api",
        parameters={"container": "api", **resources},
        reason="rightsizing",
    )
    return action_approve(approver=alice, action=action, reason="ok")


def _final(action: Action) -> Action:
    return wait_for(
        lambda: (a := Action.objects.get(pk=action.pk)).is_final and a,
        timeout=120,
        what=f"action #{action.pk} to finish",
    )


def test_it_rolls_back_a_patch_whose_pods_are_oom_killed(
    celery_worker_process, live, olivia, alice, watch_policy
):
    before = _resources(live)
    assert before["limits"]["memory"] == "768Mi"
    action = _patch_api(
        live, olivia, alice, {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    )
    assert action.status == Status.QUEUED
    done = _final(action)
    assert done.status == Status.ROLLED_BACK, done.status_reason
    assert "OOMKilled" in done.status_reason and "pod shop/api-" in done.status_reason
    assert "rolled back to revision" in done.status_reason
    assert "OOMKilled" in done.result["verification"]
    wait_for(lambda: _resources(live) == before, timeout=10, what="the api's resources restored")
    event = AuditEvent.objects.get(verb="action.rolled_back", target_id=str(action.pk))
    assert "OOMKilled" in event.reason
    assert live.sandbox.mutations["patch apps/deployments"] == 2  # the patch, then the undo


def test_a_patch_that_is_fine_still_succeeds(
    celery_worker_process, live, olivia, alice, watch_policy
):
    resources = {"requests": {"memory": "320Mi"}, "limits": {"memory": "640Mi"}}
    done = _final(_patch_api(live, olivia, alice, resources))
    assert done.status == Status.SUCCEEDED, done.status_reason
    assert "no OOM kill or restart" in done.status_reason
    assert _resources(live)["limits"]["memory"] == "640Mi"
    assert not AuditEvent.objects.filter(verb="action.rolled_back").exists()
