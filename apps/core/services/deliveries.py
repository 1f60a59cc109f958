"""Emitting an event and delivering it.

`notification_emit` is what apps call, inside the transaction of the change they notify about:
it writes the event and one delivery per channel its rules route it to, and queues the sending
for after the commit. It never raises and never blocks: whatever goes wrong in it is logged, and
the change commits all the same (its writes sit in a savepoint of their own).

Sending runs on a worker (`core.notification_deliver`, the default queue): a claim with a lease,
the network call outside any transaction, then the outcome recorded. A 5xx, 429, timeout or
refused connection is retried with exponential back-off up to NOTIFY_MAX_ATTEMPTS; any other
refusal (a redirect too) or an unexpected error fails the delivery at once. A claim takes only
a delivery that is due (`deliver_after`) and has attempts left, so a duplicate task that comes
early does nothing. Low-severity events a rule sends to the digest wait for
`core.notifications_digest`, which sends one message per channel with all of them.
"""

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from ..errors import ValidationFailed
from ..notifications import render, transport
from ..notifications.models import (
    Delivery,
    DeliveryMode,
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationRule,
    NotifyEvent,
)

log = logging.getLogger(__name__)
DELIVER_TASK = "core.notification_deliver"
LEASE = timedelta(minutes=2)
SWEEP_GRACE = timedelta(minutes=1)  # a retry Celery holds is not queued a second time by beat
# A task may run this much before its delivery's time (a timer's rounding) and still take it.
EARLY = timedelta(seconds=1)


def notification_emit(
    *,
    event: str,
    severity: str,
    title: str,
    body: str = "",
    cluster_id: int | None = None,
    namespace: str = "",
    fields: dict | None = None,
    link: str = "",
    action_id: int | None = None,
) -> Notification | None:
    """Record an event and route it; delivery follows the commit. Never raises."""
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's work whole
            notification, due = _emit(
                event=event,
                severity=severity,
                title=title,
                body=body,
                cluster_id=cluster_id,
                namespace=namespace,
                fields=fields or {},
                link=link,
                action_id=action_id,
            )
    except Exception:
        log.exception("notification %s (%s) not recorded; the change goes on", event, title)
        return None
    if due:
        transaction.on_commit(lambda: deliveries_enqueue(due), robust=True)
    return notification


def _emit(*, event, severity, title, body, cluster_id, namespace, fields, link, action_id):
    if event not in NotifyEvent.values:
        raise ValidationFailed(f"unknown notification event {event!r}", field="event")
    if severity not in render.SEVERITIES:
        raise ValidationFailed(f"unknown severity {severity!r}", field="severity")
    now = timezone.now()
    notification = Notification.objects.create(
        event=event,
        severity=severity,
        title=title[:300],
        body=body,
        cluster_id=cluster_id,
        namespace=namespace,
        fields=fields,
        link=absolute(link),
        action_id=action_id,
        created_at=now,
    )
    plan = route(notification, now=now)
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            channel_id=channel_id,
            mode=mode,
            deliver_after=after,
            created_at=now,
        )
        for channel_id, (mode, after) in plan.items()
    )
    due = Delivery.objects.filter(
        notification=notification, mode=DeliveryMode.IMMEDIATE, deliver_after__lte=now
    ).values_list("pk", flat=True)
    return notification, list(due)


def absolute(link: str) -> str:
    """A path made absolute under ZEROTOUCH_URL (which may carry a path prefix)."""
    if not link or "://" in link:
        return link
    return settings.ZEROTOUCH_URL.rstrip("/") + "/" + link.lstrip("/")


def route(notification: Notification, *, now: datetime) -> dict[int, tuple[str, datetime]]:
    """{channel id: (mode, deliver after)} by the enabled rules of enabled channels. Several
    rules to one channel: the most urgent treatment wins (now, then after quiet hours, then the
    digest)."""
    plan: dict[int, tuple[str, datetime]] = {}
    rules = NotificationRule.objects.filter(enabled=True, channel__enabled=True)
    for rule in rules:
        if not matches(rule, notification):
            continue
        treatment = _treatment(rule, notification.severity, now)
        current = plan.get(rule.channel_id)
        if current is None or _urgency(treatment) < _urgency(current):
            plan[rule.channel_id] = treatment
    return plan


def matches(rule: NotificationRule, n: Notification) -> bool:
    return (
        (not rule.events or n.event in rule.events)
        and render.at_least(n.severity, rule.min_severity)
        and (rule.cluster_id is None or rule.cluster_id == n.cluster_id)
        and (not rule.namespace or rule.namespace == n.namespace)
    )


def _treatment(rule: NotificationRule, severity: str, now: datetime) -> tuple[str, datetime]:
    to_digest = bool(rule.digest_from) and render.rank(severity) >= render.rank(rule.digest_from)
    if to_digest:
        return DeliveryMode.DIGEST, now
    quiet = render.in_quiet_hours(rule.quiet_start, rule.quiet_end, rule.quiet_zone, now)
    if quiet and severity not in render.LOUD:
        if rule.digest_from:
            return DeliveryMode.DIGEST, now
        end = render.quiet_hours_end(rule.quiet_start, rule.quiet_end, rule.quiet_zone, now)
        return DeliveryMode.IMMEDIATE, end
    return DeliveryMode.IMMEDIATE, now


def _urgency(treatment: tuple[str, datetime]) -> tuple[int, datetime]:
    mode, after = treatment
    return (0 if mode == DeliveryMode.IMMEDIATE else 1, after)


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Queue a task per delivery, noting when (the sweep leaves what was queued lately)."""
    if not delivery_ids:
        return
    Delivery.objects.filter(pk__in=delivery_ids).update(queued_at=timezone.now())
    for pk in delivery_ids:
        current_app.send_task(DELIVER_TASK, args=[pk])


# --- Sending --------------------------------------------------------------------------------


def _claim(q: Q, now: datetime) -> int:
    """Take what is due: pending and past its `deliver_after` (a back-off, quiet hours), or
    sending with its lease lapsed (a worker died). What has used all its attempts fails."""
    takeable = Delivery.objects.filter(q).filter(
        Q(status=DeliveryStatus.PENDING, deliver_after__lte=now + EARLY)
        | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    )
    spent = settings.NOTIFY_MAX_ATTEMPTS
    takeable.filter(attempts__gte=spent).update(
        status=DeliveryStatus.FAILED,
        lease_until=None,
        last_error=Concat(
            F("last_error"), Value(f" (gave up: {spent} attempts made)"), output_field=TextField()
        ),
    )
    return takeable.filter(attempts__lt=spent).update(
        status=DeliveryStatus.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1
    )


def _send(
    channel: NotificationChannel, events: list[Callable[[], dict]], *, digest: bool
) -> transport.Outcome:
    """The transport's outcome; an error it raises, or that rendering the events raises (a URL
    it cannot use, a bug), fails the delivery, told by its type and a message without the
    channel's URL or secret."""
    if not channel.enabled:
        return transport.Outcome(ok=False, retry=False, error="channel disabled")
    try:
        outcome = transport.send(channel, [e() for e in events], digest=digest)
    except Exception as exc:
        error = f"{type(exc).__name__}: {transport.scrub(str(exc), channel)}"
        return transport.Outcome(ok=False, retry=False, error=error[:500])
    return replace(outcome, error=transport.scrub(outcome.error, channel)[:500])


def notification_deliver(*, delivery_id: int) -> Delivery | None:
    """Send one immediate delivery now (the task's work). None when another worker has it,
    it is not due yet, or it is settled; else the delivery as recorded: sent, failed, or
    pending with the time of its next try in `deliver_after`."""
    now = timezone.now()
    if _claim(Q(pk=delivery_id, mode=DeliveryMode.IMMEDIATE), now) != 1:
        return None
    d = Delivery.objects.select_related("channel", "notification").get(pk=delivery_id)
    outcome = _send(d.channel, [d.notification.as_event], digest=False)
    _record([d.pk], outcome, attempts=d.attempts)
    d.refresh_from_db()
    return d


def _record(ids: list[int], outcome: transport.Outcome, *, attempts: int) -> None:
    now = timezone.now()
    common = {"response_code": outcome.code, "lease_until": None, "last_error": outcome.error}
    if outcome.ok:
        status = {"status": DeliveryStatus.SENT, "sent_at": now}
    elif outcome.retry and attempts < settings.NOTIFY_MAX_ATTEMPTS:
        backoff = settings.NOTIFY_RETRY_SECONDS * 2 ** (attempts - 1)
        status = {
            "status": DeliveryStatus.PENDING,
            "deliver_after": now + timedelta(seconds=backoff),
        }
    else:
        status = {"status": DeliveryStatus.FAILED}
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING).update(**common, **status)
    if not outcome.ok:
        log.warning("notification delivery %s: %s (attempt %d)", ids, outcome.error, attempts)


def notifications_digest_send(*, now: datetime | None = None) -> int:
    """One message per channel with every pending digest delivery. Returns messages sent."""
    now = now or timezone.now()
    sent = 0
    waiting = Delivery.objects.filter(mode=DeliveryMode.DIGEST).filter(
        Q(status=DeliveryStatus.PENDING) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    )
    channels = NotificationChannel.objects.filter(pk__in=waiting.values("channel_id"))
    for channel in channels:
        try:  # one channel's trouble is its own: the others get their digest all the same
            sent += _digest_one(channel, waiting, now)
        except Exception as exc:
            error = transport.scrub(str(exc), channel)
            log.error(
                "digest for channel %s not sent: %s: %s", channel.pk, type(exc).__name__, error
            )
    return sent


def _digest_one(channel: NotificationChannel, waiting, now: datetime) -> bool:
    mine = waiting.filter(channel=channel).order_by("created_at")
    ids = list(mine.values_list("pk", flat=True)[:200])
    if not ids or _claim(Q(pk__in=ids), now) == 0:
        return False
    batch = list(  # what this run claimed (its lease), not another run's
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING, lease_until=now + LEASE)
        .select_related("notification")
        .order_by("notification__created_at")
    )
    if not batch:
        return False
    outcome = _send(channel, [d.notification.as_event for d in batch], digest=True)
    _record([d.pk for d in batch], outcome, attempts=max(d.attempts for d in batch))
    return outcome.ok


def notifications_due(*, now: datetime | None = None) -> list[int]:
    """Immediate deliveries a worker should take now that nothing has queued: those whose
    quiet hours ended, whose queueing was lost, or whose worker died mid-send. What was queued
    less than a lease ago is left to the task that carries it."""
    now = now or timezone.now()
    due = (
        Delivery.objects.filter(mode=DeliveryMode.IMMEDIATE)
        .filter(
            Q(status=DeliveryStatus.PENDING, deliver_after__lte=now - SWEEP_GRACE)
            | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
        )
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - LEASE))
    )
    return list(due.values_list("pk", flat=True)[:500])
