"""Notifications out: channels, routing, quiet hours, the digest, delivery with retries, and
that a notification never fails the change it reports. Every channel is sent to a real server
on loopback (tests/support/receivers.py)."""

import email
import email.policy
import json
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlparse

import pytest
from django.db import transaction
from django.test import Client

from apps.core.models import AuditEvent, Delivery, Notification, NotificationChannel
from apps.core.notifications import render
from apps.core.notifications.models import NotificationRule
from apps.core.services import (
    notification_channel_create,
    notification_channel_update,
    notification_emit,
    notification_rule_create,
    safety_mode_set,
)
from apps.core.services.deliveries import (
    notification_deliver,
    notifications_digest_send,
    notifications_due,
    route,
)
from apps.core.tasks import notification_deliver as deliver_task
from tests.support.receivers import Receiver, SmtpServer, slack_problem
from tests.support.waiting import wait_for

SECRET = "s3cret-signing-key-for-tests"


@pytest.fixture(scope="module")
def hook():
    r = Receiver(secret=SECRET).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def slack():
    r = Receiver(slack=True).start()
    yield r
    r.stop()


@pytest.fixture
def receiver(hook):
    hook.reset()
    return hook


def _webhook(adam, url, **rule):
    channel = notification_channel_create(
        actor=adam, name="ops-hook", kind="webhook", url=url, secret=SECRET
    )
    notification_rule_create(actor=adam, channel=channel, name="all", **rule)
    return channel


def _emit(event="incident.opened", severity="P2", **kw):
    return notification_emit(
        event=event,
        severity=severity,
        title=kw.pop("title", "Pod shop/web is crash looping"),
        body=kw.pop("body", "the new revision exits at start"),
        fields=kw.pop("fields", {"cluster": "sandbox", "evidence": ["5 restarts in 10 min"]}),
        link=kw.pop("link", "/healing/7/"),
        **kw,
    )


def _delivery(n: Notification) -> Delivery:
    return Delivery.objects.get(notification=n)


# --- The signed webhook -------------------------------------------------------------------------


def test_a_signed_webhook_is_retried_after_a_500_and_then_delivered(db, adam, receiver, settings):
    settings.NOTIFY_RETRY_SECONDS = 0  # no back-off: an eager retry runs at once
    _webhook(adam, receiver.url)
    n = _emit(cluster_id=3, namespace="shop")
    receiver.responses.append(500)

    deliver_task.apply(args=[_delivery(n).pk])  # eager: the Celery retry runs at once

    d = _delivery(n)
    assert (d.status, d.attempts, d.response_code) == ("sent", 2, 200)
    assert [r.signature_ok for r in receiver.requests] == [True, True]
    sent = receiver.requests[-1]
    assert sent.headers["X-ZeroTouch-Event"] == "incident.opened"
    assert sent.headers["X-ZeroTouch-Timestamp"] == str(sent.json["sent_at"])
    body = sent.json["notification"]
    assert body["title"] == "Pod shop/web is crash looping"
    assert body["severity"] == "P2" and body["namespace"] == "shop"
    assert urlparse(body["link"]).path == "/healing/7/"


def test_a_tampered_body_fails_the_receivers_check(receiver):
    body = render.webhook_body({"title": "x"}, sent_at=1)
    good = render.signature(SECRET, body)

    assert render.signature_valid(SECRET, body, good)
    assert not render.signature_valid(SECRET, body + b" ", good)
    assert not render.signature_valid("another-key-entirely", body, good)


def test_a_refusal_fails_at_once_and_a_5xx_gives_up_after_the_last_attempt(
    db, adam, receiver, settings
):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    settings.NOTIFY_RETRY_SECONDS = 0  # no back-off: an eager retry runs at once
    _webhook(adam, receiver.url)
    refused, flaky = _emit(title="one"), _emit(title="two")
    receiver.responses.extend([404])

    assert notification_deliver(delivery_id=_delivery(refused).pk).status == "failed"
    receiver.responses.extend([503, 503, 503])
    deliver_task.apply(args=[_delivery(flaky).pk])

    d = _delivery(refused)
    assert (d.attempts, d.response_code) == (1, 404) and "HTTP 404" in d.last_error
    d = _delivery(flaky)
    assert (d.status, d.attempts, d.response_code) == ("failed", 3, 503)
    assert len(receiver.requests) == 4


def test_an_unreachable_receiver_waits_with_back_off(db, adam, settings):
    settings.NOTIFY_RETRY_SECONDS = 30
    closed = Receiver().start()
    url = closed.url
    closed.stop()  # nothing listens there now
    _webhook(adam, url)
    n = _emit()

    d = notification_deliver(delivery_id=_delivery(n).pk)

    assert d.status == "pending" and d.attempts == 1 and d.last_error
    assert d.deliver_after - d.created_at >= timedelta(seconds=29)
    assert notifications_due(now=d.deliver_after + timedelta(minutes=2)) == [d.pk]
    assert notifications_due(now=d.created_at) == []


# --- Slack and email ----------------------------------------------------------------------------


def test_slack_gets_blocks_with_severity_cause_evidence_fix_and_a_link(db, adam, slack, settings):
    settings.ZEROTOUCH_URL = "https://zt.example/ops/"  # behind a path prefix
    slack.reset()
    channel = notification_channel_create(actor=adam, name="slack", kind="slack", url=slack.url)
    notification_rule_create(
        actor=adam, channel=channel, name="approvals", events=["action.waiting"]
    )
    n = _emit(
        event="action.waiting",
        severity="P1",
        title="Approve #4? Scale deployment shop/web",
        fields={
            "cause": "traffic doubled",
            "evidence": ["p95 latency 2.1 s", "CPU 95%"],
            "fix": "Scale deployment shop/web (replicas: 3 → 6)",
            "cluster": "sandbox",
        },
        link="/actions/confirm/abc",
    )

    assert notification_deliver(delivery_id=_delivery(n).pk).status == "sent"

    payload = slack.requests[-1].json
    blocks = payload["blocks"]
    assert blocks[0]["text"]["text"] == "P1 · Approve #4? Scale deployment shop/web"
    sections = " ".join(
        b["text"]["text"] for b in blocks if b.get("text") and b["type"] == "section"
    )
    assert "*Cause*\ntraffic doubled" in sections
    assert "• p95 latency 2.1 s" in sections and "*Proposed fix*" in sections
    button = blocks[-1]["elements"][0]
    assert button["url"] == "https://zt.example/ops/actions/confirm/abc"
    assert button["text"]["text"] == "Review and approve"


def test_the_slack_shaped_receiver_refuses_what_slack_would():
    ours = render.slack_message({"event": "test", "severity": "P4", "title": "x", "label": "T"})

    assert slack_problem(ours) == ""
    assert "header" in slack_problem({"text": "x", "blocks": [{"type": "header"}]})
    assert slack_problem({"blocks": []})


def test_email_goes_through_the_mail_backend_to_an_smtp_server(db, adam, settings):
    smtp = SmtpServer().start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.DEFAULT_FROM_EMAIL = "zerotouch@ops.example"
        channel = notification_channel_create(
            actor=adam, name="oncall", kind="email", recipients="a@ops.example, b@ops.example"
        )
        notification_rule_create(actor=adam, channel=channel, name="all")
        n = _emit()

        d = notification_deliver(delivery_id=_delivery(n).pk)
    finally:
        smtp.stop()

    assert (d.status, d.response_code) == ("sent", 250)
    [mail] = smtp.messages
    assert mail["to"] == ["a@ops.example", "b@ops.example"]
    message = email.message_from_bytes(mail["raw"], policy=email.policy.default)
    assert message["Subject"] == "[ZeroTouch] P2 · Pod shop/web is crash looping"
    text = message.get_content()
    assert "/healing/7/" in text and "• 5 restarts in 10 min" in text


# --- Routing, quiet hours, digest ---------------------------------------------------------------


def test_rules_route_by_event_severity_cluster_and_namespace(db, adam, receiver):
    ch = notification_channel_create(
        actor=adam, name="c", kind="webhook", url=receiver.url, secret=SECRET
    )
    notification_rule_create(
        actor=adam,
        channel=ch,
        name="shop incidents P2+",
        events=["incident.opened", "incident.escalated"],
        min_severity="P2",
        cluster_id=3,
        namespace="shop",
    )
    cases = [
        ({}, True),
        ({"severity": "P1"}, True),
        ({"severity": "P3"}, False),
        ({"event": "incident.resolved"}, False),
        ({"cluster_id": 4}, False),
        ({"namespace": "pay"}, False),
    ]
    for change, routed in cases:
        n = _emit(**{"cluster_id": 3, "namespace": "shop", **change})
        assert n.deliveries.exists() == routed, change


def test_a_disabled_rule_or_channel_routes_nothing(db, adam, receiver):
    ch = _webhook(adam, receiver.url)
    notification_channel_update(actor=adam, channel=ch, name=ch.name, enabled=False, recipients="")
    assert not _emit().deliveries.exists()


def test_quiet_hours_let_only_high_severity_through_and_hold_the_rest(db, adam, receiver):
    ch = notification_channel_create(
        actor=adam, name="c", kind="webhook", url=receiver.url, secret=SECRET
    )
    notification_rule_create(
        actor=adam,
        channel=ch,
        name="nights",
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
        quiet_zone="Europe/Paris",
    )
    night = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # 00:30 in Paris
    day = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    loud, quiet = (
        Notification(severity="P1", event="incident.opened"),
        Notification(severity="P3", event="incident.opened"),
    )

    assert route(loud, now=night) == {ch.pk: ("immediate", night)}
    [(mode, after)] = route(quiet, now=night).values()
    assert mode == "immediate" and after == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # 07:00 Paris
    assert route(quiet, now=day) == {ch.pk: ("immediate", day)}


def test_quiet_hours_wrap_midnight_and_a_zone():
    def quiet(h, m=0):
        at = datetime(2026, 7, 1, h, m, tzinfo=UTC)
        return render.in_quiet_hours(time(22), time(7), "America/New_York", at)

    assert quiet(3) and quiet(10, 59)  # 23:00 and 06:59 in New York (EDT)
    assert not quiet(11) and not quiet(21)  # 07:00 and 17:00
    assert not render.in_quiet_hours(None, None, "UTC", datetime.now(UTC))


def test_low_severity_goes_to_one_digest_per_channel(db, adam, receiver):
    ch = _webhook(adam, receiver.url, digest_from="P3")
    low = [_emit(severity="P4", title=f"low {i}") for i in range(3)]
    high = _emit(severity="P2", title="high")

    assert {_delivery(n).mode for n in low} == {"digest"}
    assert _delivery(high).mode == "immediate"
    assert notifications_digest_send() == 1
    assert notifications_digest_send() == 0  # nothing left

    [sent] = receiver.requests
    assert sent.signature_ok and sent.headers["X-ZeroTouch-Event"] == "digest"
    assert [i["title"] for i in sent.json["items"]] == ["low 0", "low 1", "low 2"]
    assert set(
        Delivery.objects.filter(channel=ch, mode="digest").values_list("status", flat=True)
    ) == {"sent"}


# --- Never fails the change ---------------------------------------------------------------------


def test_a_broken_emit_is_logged_and_the_change_commits(db, adam, caplog):
    with transaction.atomic():
        assert notification_emit(event="no.such.event", severity="P1", title="x") is None
        assert _emit(severity="P0") is None
        mode = safety_mode_set(actor=adam, mode="halted", reason="after a broken emit")

    assert mode.mode == "halted"
    assert "not recorded; the change goes on" in caplog.text


def test_a_safety_mode_change_notifies_even_when_its_channel_is_down(db, adam, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    down = Receiver().start()
    url = down.url
    down.stop()
    _webhook(adam, url, events=["safety.mode_changed"])

    safety_mode_set(actor=adam, mode="dry_run", reason="maintenance")

    n = Notification.objects.get(event="safety.mode_changed")
    assert n.severity == "P2" and n.fields["to"] == "dry_run" and n.fields["by"] == "adam"
    assert notification_deliver(delivery_id=_delivery(n).pk).status == "failed"


# --- The admin page -----------------------------------------------------------------------------


def test_an_admin_manages_channels_and_rules_and_secrets_are_never_shown(db, adam, receiver):
    c = Client()
    c.force_login(adam)
    r = c.post(
        "/notifications/channels/new",
        {"name": "ops", "kind": "webhook", "url": receiver.url + "?token=xyz1", "secret": SECRET},
    )
    assert r.status_code == 302, r.content
    ch = NotificationChannel.objects.get(name="ops")
    r = c.post(
        "/notifications/rules/new",
        {
            "name": "all",
            "channel": ch.pk,
            "min_severity": "P3",
            "quiet_zone": "UTC",
            "enabled": "on",
        },
    )
    assert r.status_code == 302, r.content

    page = c.get("/notifications/").content.decode()
    assert "ops" in page and "all" in page and urlparse(receiver.url).netloc in page
    assert SECRET not in page and "xyz1" not in page and "/hook" not in page  # host only
    assert SECRET not in c.get(f"/notifications/channels/{ch.pk}/edit").content.decode()
    assert "every cluster" in c.get("/notifications/rules/new").content.decode()
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"notification.channel_created", "notification.rule_created"} <= verbs
    assert SECRET not in json.dumps(list(AuditEvent.objects.values_list("after", flat=True)))

    r = c.post(f"/notifications/channels/{ch.pk}/test")
    assert r.status_code == 302
    test = Notification.objects.get(event="test")
    assert notification_deliver(delivery_id=_delivery(test).pk).status == "sent"
    assert receiver.requests[-1].signature_ok

    r = c.post(f"/notifications/channels/{ch.pk}/edit", {"name": "ops", "url": "", "secret": ""})
    ch.refresh_from_db()
    assert r.status_code == 302 and not ch.enabled and ch.secret == SECRET  # blank keeps it
    assert NotificationRule.objects.get().enabled


def test_bad_channel_input_names_the_field(db, adam):
    c = Client()
    c.force_login(adam)
    r = c.post("/notifications/channels/new", {"name": "x", "kind": "webhook", "url": "ftp://x"})
    assert r.status_code == 400 and "an http(s) URL is required" in r.content.decode()
    r = c.post(
        "/notifications/channels/new",
        {"name": "x", "kind": "webhook", "url": "https://hooks.example/x", "secret": "short"},
    )
    assert r.status_code == 400 and "at least 16 characters" in r.content.decode()
    assert not NotificationChannel.objects.exists()


# --- A real worker ------------------------------------------------------------------------------


def test_a_real_worker_delivers_after_the_commit(celery_worker_process, adam, receiver):
    _webhook(adam, receiver.url)

    with transaction.atomic():
        n = _emit(title="via the worker")
        assert receiver.requests == []  # nothing leaves before the commit

    wait_for(lambda: _delivery(n).status == "sent", timeout=30, what="the worker's delivery")
    assert _delivery(n).queued_at is not None  # the sweep leaves it to the task it queued
    [sent] = receiver.requests
    assert sent.signature_ok and sent.json["notification"]["title"] == "via the worker"
