"""Notifications out: the channels admins configure, the rules that route events to them, the
events apps emit, and one delivery per event and channel with its log (status, attempts, the
last error, the receiver's response code). Imported by apps/core/models.py so Django finds
them."""

from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone

from .render import SEVERITIES


class NotifyEvent(models.TextChoices):
    INCIDENT_OPENED = "incident.opened", "Incident opened"
    INCIDENT_ESCALATED = "incident.escalated", "Incident escalated"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    ACTION_WAITING = "action.waiting", "Action waiting for approval"
    ACTION_FAILED = "action.failed", "Action failed or rolled back"
    SAFETY_MODE_CHANGED = "safety.mode_changed", "Safety mode changed"
    STORM_BRAKE = "safety.storm_brake", "Storm brake engaged"
    TEST = "test", "Test message"


# What rules may route (a test message goes only to the channel it tests).
ROUTABLE = [e for e in NotifyEvent if e != NotifyEvent.TEST]
SEVERITY_CHOICES = [(s, s) for s in SEVERITIES]


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "Signed webhook (JSON)"
    SLACK = "slack", "Slack incoming webhook"
    EMAIL = "email", "Email"


class NotificationChannel(models.Model):
    """Where notifications go. The URL and the HMAC key are secrets: stored, shown back only
    as a hint (`url_hint`), never in full."""

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    url = models.CharField(max_length=500, blank=True)  # webhook and Slack
    secret = models.CharField(max_length=200, blank=True)  # webhook: the HMAC-SHA256 key
    recipients = models.CharField(max_length=1000, blank=True)  # email: comma-separated
    enabled = models.BooleanField(default=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def url_hint(self) -> str:
        """Scheme, host and port: enough to recognise it; never a path or a query (where tokens
        live), a user or a password."""
        if not self.url:
            return ""
        parts = urlsplit(self.url)
        host = parts.hostname or "…"
        host = f"[{host}]" if ":" in host else host
        try:
            port = f":{parts.port}" if parts.port is not None else ""
        except ValueError:  # a port out of range: a URL stored before it was checked
            port = ""
        return f"{parts.scheme}://{host}{port}"

    @property
    def target_hint(self) -> str:
        return self.recipients if self.kind == ChannelKind.EMAIL else self.url_hint


class NotificationRule(models.Model):
    """Which events go to a channel: by event, minimum severity, cluster and namespace; with
    quiet hours (only P1/P2 go out during them) and a digest for low severity."""

    name = models.CharField(max_length=80)
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="rules")
    events = models.JSONField(default=list, blank=True)  # [] = every event
    min_severity = models.CharField(max_length=2, choices=SEVERITY_CHOICES, default="P4")
    # Core knows no clusters: the id the emitting app passes (blank = every cluster).
    cluster_id = models.PositiveIntegerField(null=True, blank=True)
    namespace = models.CharField(max_length=253, blank=True)  # blank = every namespace
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    quiet_zone = models.CharField(max_length=64, default="UTC")
    # Events this severity or lower go to the periodic digest instead ("" = no digest).
    digest_from = models.CharField(
        max_length=2, blank=True, choices=[("", "no digest"), ("P3", "P3 and P4"), ("P4", "P4")]
    )
    enabled = models.BooleanField(default=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["channel__name", "name"]

    def __str__(self) -> str:
        return f"{self.name} -> {self.channel.name}"


class Notification(models.Model):
    """One event an app emitted, as it will be told."""

    event = models.CharField(max_length=30, choices=NotifyEvent.choices, db_index=True)
    severity = models.CharField(max_length=2, choices=SEVERITY_CHOICES)
    cluster_id = models.PositiveIntegerField(null=True, blank=True)
    namespace = models.CharField(max_length=253, blank=True)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    fields = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=1000, blank=True)  # absolute (ZEROTOUCH_URL + path)
    action_id = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.severity} {self.title}"

    def as_event(self) -> dict:
        return {
            "id": self.pk,
            "event": self.event,
            "label": NotifyEvent(self.event).label,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "fields": self.fields,
            "link": self.link,
            "cluster_id": self.cluster_id,
            "namespace": self.namespace,
            "action_id": self.action_id,
            "created_at": self.created_at.isoformat(),
        }


class DeliveryMode(models.TextChoices):
    IMMEDIATE = "immediate", "At once"
    DIGEST = "digest", "In the digest"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting: for a worker, a retry, quiet hours' end, a digest
    SENDING = "sending", "Sending"  # claimed by a worker until lease_until
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # gave up: see last_error


class Delivery(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="deliveries"
    )
    mode = models.CharField(max_length=10, choices=DeliveryMode.choices)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    deliver_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)  # a task last queued for it
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="one_delivery")
        ]
        indexes = [models.Index(fields=["status", "mode", "deliver_after"])]

    def __str__(self) -> str:
        return f"{self.notification_id} -> {self.channel_id}: {self.status}"


__all__ = [
    "ROUTABLE",
    "ChannelKind",
    "Delivery",
    "DeliveryMode",
    "DeliveryStatus",
    "Notification",
    "NotificationChannel",
    "NotificationRule",
    "NotifyEvent",
]
