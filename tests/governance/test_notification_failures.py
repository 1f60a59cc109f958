"""Notifications that go wrong: a URL the transport cannot use, an answer that is not HTTP, a
redirect, a line break in a title, duplicate tasks, a digest channel that breaks. Each failure
ends on its own delivery, is told without the channel's URL or secret, and stops the others
from nothing. Every channel is sent to a real server on loopback (tests/support/receivers.py)."""

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import Delivery, Notification, NotificationChannel
from apps.core.notifications import render, transport
from apps.core.services import notification_channel_create, notification_emit
from apps.core.services import notification_rule_create as rule_create
from apps.core.services.deliveries import (
    LEASE,
    SWEEP_GRACE,
    notification_deliver,
    notifications_digest_send,
    notifications_due,
)
from apps.core.tasks import notification_deliver as deliver_task
from tests.support.receivers import Receiver

SECRET = "s3cret-signing-key-for-tests"
PASSWORD = "hunter2-in-the-url"
TOKEN = "tok-7f3a9c"


@pytest.fixture(scope="module")
def hook():
    r = Receiver(secret=SECRET).start()
    yield r
    r.stop()


@pytest.fixture
def receiver(hook):
    hook.reset()
    hook.raw = b""
    return hook


def _stored(adam, url: str, name: str, *, routed: bool = True, **rule) -> NotificationChannel:
    """A channel as stored before its URL was checked (the form refuses these URLs now)."""
    channel = NotificationChannel.objects.create(
        name=name, kind="webhook", url=url, secret=SECRET, created_by="adam"
    )
    if routed:
        rule_create(actor=adam, channel=channel, name="all", **rule)
    return channel


def _webhook(adam, url: str, **rule) -> NotificationChannel:
    channel = notification_channel_create(
        actor=adam, name="ops", kind="webhook", url=url, secret=SECRET
    )
    rule_create(actor=adam, channel=channel, name="all", **rule)
    return channel


def _emit(title="Pod shop/web is crash looping", severity="P2") -> Notification:
    return notification_emit(event="incident.opened", severity=severity, title=title)


def _bogus(channel: NotificationChannel, mode: str) -> Delivery:
    """A delivery whose event no longer renders (as after a bad migration): a bug to survive."""
    n = Notification.objects.create(event="no.such.event", severity="P4", title="bogus")
    return Delivery.objects.create(notification=n, channel=channel, mode=mode)


def _delivery(n: Notification) -> Delivery:
    return Delivery.objects.get(notification=n)


def test_an_unusable_url_or_an_unexpected_error_fails_the_delivery_once_and_tells_no_secret(
    db, adam, receiver, caplog
):
    port = urlparse(receiver.url).port
    with_password = _stored(adam, f"http://ops:{PASSWORD}@127.0.0.1/hook?token={TOKEN}", "a")
    _stored(adam, f"http://127.0.0.1:99999/hook?token={TOKEN}", "b")
    _stored(adam, "http://169.254.169.254/latest/meta-data/iam", "m")  # cloud metadata
    n = _emit()
    unrouted = _stored(adam, f"http://127.0.0.1:{port}/hook?token={TOKEN}", "c", routed=False)
    bug = _bogus(unrouted, "immediate")

    outcomes = {}
    for d in [*Delivery.objects.filter(notification=n), bug]:
        outcomes[d.channel.name] = notification_deliver(delivery_id=d.pk)

    assert {name: (d.status, d.attempts) for name, d in outcomes.items()} == {
        "a": ("failed", 1),
        "b": ("failed", 1),
        "c": ("failed", 1),
        "m": ("failed", 1),
    }
    assert "user or password" in outcomes["a"].last_error
    assert "port out of range" in outcomes["b"].last_error
    assert "link-local" in outcomes["m"].last_error
    assert outcomes["c"].last_error.startswith("ValueError: ")
    told = caplog.text + " ".join(d.last_error for d in outcomes.values())
    assert PASSWORD not in told and TOKEN not in told and "/hook" not in told
    assert receiver.requests == []  # nothing left for the wrapped-around port 99999 % 65536
    assert notifications_due(now=timezone.now() + timedelta(hours=1)) == []
    assert notification_deliver(delivery_id=bug.pk) is None  # settled

    message = "nonnumeric port: 'hunter2-in-the-url@127.0.0.1' for /hook?token=tok-7f3a9c"
    assert transport.scrub(message, with_password) == "nonnumeric port: '…@127.0.0.1' for …"


def test_an_answer_that_is_not_http_is_retried_with_back_off(db, adam, receiver, settings):
    settings.NOTIFY_RETRY_SECONDS = 30
    receiver.raw = b"SSH-2.0-OpenSSH_9.6\r\n"
    _webhook(adam, receiver.url)

    d = notification_deliver(delivery_id=_delivery(_emit()).pk)

    assert (d.status, d.attempts) == ("pending", 1)
    assert d.last_error.startswith("BadStatusLine: ") and d.deliver_after > timezone.now()


def test_a_redirect_fails_the_delivery_and_is_not_followed(db, adam, receiver):
    _webhook(adam, receiver.url)
    codes = [301, 302, 303, 307, 308]
    receiver.responses.extend(codes)

    ds = [notification_deliver(delivery_id=_delivery(_emit(f"n{c}")).pk) for c in codes]

    assert [(d.status, d.response_code) for d in ds] == [("failed", c) for c in codes]
    assert all("redirects are not followed" in d.last_error for d in ds)
    assert [r.path for r in receiver.requests] == ["/hook"] * len(codes)  # never /hook/moved


def test_a_line_break_in_a_title_stays_out_of_the_subject_and_the_slack_header(
    db, adam, mailoutbox
):
    channel = notification_channel_create(
        actor=adam, name="oncall", kind="email", recipients="a@ops.example"
    )
    rule_create(actor=adam, channel=channel, name="all")
    n = _emit(title="Pod web\r\nBcc: x@evil.example")

    d = notification_deliver(delivery_id=_delivery(n).pk)

    assert d.status == "sent", d.last_error
    [mail] = mailoutbox
    assert mail.subject == "[ZeroTouch] P2 · Pod web Bcc: x@evil.example" and mail.bcc == []
    header = render.slack_message(n.as_event())["blocks"][0]["text"]["text"]
    assert header == "P2 · Pod web Bcc: x@evil.example"


def test_a_task_that_comes_before_its_delivery_is_due_sends_nothing(db, adam, receiver, settings):
    settings.NOTIFY_RETRY_SECONDS = 30
    _webhook(adam, receiver.url)
    flaky, quiet = _emit("flaky"), _emit("quiet")
    receiver.responses.append(500)
    later = timezone.now() + timedelta(hours=8)
    Delivery.objects.filter(notification=quiet).update(deliver_after=later)  # quiet hours

    deliver_task.apply(args=[_delivery(flaky).pk])  # eager: its retry comes at once, too early
    duplicate = notification_deliver(delivery_id=_delivery(flaky).pk)

    assert duplicate is None and notification_deliver(delivery_id=_delivery(quiet).pk) is None
    assert (_delivery(flaky).status, _delivery(flaky).attempts) == ("pending", 1)
    assert (_delivery(quiet).status, _delivery(quiet).attempts) == ("pending", 0)
    assert len(receiver.requests) == 1
    Delivery.objects.filter(notification=flaky).update(deliver_after=timezone.now())
    assert notification_deliver(delivery_id=_delivery(flaky).pk).status == "sent"


def test_a_delivery_out_of_attempts_fails_instead_of_being_claimed_again(
    db, adam, receiver, settings
):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    _webhook(adam, receiver.url)
    d = _delivery(_emit())
    lapsed = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk=d.pk).update(  # its last try's worker died mid-send
        status="sending", attempts=2, lease_until=lapsed, last_error="HTTP 503 Unavailable"
    )

    assert notification_deliver(delivery_id=d.pk) is None

    d.refresh_from_db()
    assert (d.status, d.attempts) == ("failed", 2) and "gave up: 2 attempts" in d.last_error
    assert receiver.requests == [] and notifications_due() == []


def test_the_sweep_leaves_what_was_queued_less_than_a_lease_ago(db, adam, receiver):
    _webhook(adam, receiver.url)
    d = _delivery(_emit())
    queued = d.deliver_after
    Delivery.objects.filter(pk=d.pk).update(queued_at=queued)

    assert notifications_due(now=queued + SWEEP_GRACE + timedelta(seconds=1)) == []
    assert notifications_due(now=queued + LEASE + timedelta(seconds=1)) == [d.pk]
    Delivery.objects.filter(pk=d.pk).update(queued_at=None)  # its queueing was lost
    assert notifications_due(now=queued + SWEEP_GRACE + timedelta(seconds=1)) == [d.pk]


def test_a_digest_channel_that_breaks_does_not_stop_the_others(db, adam, receiver):
    _bogus(_stored(adam, receiver.url, "a-bug", routed=False), "digest")
    _bogus(_stored(adam, f"http://u:{PASSWORD}@127.0.0.1/", "b-url", routed=False), "digest")
    fine = _stored(adam, receiver.url, "c-fine", digest_from="P3")
    _emit("low", severity="P4")

    assert notifications_digest_send() == 1

    [sent] = receiver.requests
    assert [i["title"] for i in sent.json["items"]] == ["low"]
    by_channel = dict(Delivery.objects.values_list("channel__name", "status"))
    assert by_channel == {"a-bug": "failed", "b-url": "failed", "c-fine": "sent"}
    assert Delivery.objects.get(channel__name="a-bug").last_error.startswith("ValueError: ")
    assert Delivery.objects.filter(channel=fine, status="sent").count() == 1


def test_the_url_hint_is_scheme_host_and_port_only():
    def hint(url):
        return NotificationChannel(url=url).url_hint

    assert hint(f"https://hooks.slack.com/services/T0/B0/{TOKEN}") == "https://hooks.slack.com"
    assert hint(f"http://127.0.0.1:9009/?token={TOKEN}") == "http://127.0.0.1:9009"
    assert hint(f"http://u:{PASSWORD}@[::1]:8443/x") == "http://[::1]:8443"
    assert hint("http://hooks.example:99999/x") == "http://hooks.example"


def test_a_url_with_a_password_or_a_bad_port_is_refused_naming_the_field(db, adam):
    c = Client()
    c.force_login(adam)
    cases = {
        f"https://ops:{PASSWORD}@hooks.example/x": "must not carry a user or password",
        "https://hooks.example:70000/x": "port must be a number from 1 to 65535",
        "https://hooks.example:0/x": "port must be a number from 1 to 65535",
    }
    for url, message in cases.items():
        data = {"name": "x", "kind": "webhook", "url": url, "secret": SECRET}
        r = c.post("/notifications/channels/new", data)
        page = r.content.decode()
        assert r.status_code == 400 and message in page and PASSWORD not in page, url
        assert message in r.context["form"].errors["url"][0]  # on the field
    assert not NotificationChannel.objects.exists()
