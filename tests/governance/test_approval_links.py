"""One-click approval from a notification: the "action waiting for approval" message carries a
signed, single-use link bound to the action's fingerprint and expiry; using it is the inbox's
`action_approve` with every rule (roles, four eyes, guards). One sandbox for the module."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from apps.core.models import AuditEvent, Notification
from apps.core.services import notification_channel_create, notification_rule_create
from apps.core.services.deliveries import notification_deliver
from apps.governance.action_models import Action, Status
from apps.governance.actions import (
    action_approve_by_link,
    action_propose,
    action_replace,
    action_update_parameters,
    action_withdraw,
)
from apps.governance.errors import Changed
from apps.governance.link_models import ApprovalLink
from tests.support.receivers import Receiver
from tests.support.sandbox import sandbox_cluster, start_sandbox
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_sandbox(tmp_path_factory.mktemp("links"))
    yield s
    s.stop()


@pytest.fixture
def cluster(db, server):
    return sandbox_cluster(server)


@pytest.fixture
def dead_channel(adam, settings):
    """A webhook nobody answers, routed every "waiting" event: it must never matter."""
    settings.NOTIFY_MAX_ATTEMPTS = 1
    gone = Receiver().start()
    url = gone.url
    gone.stop()
    ch = notification_channel_create(
        actor=adam, name="gone", kind="webhook", url=url, secret="x" * 20
    )
    notification_rule_create(actor=adam, channel=ch, name="approvals", events=["action.waiting"])
    return ch


def _propose(cluster, who, replicas=4) -> Action:
    return action_propose(
        actor=who,
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_name="web",
        parameters={"replicas": replicas},
        reason="traffic doubled",
    )


def _link(action: Action) -> str:
    n = Notification.objects.filter(event="action.waiting", action_id=action.pk).latest("pk")
    return urlparse(n.link).path


def _as(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_an_approver_confirms_through_the_link_once(cluster, olivia, alice, bob, dead_channel):
    action = _propose(cluster, olivia)
    link = _link(action)
    [delivery] = Notification.objects.get(action_id=action.pk).deliveries.all()
    assert notification_deliver(delivery_id=delivery.pk).status == "failed"  # nobody listens
    assert Action.objects.get(pk=action.pk).status == Status.PROPOSED  # and nothing minds

    r = Client().get(link)
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=/actions/confirm/")
    page = _as(alice).get(link)
    assert page.status_code == 200
    assert f"Approve action #{action.pk}" in page.content.decode()
    assert 'data-testid="action-status"' in page.content.decode()  # the detail's partial

    r = _as(alice).post(link, {"reason": "seen the graphs"})

    assert r.status_code == 302 and r["Location"] == f"/actions/{action.pk}/"
    action.refresh_from_db()
    assert action.status == Status.QUEUED
    assert list(action.approvals.values_list("approver", flat=True)) == ["alice"]
    assert ApprovalLink.objects.get(action=action).used_by == "alice"
    verbs = list(AuditEvent.objects.filter(target_id=str(action.pk)).values_list("verb", flat=True))
    assert "action.approved" in verbs and "action.approval_link_used" in verbs

    again = _as(bob).post(link, {"reason": "me too"})
    assert again.status_code == 410 and "used already" in again.content.decode()
    assert action.approvals.count() == 1


def test_a_link_forwarded_to_the_proposer_is_refused_by_four_eyes(cluster, adam, alice):
    action = _propose(cluster, adam)  # an admin may propose and approve, never both
    link = _link(action)

    r = _as(adam).post(link, {"reason": "mine"})

    assert r.status_code == 400 and "four eyes" in r.content.decode()
    action.refresh_from_db()
    assert action.status == Status.PROPOSED and not action.approvals.exists()
    assert ApprovalLink.objects.get(action=action).used_at is None  # still the approver's
    assert _as(alice).post(link).status_code == 302
    assert Action.objects.get(pk=action.pk).status == Status.QUEUED


def test_an_expired_link_is_refused(cluster, olivia, alice):
    action = _propose(cluster, olivia)
    link = _link(action)
    Action.objects.filter(pk=action.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    page = _as(alice).get(link)
    r = _as(alice).post(link)

    assert page.status_code == 410 and "expired" in page.content.decode()
    assert r.status_code == 410
    assert not action.approvals.exists()


def test_a_link_for_a_changed_or_replaced_action_points_at_the_current_one(cluster, olivia, alice):
    action = _propose(cluster, olivia, replicas=4)
    old_link = _link(action)
    action_update_parameters(
        actor=olivia, action=action, parameters={"replicas": 5}, reason="more traffic"
    )

    r = _as(alice).post(old_link)

    assert r.status_code == 409 and "changed after this link was sent" in r.content.decode()
    assert f'href="/actions/{action.pk}/"' in r.content.decode()
    assert not action.approvals.exists()
    new_link = _link(action)  # the change sent a fresh one
    assert new_link != old_link
    assert _as(alice).post(new_link).status_code == 302
    action.refresh_from_db()
    assert action.parameters["replicas"] == 5 and action.status == Status.QUEUED

    stale = _propose(cluster, olivia, replicas=6)
    stale_link = _link(stale)
    action_withdraw(actor="olivia", action=stale, reason="the fix no longer fits")
    fresh = _propose(cluster, olivia, replicas=7)
    action_replace(actor="olivia", action=stale, successor=fresh, reason="the fix no longer fits")

    r = _as(alice).get(stale_link)

    assert r.status_code == 409 and f"replaced by #{fresh.pk}" in r.content.decode()
    assert f'href="/actions/{fresh.pk}/"' in r.content.decode()


def test_a_viewer_is_refused_and_a_forged_link_is_not_found(cluster, olivia, vic, alice):
    action = _propose(cluster, olivia)
    link = _link(action)

    assert _as(vic).get(link).status_code == 403
    assert _as(vic).post(link).status_code == 403
    assert _as(alice).get(link[:-3] + "abc").status_code == 404  # signature broken
    assert _as(alice).get("/actions/confirm/walk-token").status_code == 404
    assert not action.approvals.exists()


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_after_the_links_check_is_refused_not_approved(cluster, olivia, alice):
    """The race: the link's fingerprint check passes, then the proposer's change commits
    before the approval locks the action. Another connection holds the action's row while the
    link is used, and changes the parameters once the approval waits on that lock."""
    action = _propose(cluster, olivia, replicas=4)
    token = _link(action).rstrip("/").rsplit("/", 1)[-1]
    holding = threading.Event()

    def change_while_the_link_waits() -> None:
        try:
            with transaction.atomic():
                Action.objects.select_for_update().get(pk=action.pk)
                holding.set()
                wait_for(_someone_waits_on_a_lock, timeout=20, what="the approval to wait on it")
                action_update_parameters(
                    actor=olivia, action=action, parameters={"replicas": 9}, reason="toggle"
                )
        finally:
            holding.set()
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        changed = pool.submit(change_while_the_link_waits)
        assert holding.wait(timeout=20)
        with pytest.raises(Changed) as refused:
            action_approve_by_link(token=token, approver=alice)
        changed.result(timeout=30)

    assert refused.value.field == "fingerprint" and "changed since it was shown" in str(
        refused.value
    )
    action.refresh_from_db()
    assert action.parameters["replicas"] == 9 and action.status == Status.PROPOSED
    assert not action.approvals.exists()
    assert ApprovalLink.objects.filter(action=action, used_at__isnull=False).count() == 0
    verbs = set(AuditEvent.objects.filter(target_id=str(action.pk)).values_list("verb", flat=True))
    assert not verbs & {"action.approved", "action.approval_recorded", "action.approval_link_used"}


def _someone_waits_on_a_lock() -> bool:
    """Whether a session waits for this transaction (pg_locks is live; pg_stat_activity would
    be read once per transaction)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted "
            "AND transactionid = xid(pg_current_xact_id())"
        )
        return cur.fetchone()[0] > 0
