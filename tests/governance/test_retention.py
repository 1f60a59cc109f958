"""Retention: core.prune removes what is past SAMPLE_RETENTION_DAYS and finished, and nothing
that is still in use."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.clusters.services import cluster_create
from apps.core.models import Delivery, Notification, NotificationChannel
from apps.core.tasks import prune
from apps.governance.action_models import Action
from apps.governance.link_models import ApprovalLink
from apps.healing.alert_models import Alert
from apps.healing.models import Incident, LogExcerpt

pytestmark = pytest.mark.django_db


def test_it_prunes_what_is_old_and_finished_and_keeps_the_rest(adam, settings):
    settings.SAMPLE_RETENTION_DAYS = 14
    now = timezone.now()
    old, recent = now - timedelta(days=15), now - timedelta(days=1)
    cluster = cluster_create(actor=adam, name="prod", connection="in_cluster", reason="test")
    hook = NotificationChannel.objects.create(name="oncall", kind="webhook", created_by="adam")
    notes = {}
    for name, created, status in (
        ("old-sent", old, "sent"),
        ("old-pending", old, "pending"),  # still to be sent: kept
        ("recent-failed", recent, "failed"),
    ):
        note = Notification.objects.create(
            event="incident.opened", severity="P2", title=name, created_at=created
        )
        Delivery.objects.create(notification=note, channel=hook, mode="immediate", status=status)
        notes[name] = note.pk
    action = Action.objects.create(
        cluster=cluster,
        kind="scale",
        namespace="shop",
        target_kind="Deployment",
        target_name="web",
        reason="test",
        requester="olivia",
        fingerprint="f" * 64,
        expires_at=now + timedelta(minutes=30),
    )
    for nonce, expires in (("a" * 32, old), ("b" * 32, now + timedelta(minutes=30))):
        ApprovalLink.objects.create(
            action=action, nonce=nonce, fingerprint="f" * 64, expires_at=expires
        )
    for fp, seen in (("1" * 64, old), ("2" * 64, recent)):
        Alert.objects.create(
            cluster=cluster,
            fingerprint=fp,
            alertname="KubePodCrashLooping",
            status="resolved",
            kind="crash_loop",
            starts_at=seen,
            updated_at=seen,
        )
    incident = Incident.objects.create(
        cluster=cluster,
        fingerprint="a" * 32,
        cause="bad_rollout",
        scope="workload",
        namespace="shop",
        name="api",
        title="api crashes",
        hypothesis="a bad rollout",
        confidence=0.9,
        severity="P2",
        started_at=old,
        detected_at=old,
        last_seen_at=old,
    )
    for created in (old, recent):
        LogExcerpt.objects.create(
            incident=incident, at=created, pod="api-1", lines=["ERROR x"], created_at=created
        )

    counts = prune()

    assert counts == {
        "core.notifications": 1,
        "governance.approval_links": 1,
        "healing.alerts": 1,
        "healing.log_excerpts": 1,
    }
    assert sorted(Notification.objects.values_list("title", flat=True)) == [
        "old-pending",
        "recent-failed",
    ]
    assert not Delivery.objects.filter(notification_id=notes["old-sent"]).exists()
    assert list(ApprovalLink.objects.values_list("nonce", flat=True)) == ["b" * 32]
    assert list(Alert.objects.values_list("fingerprint", flat=True)) == ["2" * 64]
    assert LogExcerpt.objects.get().created_at > old
    assert Incident.objects.filter(pk=incident.pk).exists()  # incidents themselves are kept
    assert prune() == dict.fromkeys(counts, 0)  # nothing more to do
