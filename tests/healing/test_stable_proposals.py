"""Stable proposals (issue 17, item 4): a waiting fix is replaced only when what it does changes
materially; a replaced one stays in the inbox, marked, and approving it points at its
successor instead of failing."""

import json

import pytest
from django.test import Client

from apps.governance.action_models import Action, Status
from apps.governance.actions import (
    action_approve,
    action_propose,
    action_replace,
    action_withdraw,
)
from apps.governance.errors import Replaced
from apps.healing import runbooks
from apps.healing.diagnose import Cause
from tests.support.sandbox import sandbox_cluster, start_sandbox


def _plan(kind, target="web", targets=(), cause=Cause.BAD_ROLLOUT, **parameters):
    return runbooks.Plan(
        runbooks.runbook_for(cause), kind, "shop", target, parameters, targets=targets
    )


def test_a_field_the_cluster_filled_in_is_no_change():
    """The issue's churn: {'revision': 1} against {'revision': 1, 'template_hash': ...}."""
    proposed = _plan("rollout_undo", revision=1, template_hash="7c9f6d5b8")
    assert runbooks.stale(proposed, _plan("rollout_undo", revision=1)) == ""
    assert "revision" in runbooks.stale(proposed, _plan("rollout_undo", revision=2))


@pytest.mark.parametrize(
    ("was", "now", "stale"), [(6, 5, False), (6, 6, False), (6, 7, True), (4, 9, True)]
)
def test_a_scale_is_replaced_only_when_more_replicas_are_needed(was, now, stale):
    sat = Cause.SATURATION
    fresh, proposed = (
        _plan("scale", cause=sat, replicas=now),
        _plan("scale", cause=sat, replicas=was),
    )
    assert bool(runbooks.stale(proposed, fresh)) is stale


def test_a_restart_of_a_pod_that_is_still_unready_still_fits():
    proposed = _plan("restart_pod", target="web-b", cause=Cause.READINESS)
    fresh = _plan("restart_pod", target="web-a", targets=("web-a", "web-b"), cause=Cause.READINESS)
    assert runbooks.stale(proposed, fresh) == ""
    gone = _plan("restart_pod", target="web-a", targets=("web-a",), cause=Cause.READINESS)
    assert "target" in runbooks.stale(proposed, gone)


@pytest.mark.parametrize(("was", "now", "stale"), [(512, 600, False), (512, 641, True)])
def test_a_memory_limit_is_replaced_only_a_step_apart(was, now, stale):
    leak = Cause.MEMORY_LEAK
    proposed = _plan("patch_resources", cause=leak, container="api", limits={"memory": f"{was}Mi"})
    fresh = _plan("patch_resources", cause=leak, container="api", limits={"memory": f"{now}Mi"})
    assert bool(runbooks.stale(proposed, fresh)) is stale


@pytest.fixture
def replaced(tmp_path, db):
    """A proposal by healing replaced by a fresh one, as a cycle does when the first goes
    stale."""
    server = start_sandbox(tmp_path)
    cluster = sandbox_cluster(server)

    def scale(replicas):
        return action_propose(
            actor="system:healing",
            cluster=cluster,
            kind="scale",
            namespace="shop",
            target_name="web",
            parameters={"replicas": replicas},
            reason="incident #1: CPU saturated",
            judged=("P3", "low"),
            source="healing",
        )

    old = scale(4)
    action_withdraw(actor="system:healing", action=old, reason="stale: 5 replicas now")
    new = scale(5)
    action_replace(actor="system:healing", action=old, successor=new, reason="5 replicas now")
    yield old, new
    server.stop()


def test_approving_a_replaced_proposal_points_at_its_successor(replaced, alice):
    old, new = replaced
    with pytest.raises(Replaced) as exc:
        action_approve(approver=alice, action=old)
    assert exc.value.successor == new.pk
    c = Client()
    c.force_login(alice)
    shown = {"reason": "ok", "fingerprint": old.fingerprint}
    page = c.post(f"/actions/{old.pk}/approve", shown, follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    assert f'href="/actions/{new.pk}/"' in text and "replaced by" in text
    assert Action.objects.get(pk=old.pk).status == Status.CANCELLED
    assert Action.objects.get(pk=new.pk).status == Status.PROPOSED  # nothing approved
    api = c.post(f"/api/actions/{old.pk}/approve", json.dumps({}), content_type="application/json")
    assert api.status_code == 409 and api.json()["successor"] == new.pk


def test_a_replaced_row_stays_in_the_inbox_marked_with_its_successor(replaced, alice):
    old, new = replaced
    c = Client()
    c.force_login(alice)
    inbox = c.get("/approvals/", headers={"HX-Request": "true"}).content.decode()
    assert f'data-testid="replaced-{old.pk}"' in inbox and f"replaced by #{new.pk}" in inbox
    assert f'data-testid="approve-{new.pk}"' in inbox
    assert f'data-testid="approve-{old.pk}"' not in inbox
    assert "Waiting for approval (1)" in inbox
