"""Worker faults in plain sight (issue 18, defect 6): an action whose worker stopped shows it
at once and is queued again by the next sweep, not after its whole lease; "no worker" shows
in the banner on every page and on the Approvals page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import AuditEvent, WorkerHeartbeat
from apps.core.services import worker_heartbeat
from apps.governance import executor
from apps.governance.action_models import Action, Status
from apps.governance.actions import (
    action_approve,
    action_propose,
    actions_reclaim_from_lost_workers,
)
from apps.governance.selectors import lost_action_ids

# `cluster`: the sandbox at 30x, registered.
pytestmark = [pytest.mark.django_db, pytest.mark.scenario("healthy", speed=30)]


@pytest.fixture
def running(cluster, olivia, alice):
    """An approved action claimed by the worker `w1@host` (pid 100), as its task would."""
    worker_heartbeat(hostname="w1@host", pid=100)
    a = action_propose(
        actor=olivia,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_name="web",
        parameters={"replicas": 4},
        reason="traffic",
    )
    a = action_approve(approver=alice, action=a)
    return executor.claim(a.pk, 300, "w1@host")


def _silence(hostname: str, seconds: float) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname).update(
        last_seen=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_live_worker_holds_its_action_undisturbed(running, vic):
    assert actions_reclaim_from_lost_workers() == []
    c = Client()
    c.force_login(vic)
    page = c.get(f"/actions/{running.pk}/").content.decode()
    assert "Running on w1@host" in page and "Worker lost" not in page


def test_an_action_whose_worker_went_silent_shows_it_and_is_queued_again_now(running, vic):
    _silence("w1@host", 120)
    c = Client()
    c.force_login(vic)
    page = c.get(f"/actions/{running.pk}/").content.decode()
    assert 'data-testid="action-worker"' in page
    assert "Worker lost: w1@host last seen 2\xa0minutes ago; retrying by" in page
    assert f'data-testid="worker-lost-{running.pk}"' in c.get("/approvals/").content.decode()
    api = c.get(f"/api/actions/{running.pk}").json()["worker"]
    assert api["lost"] is True and api["holder"] == "w1@host"
    # The next two sweeps end its lease (5 minutes away) now, audited, and queue it again:
    # the first notes the silence, the second acts on it.
    assert running.pk not in lost_action_ids()
    assert actions_reclaim_from_lost_workers() == []
    assert actions_reclaim_from_lost_workers() == [running.pk]
    assert running.pk in lost_action_ids()
    lost = AuditEvent.objects.get(verb="action.worker_lost")
    assert "w1@host stopped" in lost.reason and lost.actor == "system:sweep"
    # Another worker picks it up; the claim makes that the only run.
    worker_heartbeat(hostname="w2@host", pid=200)
    assert executor.execute(running.pk, worker="w2@host") == Status.SUCCEEDED
    assert Action.objects.get(pk=running.pk).lease_holder == "w2@host"


@pytest.mark.parametrize("restart", [{"pid": 101}, {"pid": 100, "boot": "another"}])
def test_a_worker_restarted_under_the_same_name_no_longer_holds_its_old_claim(running, restart):
    """A new process, heart-beating again under the same name: in a container even its pid is
    the same (1), so the process's own boot id tells."""
    worker_heartbeat(hostname="w1@host", **restart)
    assert actions_reclaim_from_lost_workers() == []
    assert actions_reclaim_from_lost_workers() == [running.pk]


def test_a_worker_heard_from_again_between_two_sweeps_keeps_its_action(running):
    """One silent sweep can be a database hiccup: a heartbeat before the next keeps it."""
    _silence("w1@host", 120)
    assert actions_reclaim_from_lost_workers() == []
    worker_heartbeat(hostname="w1@host", pid=100)
    assert actions_reclaim_from_lost_workers() == []
    _silence("w1@host", 120)
    assert actions_reclaim_from_lost_workers() == []  # a fresh first observation
    assert Action.objects.get(pk=running.pk).status == Status.RUNNING


def test_no_worker_shows_in_the_banner_on_every_page_and_in_the_inbox(vic, alice):
    c = Client()
    c.force_login(alice)
    for url in ("/", "/approvals/", "/healing/", "/costs/", "/audit/"):
        assert 'data-testid="no-worker"' in c.get(url).content.decode(), url
    assert 'data-testid="no-worker-inbox"' in c.get("/approvals/").content.decode()
    worker_heartbeat(hostname="w1@host", pid=1)
    assert 'data-testid="no-worker"' not in c.get("/").content.decode()
    assert 'data-testid="no-worker-inbox"' not in c.get("/approvals/").content.decode()
    _silence("w1@host", 300)
    page = c.get("/").content.decode()
    assert 'data-testid="no-worker"' in page and "No worker since" in page
