"""Actions: every change ZeroTouch makes to a cluster, their approvals, and the policy."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    RESTART_POD = "restart_pod", "Restart pod"
    EVICT_POD = "evict_pod", "Evict pod"
    ROLLOUT_RESTART = "rollout_restart", "Rollout restart"
    SCALE = "scale", "Scale"
    ROLLOUT_UNDO = "rollout_undo", "Rollout undo"
    PATCH_RESOURCES = "patch_resources", "Patch resources"
    CORDON = "cordon", "Cordon node"
    UNCORDON = "uncordon", "Uncordon node"
    DRAIN_NODE = "drain_node", "Drain node"
    CHAOS_POD_KILL = "chaos_pod_kill", "Chaos: pod kill"
    CHAOS_NETWORK_DELAY = "chaos_network_delay", "Chaos: network delay"
    CHAOS_STRESS = "chaos_stress", "Chaos: CPU stress"
    CHAOS_POD_FAILURE = "chaos_pod_failure", "Chaos: pod failure"
    CHAOS_CONTAINER_KILL = "chaos_container_kill", "Chaos: container kill"
    CHAOS_NETWORK_LOSS = "chaos_network_loss", "Chaos: packet loss"
    CHAOS_NETWORK_PARTITION = "chaos_network_partition", "Chaos: network partition"
    CHAOS_MEMORY_STRESS = "chaos_memory_stress", "Chaos: memory stress"
    CHAOS_NODE_NOT_READY = "chaos_node_not_ready", "Chaos: node NotReady (sandbox)"


NODE_KINDS = {Kind.CORDON, Kind.UNCORDON, Kind.DRAIN_NODE, Kind.CHAOS_NODE_NOT_READY}
POD_KINDS = {Kind.RESTART_POD, Kind.EVICT_POD}
CHAOS_KINDS = {
    Kind.CHAOS_POD_KILL,
    Kind.CHAOS_POD_FAILURE,
    Kind.CHAOS_CONTAINER_KILL,
    Kind.CHAOS_NETWORK_DELAY,
    Kind.CHAOS_NETWORK_LOSS,
    Kind.CHAOS_NETWORK_PARTITION,
    Kind.CHAOS_STRESS,
    Kind.CHAOS_MEMORY_STRESS,
    Kind.CHAOS_NODE_NOT_READY,
}
# Faults only the sandbox plays (a real cluster has no API that stops a kubelet).
SANDBOX_ONLY_KINDS = {Kind.CHAOS_NODE_NOT_READY}


class Status(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    BLOCKED = "blocked", "Blocked"
    CANCELLED = "cancelled", "Cancelled"


# Waiting or under way: one of these on a workload means a change is already in hand.
IN_FLIGHT = (Status.PROPOSED, Status.APPROVED, Status.QUEUED, Status.RUNNING)

FINAL = {
    Status.REJECTED,
    Status.EXPIRED,
    Status.SUCCEEDED,
    Status.FAILED,
    Status.ROLLED_BACK,
    Status.BLOCKED,
    Status.CANCELLED,
}


class Severity(models.TextChoices):
    P1 = "P1", "P1 — critical"
    P2 = "P2", "P2 — high"
    P3 = "P3", "P3 — medium"
    P4 = "P4", "P4 — low"


class Risk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Source(models.TextChoices):
    HEALING = "healing", "Healing"
    CHAOS = "chaos", "Chaos"
    COSTS = "costs", "Costs"
    MANUAL = "manual", "Manual"
    API = "api", "API"


# ZeroTouch's own proposers: only their proposals may be auto-approved, never a person's.
POLICY_SOURCES = {Source.HEALING, Source.COSTS, Source.CHAOS}


class Action(models.Model):
    cluster = models.ForeignKey(
        "clusters.Cluster", on_delete=models.PROTECT, related_name="actions"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    namespace = models.CharField(max_length=253, blank=True)  # "" for node actions
    target_kind = models.CharField(max_length=40)  # Pod, Deployment, Node
    target_name = models.CharField(max_length=253)
    target_uid = models.CharField(max_length=64, blank=True)
    workload = models.CharField(max_length=253, blank=True)  # the deployment a pod belongs to
    parameters = models.JSONField(default=dict)
    # What the parameters change, as the cluster reported it when proposed (old -> new on the
    # pages): {"replicas": 3} for a scale, the container's {"limits": ..., "requests": ...}
    # for a resources patch; {} where the change has no value to compare (a restart, a drain).
    before = models.JSONField(default=dict, blank=True)
    evidence = models.JSONField(default=dict)
    reason = models.TextField()
    severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P3)
    risk = models.CharField(max_length=6, choices=Risk.choices, default=Risk.MEDIUM)
    # How severity and risk were derived (governance/rating.py): {"severity", "risk", "why":
    # [...], "requested": what the proposer asked for, "judged": a runbook's or plan's rating}
    rating = models.JSONField(default=dict)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    requester = models.CharField(max_length=150)  # username or policy:<name>@<version>
    requester_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fingerprint = models.CharField(max_length=64)  # kind + target + parameters
    approved_fingerprint = models.CharField(max_length=64, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PROPOSED, db_index=True
    )
    status_reason = models.TextField(blank=True)  # why it is blocked, failed, cancelled...
    policy_version = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()  # proposed actions expire; approvals bind until it
    approved_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)  # the executor's claim
    lease_holder = models.CharField(max_length=200, blank=True)  # the worker that holds it
    claimed_at = models.DateTimeField(null=True, blank=True)  # when it took the lease
    # When a sweep first found its lease holder silent: a second sweep that still finds it so
    # ends the lease (one observation could be a database hiccup, not a dead worker).
    holder_silent_since = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    snapshot = models.JSONField(null=True, blank=True)  # the target before the change
    result = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # A proposal its proposer replaced by a fresh one before anyone decided (it is cancelled).
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["cluster", "namespace", "created_at"]),
            models.Index(fields=["cluster", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.target_label}"

    @property
    def target_label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.target_kind.lower()} {where}{self.target_name}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


class Approval(models.Model):
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="approvals")
    approver = models.CharField(max_length=150)  # username or policy:<name>@<version>
    approver_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(
        max_length=8, choices=[("approve", "approve"), ("reject", "reject")]
    )
    fingerprint = models.CharField(max_length=64)  # what was approved
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "approver"], name="one_decision_per_approver")
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision} #{self.action_id}"


class Policy(models.Model):
    """The approval policy and guard budgets, as data. A change makes a new version."""

    name = models.CharField(max_length=60, default="default")
    version = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    rules = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, default="system:install")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="uniq_policy")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def label(self) -> str:
        return f"policy:{self.name}@{self.version}"
