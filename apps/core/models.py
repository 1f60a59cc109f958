"""What every app records: the audit log and its chain, safety modes and switches, API tokens
and worker heartbeats.

These models moved here from governance with their tables: each keeps its table name
(`db_table`), so the move changed no database (see migrations/0001_initial.py).
"""

from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import chain
from .errors import ApplicationError
from .notifications.models import Delivery as Delivery
from .notifications.models import Notification as Notification
from .notifications.models import NotificationChannel as NotificationChannel
from .notifications.models import NotificationRule as NotificationRule


class AppendOnlyError(ApplicationError):
    status = 409


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only: update refused")

    def delete(self):
        raise AppendOnlyError("audit events are append-only: delete refused")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only: update refused")


class AuditEvent(models.Model):
    """One recorded state change. Append-only (ORM here, a trigger in PostgreSQL) and
    hash-chained: see chain.py and `manage.py audit_verify`."""

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, db_index=True)  # username, policy:<n>, system:<n>
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    verb = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        db_table = "governance_auditevent"
        ordering = ["-seq"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor} {self.verb} {self.target_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only: update refused")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only: delete refused")

    def chain_fields(self) -> dict:
        """The hashed fields, as read back from the database (see chain.HASHED_FIELDS)."""
        fields = {name: getattr(self, name) for name in chain.HASHED_FIELDS}
        fields["created_at"] = self.created_at.astimezone(UTC).isoformat(timespec="microseconds")
        return fields

    @property
    def target_label(self) -> str:
        return self.target_repr or f"{self.target_type}:{self.target_id}"


class AuditChainHead(models.Model):
    """The last link of the chain (always pk=1). Locked by each writer, so concurrent writers
    form one linear chain; lets audit_verify notice rows removed from the end."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "governance_auditchainhead"

    def __str__(self) -> str:
        return f"head seq={self.seq}"


class AuditCheckpoint(models.Model):
    """A signed checkpoint of the chain's head, as written to the sinks outside the database
    (services/checkpoints.py). This copy is for the Audit page; verification reads the sinks,
    never this table (whoever can rewrite the audit rows could rewrite these too)."""

    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()
    key_id = models.CharField(max_length=8)
    signature = models.CharField(max_length=64)
    failed = models.JSONField(default=list, blank=True)  # sinks that refused it, and why

    class Meta:
        db_table = "governance_auditcheckpoint"
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"checkpoint seq={self.seq} at {self.at:%Y-%m-%d %H:%M:%S}"


class Mode(models.TextChoices):
    AUTONOMOUS = "autonomous", "Autonomous"
    SUPERVISED = "supervised", "Supervised"
    DRY_RUN = "dry_run", "Dry run"
    HALTED = "halted", "Halted"


# Higher is stricter. "Engaging safety" may only move up this list.
MODE_STRICTNESS = {Mode.AUTONOMOUS: 0, Mode.SUPERVISED: 1, Mode.DRY_RUN: 2, Mode.HALTED: 3}


class Switch(models.TextChoices):
    ALLOW_PROTECTED_NAMESPACES = "allow_protected_namespaces", "Allow protected namespaces"
    LIFT_BLAST_RADIUS = "lift_blast_radius", "Lift blast-radius limit"
    ALLOW_CHAOS = "allow_chaos", "Allow chaos experiments"
    AUTO_APPROVE_LOW_SEVERITY = "auto_approve_low_severity", "Auto-approve low severity"
    AUTO_HEAL_PREVENTIVE_PRODUCTION = (
        "auto_heal_preventive_production",
        "Auto-heal predicted failures in production",
    )


SWITCH_HELP = {
    Switch.ALLOW_PROTECTED_NAMESPACES: "Actions may touch kube-system and other protected "
    "namespaces.",
    Switch.LIFT_BLAST_RADIUS: "Blast-radius budgets (actions per namespace per hour, share of "
    "replicas) are not enforced.",
    Switch.ALLOW_CHAOS: "Chaos experiments may start.",
    Switch.AUTO_APPROVE_LOW_SEVERITY: "In autonomous mode, P3/P4 actions with a low-risk runbook "
    "are approved by policy.",
    Switch.AUTO_HEAL_PREVENTIVE_PRODUCTION: "Fixes for failures that are only predicted may be "
    "auto-approved on production clusters too (otherwise people approve them there).",
}


class SafetyMode(models.Model):
    """The mode of one scope ("global" now; "cluster:<id>" once clusters exist)."""

    scope = models.CharField(max_length=64, unique=True, default="global")
    mode = models.CharField(max_length=16, choices=Mode.choices)
    # When expires_at passes, the mode returns to fallback_mode by itself.
    fallback_mode = models.CharField(max_length=16, choices=Mode.choices, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "governance_safetymode"

    def __str__(self) -> str:
        return f"{self.scope}: {self.mode}"


class SafetySwitch(models.Model):
    """An override switch. On only for its lifetime when it has an expiry; off is the default."""

    scope = models.CharField(max_length=64, default="global")
    name = models.CharField(max_length=40, choices=Switch.choices)
    enabled = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "governance_safetyswitch"
        constraints = [models.UniqueConstraint(fields=["scope", "name"], name="uniq_switch")]

    def __str__(self) -> str:
        return f"{self.scope}: {self.name}={'on' if self.enabled else 'off'}"


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)  # shown in lists so a token can be recognised
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_apitoken"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class WorkerHeartbeat(models.Model):
    """Written by every Celery worker every WORKER_HEARTBEAT_SECONDS (see worker.py)."""

    hostname = models.CharField(max_length=200, unique=True)
    pid = models.PositiveIntegerField(default=0)
    # A random id per worker process: a restarted worker (in a container its pid is 1 again)
    # is a new process even under the same name and pid.
    boot = models.CharField(max_length=32, blank=True)
    # The queues it reads (settings.TASK_QUEUES' names, without the prefix): /metrics counts
    # the live workers of each, so an alert names the queue nobody reads.
    queues = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "governance_workerheartbeat"

    def __str__(self) -> str:
        return self.hostname


class Preference(models.Model):
    """A person's own display settings: the time zone their pages show wall-clock times in
    ("" follows the browser's, which app.js reports in a cookie)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    time_zone = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} preferences"


class BeatLease(models.Model):
    """Which beat process may schedule (one row): beat.py renews it on every tick, and a second
    beat schedules only once the holder has let it lapse."""

    name = models.CharField(max_length=40, unique=True)
    holder = models.CharField(max_length=200)
    acquired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name}: {self.holder}"


class WorkStat(models.Model):
    """Durations and failures of one kind of background work (a cluster's collections, its
    scorings, a model's trainings), as a Prometheus histogram kept in the database: workers in
    other processes and pods write it, /metrics reads it (services/metrics.py). Telemetry, not
    a domain change: not audited."""

    name = models.CharField(max_length=80)
    key = models.CharField(max_length=300)  # the labels, canonical
    labels = models.JSONField(default=dict)
    count = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    sum_seconds = models.FloatField(default=0.0)
    buckets = models.JSONField(default=list)  # cumulative counts per services.metrics.BUCKETS
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "key"], name="one_stat_per_labels")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels}"


class AuditVerification(models.Model):
    """The result of the last verifications of the audit chain (beat's hourly one, and every
    `audit_verify`): /metrics exposes the newest, so an alert fires when it failed."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    head_seq = models.PositiveBigIntegerField(default=0)
    events = models.PositiveBigIntegerField(default=0)
    problem = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"audit verification at {self.at}: {'ok' if self.ok else self.problem}"
