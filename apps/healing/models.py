"""Incidents: one problem on one thing, from detection to a verified outcome, with the
timeline that explains it."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Status(models.TextChoices):
    OPEN = "open", "Open"  # detected; a fix is proposed or awaits approval
    ACTING = "acting", "Fix in progress"  # the fix is approved, queued or running
    VERIFYING = "verifying", "Verifying"  # the fix ran; watching that it holds
    ESCALATED = "escalated", "Escalated"  # a person must act: no safe fix, or the fix failed
    RESOLVED = "resolved", "Resolved"


ACTIVE = (Status.OPEN, Status.ACTING, Status.VERIFYING, Status.ESCALATED)


class Incident(models.Model):
    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=32)  # cause + the thing: one problem, one row
    cause = models.CharField(max_length=30)
    scope = models.CharField(max_length=12)  # workload | node | pvc | namespace | pod
    namespace = models.CharField(max_length=253, blank=True)
    name = models.CharField(max_length=253)
    title = models.CharField(max_length=300)
    hypothesis = models.TextField()
    evidence = models.JSONField(default=list)  # in words
    signals = models.JSONField(default=list)  # the signal kinds seen
    confidence = models.FloatField()
    severity = models.CharField(max_length=2)  # P1..P4
    preventive = models.BooleanField(default=False)  # predicted, nothing failed yet
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    runbook = models.CharField(max_length=40, blank=True)
    resolution = models.TextField(blank=True)  # how it ended, in words
    action = models.ForeignKey(  # the current fix
        "governance.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Cluster time (the API server's clock): MTTD and MTTR are measured on it.
    started_at = models.DateTimeField()  # the first sign of the failure
    detected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()  # the last cycle that still saw it
    verify_until = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)  # signals gone after the fix
    resolved_at = models.DateTimeField(null=True, blank=True)  # recovery confirmed
    healed_by_zerotouch = models.BooleanField(default=False)  # resolved by our action
    human_involved = models.BooleanField(default=False)  # a person approved or acted
    reopened = models.PositiveIntegerField(default=0)  # came back soon after resolving
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "fingerprint"],
                condition=~Q(status="resolved"),
                name="one_active_incident_per_problem",
            )
        ]
        indexes = [models.Index(fields=["cluster", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.severity} {self.title}"

    @property
    def target_label(self) -> str:
        return (
            f"{self.namespace}/{self.name}"
            if self.namespace and self.scope != "namespace"
            else self.name
        )

    @property
    def cause_label(self) -> str:
        return self.cause.replace("_", " ")

    @property
    def mttd_seconds(self) -> float:
        return max(0.0, (self.detected_at - self.started_at).total_seconds())

    @property
    def mttr_seconds(self) -> float | None:
        """Detection -> the first restore of service: the first cycle after the fix that no
        longer saw the problem (the verification window that confirms it is not counted;
        a recurrence reopens the incident and is counted in `reopened`, not here)."""
        end = self.recovered_at or self.resolved_at
        if end is None:
            return None
        return max(0.0, (end - self.detected_at).total_seconds())


class TimelineEntry(models.Model):
    """What happened to an incident, in order: detection, evidence, proposals, decisions,
    execution, verification, resolution."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()  # cluster time
    kind = models.CharField(max_length=20)
    text = models.TextField()
    action = models.ForeignKey(
        "governance.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.kind}: {self.text[:60]}"


class LogExcerpt(models.Model):
    """The last lines a failing container wrote, kept with the incident: when it was escalated,
    and when a person asked for the latest ones (a worker reads them: the web process never
    reads the cluster). Still there after the pod is gone. Shown to the roles that may read
    logs (they can hold secrets); `error` says why none could be read. A requested fetch is
    a row with `fetching` set until the worker fills it: at most one per incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="log_excerpts")
    at = models.DateTimeField()  # cluster time of the capture
    pod = models.CharField(max_length=253, blank=True)
    container = models.CharField(max_length=253, blank=True)
    previous = models.BooleanField(default=False)  # the run before its last restart
    lines = models.JSONField(default=list)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)  # "": kept at escalation
    fetching = models.BooleanField(default=False)  # queued or running on a worker
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(fetching=True),
                name="one_log_fetch_per_incident",
            )
        ]

    def __str__(self) -> str:
        which = " (previous)" if self.previous else ""
        return f"{self.pod}/{self.container}{which}: {len(self.lines)} lines"


# Alertmanager receivers and alerts (alert_models.py), registered with this app.
from .alert_models import Alert as Alert  # noqa: E402
from .alert_models import AlertReceiver as AlertReceiver  # noqa: E402
from .alert_models import AlertStatus as AlertStatus  # noqa: E402
