"""Alerts from Alertmanager: the receivers that may send them (a bearer token each, stored as a
digest), and each alert as it last arrived, deduplicated by its fingerprint. Imported by
models.py; healing reads firing alerts as one more source of signals."""

from django.db import models
from django.utils import timezone


class AlertReceiver(models.Model):
    """One Alertmanager webhook receiver: its token, the cluster it speaks for (or the label
    that names the cluster, among the clusters it may speak for), and the label names that name
    an alert's target."""

    name = models.SlugField(max_length=60, unique=True)
    # The cluster every alert of this receiver is about; None: the `cluster_label` names it,
    # and it must be one of `clusters`.
    cluster = models.ForeignKey(
        "clusters.Cluster", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The clusters the label may name (a receiver without a cluster of its own); none: no alert
    # is taken.
    clusters = models.ManyToManyField("clusters.Cluster", blank=True, related_name="+")
    cluster_label = models.CharField(max_length=100, default="cluster")
    namespace_label = models.CharField(max_length=100, default="namespace")
    pod_label = models.CharField(max_length=100, default="pod")
    workload_label = models.CharField(max_length=100, default="deployment")
    node_label = models.CharField(max_length=100, default="node")
    prefix = models.CharField(max_length=12)  # the token's first characters, to recognise it
    digest = models.CharField(max_length=64, unique=True)  # sha256 of the token
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def labels(self) -> dict[str, str]:
        """Which label names what, for the alert's target."""
        return {
            "cluster": self.cluster_label,
            "namespace": self.namespace_label,
            "pod": self.pod_label,
            "workload": self.workload_label,
            "node": self.node_label,
        }


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One alert (one fingerprint) on one cluster, as Alertmanager last sent it. A firing alert
    sent again updates this row; `resolved` ends it; the same fingerprint firing later starts
    it again. The row belongs to the receiver that made it: another receiver's calls about the
    same fingerprint change nothing while that one is active."""

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="+")
    receiver = models.ForeignKey(
        AlertReceiver, null=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    fingerprint = models.CharField(max_length=64)
    alertname = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    kind = models.CharField(max_length=30)  # the signal kind it stands for (alerts.kind_for)
    severity = models.CharField(max_length=40, blank=True)  # its `severity` label
    # The target, read from the labels the receiver names.
    namespace = models.CharField(max_length=253, blank=True)
    pod = models.CharField(max_length=253, blank=True)
    workload = models.CharField(max_length=253, blank=True)
    node = models.CharField(max_length=253, blank=True)
    container = models.CharField(max_length=253, blank=True)
    pvc = models.CharField(max_length=253, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.CharField(max_length=2000, blank=True)
    group_key = models.CharField(max_length=2000, blank=True)
    incident = models.ForeignKey(
        "healing.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    received_at = models.DateTimeField(default=timezone.now)  # first arrival
    updated_at = models.DateTimeField(default=timezone.now)  # last arrival
    resolved_at = models.DateTimeField(null=True, blank=True)  # when `resolved` arrived

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "fingerprint"], name="one_alert_per_print")
        ]
        indexes = [models.Index(fields=["cluster", "status"])]

    def __str__(self) -> str:
        return f"{self.alertname} {self.status} ({self.fingerprint})"

    @property
    def summary(self) -> str:
        a = self.annotations or {}
        return a.get("summary") or a.get("message") or a.get("description") or ""

    @property
    def description(self) -> str:
        a = self.annotations or {}
        text = a.get("description") or ""
        return "" if text == self.summary else text
