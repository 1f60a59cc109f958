"""Admins configure channels and rules: create, change, disable, test. Each change is audited
in its transaction; a channel's secrets reach the audit log only as hints."""

import zoneinfo
from datetime import time
from urllib.parse import urlsplit

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..errors import Conflict, ValidationFailed
from ..notifications import render
from ..notifications.models import (
    ROUTABLE,
    ChannelKind,
    Delivery,
    DeliveryMode,
    Notification,
    NotificationChannel,
    NotificationRule,
    NotifyEvent,
)
from ..roles import Cap, require
from .audit import audit_record
from .deliveries import deliveries_enqueue

MIN_SECRET = 16  # characters of an HMAC key


def _channel_snapshot(c: NotificationChannel) -> dict:
    return {
        "name": c.name,
        "kind": c.kind,
        "target": c.target_hint,
        "secret": "set" if c.secret else "",
        "enabled": c.enabled,
    }


def _channel_target(c: NotificationChannel) -> dict:
    return {"target_type": "notification_channel", "target_id": str(c.pk), "target_repr": c.name}


def _clean_channel(kind: str, url: str, secret: str, recipients: str) -> dict:
    if kind not in ChannelKind.values:
        raise ValidationFailed(f"unknown channel kind {kind!r}", field="kind")
    url, recipients = url.strip(), recipients.strip()
    if kind == ChannelKind.EMAIL:
        emails = [r.strip() for r in recipients.split(",") if r.strip()]
        if not emails:
            raise ValidationFailed("an email channel needs recipients", field="recipients")
        for e in emails:
            try:
                validate_email(e)
            except ValidationError:
                raise ValidationFailed(
                    f"{e!r} is not an email address", field="recipients"
                ) from None
        return {"url": "", "secret": "", "recipients": ", ".join(emails)}  # nosec B105 (blank: an email channel has no key)
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationFailed("an http(s) URL is required", field="url") from None
    _check_url_parts(url)
    if kind == ChannelKind.WEBHOOK and len(secret) < MIN_SECRET:
        raise ValidationFailed(
            f"a signing secret of at least {MIN_SECRET} characters is required", field="secret"
        )
    return {"url": url, "secret": secret if kind == ChannelKind.WEBHOOK else "", "recipients": ""}


def _check_url_parts(url: str) -> None:
    """No user or password in the URL (they would travel in logs and errors), and a port
    1-65535. The messages never repeat the URL."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ValidationFailed(
            "the URL must not carry a user or password (user:password@host)", field="url"
        )
    try:
        port_ok = parts.port != 0
    except ValueError:  # out of range, or not a number
        port_ok = False
    if not port_ok:
        raise ValidationFailed("the URL's port must be a number from 1 to 65535", field="url")


@transaction.atomic
def notification_channel_create(
    *,
    actor: AbstractBaseUser,
    name: str,
    kind: str,
    url: str = "",
    secret: str = "",
    recipients: str = "",
) -> NotificationChannel:
    require(actor, Cap.MANAGE_POLICY)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("a name is required", field="name")
    if NotificationChannel.objects.filter(name=name).exists():
        raise ValidationFailed(f"a channel named {name!r} exists", field="name")
    channel = NotificationChannel.objects.create(
        name=name,
        kind=kind,
        created_by=actor.get_username(),
        **_clean_channel(kind, url, secret, recipients),
    )
    audit_record(
        actor=actor,
        verb="notification.channel_created",
        **_channel_target(channel),
        after=_channel_snapshot(channel),
    )
    return channel


@transaction.atomic
def notification_channel_update(
    *,
    actor: AbstractBaseUser,
    channel: NotificationChannel,
    name: str,
    url: str = "",
    secret: str = "",
    recipients: str = "",
    enabled: bool = True,
) -> NotificationChannel:
    """Change a channel. A blank URL or secret keeps the stored one (they are never shown)."""
    require(actor, Cap.MANAGE_POLICY)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("a name is required", field="name")
    if NotificationChannel.objects.filter(name=name).exclude(pk=channel.pk).exists():
        raise ValidationFailed(f"a channel named {name!r} exists", field="name")
    before = _channel_snapshot(channel)
    cleaned = _clean_channel(
        channel.kind, url.strip() or channel.url, secret or channel.secret, recipients
    )
    n = NotificationChannel.objects.filter(pk=channel.pk, version=channel.version).update(
        name=name, enabled=enabled, updated_at=timezone.now(), version=F("version") + 1, **cleaned
    )
    if n != 1:
        raise Conflict(f"channel {channel.name} changed meanwhile; reload and try again")
    channel.refresh_from_db()
    audit_record(
        actor=actor,
        verb="notification.channel_changed",
        **_channel_target(channel),
        before=before,
        after=_channel_snapshot(channel),
    )
    return channel


@transaction.atomic
def notification_channel_test(
    *, actor: AbstractBaseUser, channel: NotificationChannel
) -> Notification:
    """Send a test message to this channel only, now (on a worker)."""
    require(actor, Cap.MANAGE_POLICY)
    now = timezone.now()
    notification = Notification.objects.create(
        event=NotifyEvent.TEST,
        severity="P4",
        title=f"Test message to {channel.name}",
        body=f"{actor.get_username()} sent this from ZeroTouch's Notifications page.",
        fields={"channel": channel.name},
        created_at=now,
    )
    delivery = Delivery.objects.create(
        notification=notification, channel=channel, mode=DeliveryMode.IMMEDIATE, created_at=now
    )
    audit_record(actor=actor, verb="notification.channel_tested", **_channel_target(channel))
    transaction.on_commit(lambda: deliveries_enqueue([delivery.pk]), robust=True)
    return notification


# --- Rules ----------------------------------------------------------------------------------


def _clean_rule(data: dict) -> dict:
    events = list(data.get("events") or [])
    unknown = [e for e in events if e not in {str(x) for x in ROUTABLE}]
    if unknown:
        raise ValidationFailed(f"unknown events: {', '.join(unknown)}", field="events")
    if data.get("min_severity", "P4") not in render.SEVERITIES:
        raise ValidationFailed("severity is one of P1, P2, P3, P4", field="min_severity")
    if data.get("digest_from", "") not in ("", "P3", "P4"):
        raise ValidationFailed("digest is '', P3 or P4", field="digest_from")
    start, end = data.get("quiet_start"), data.get("quiet_end")
    if (start is None) != (end is None):
        raise ValidationFailed("quiet hours need both a start and an end", field="quiet_end")
    if start is not None and not (isinstance(start, time) and isinstance(end, time)):
        raise ValidationFailed("quiet hours are times of day", field="quiet_start")
    zone = data.get("quiet_zone") or "UTC"
    if zone not in zoneinfo.available_timezones() and zone != "UTC":
        raise ValidationFailed(f"unknown time zone {zone!r}", field="quiet_zone")
    name = (data.get("name") or "").strip()
    if not name:
        raise ValidationFailed("a name is required", field="name")
    return {
        "name": name,
        "events": sorted(set(events)),
        "min_severity": data.get("min_severity", "P4"),
        "cluster_id": data.get("cluster_id"),
        "namespace": (data.get("namespace") or "").strip(),
        "quiet_start": start,
        "quiet_end": end,
        "quiet_zone": zone,
        "digest_from": data.get("digest_from", ""),
        "enabled": bool(data.get("enabled", True)),
    }


def _rule_snapshot(r: NotificationRule) -> dict:
    return {
        "name": r.name,
        "channel": r.channel.name,
        "events": r.events,
        "min_severity": r.min_severity,
        "cluster_id": r.cluster_id,
        "namespace": r.namespace,
        "quiet": f"{r.quiet_start}-{r.quiet_end} {r.quiet_zone}" if r.quiet_start else "",
        "digest_from": r.digest_from,
        "enabled": r.enabled,
    }


def _rule_target(r: NotificationRule) -> dict:
    return {"target_type": "notification_rule", "target_id": str(r.pk), "target_repr": r.name}


@transaction.atomic
def notification_rule_create(
    *, actor: AbstractBaseUser, channel: NotificationChannel, **data
) -> NotificationRule:
    """Route events to a channel. `data`: name, events, min_severity, cluster_id, namespace,
    quiet_start, quiet_end, quiet_zone, digest_from, enabled."""
    require(actor, Cap.MANAGE_POLICY)
    rule = NotificationRule.objects.create(
        channel=channel, created_by=actor.get_username(), **_clean_rule(data)
    )
    audit_record(
        actor=actor,
        verb="notification.rule_created",
        **_rule_target(rule),
        after=_rule_snapshot(rule),
    )
    return rule


@transaction.atomic
def notification_rule_update(
    *, actor: AbstractBaseUser, rule: NotificationRule, **data
) -> NotificationRule:
    require(actor, Cap.MANAGE_POLICY)
    before = _rule_snapshot(rule)
    n = NotificationRule.objects.filter(pk=rule.pk, version=rule.version).update(
        version=F("version") + 1, **_clean_rule(data)
    )
    if n != 1:
        raise Conflict(f"rule {rule.name} changed meanwhile; reload and try again")
    rule.refresh_from_db()
    audit_record(
        actor=actor,
        verb="notification.rule_changed",
        **_rule_target(rule),
        before=before,
        after=_rule_snapshot(rule),
    )
    return rule
