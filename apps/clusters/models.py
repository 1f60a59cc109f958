"""The cluster registry, the current inventory, and the time series the collector stores."""

from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.functional import cached_property

DEFAULT_PROTECTED = ["kube-system", "kube-public", "kube-node-lease"]


def default_protected() -> list[str]:
    return list(DEFAULT_PROTECTED)


class Cluster(models.Model):
    class Connection(models.TextChoices):
        KUBECONFIG = "kubeconfig", "Kubeconfig file and context"
        IN_CLUSTER = "in_cluster", "In-cluster service account"
        SANDBOX = "sandbox", "Sandbox (simulated)"

    class Environment(models.TextChoices):
        PRODUCTION = "production", "Production"
        STAGING = "staging", "Staging"
        DEVELOPMENT = "development", "Development"

    name = models.SlugField(max_length=60, unique=True)
    connection = models.CharField(max_length=20, choices=Connection.choices)
    kubeconfig_path = models.CharField(max_length=500, blank=True)
    context = models.CharField(max_length=200, blank=True)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.DEVELOPMENT
    )
    protected_namespaces = models.JSONField(default=default_protected)
    collect_interval_seconds = models.PositiveIntegerField(default=30)
    prometheus_url = models.URLField(blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Health, written by the collector.
    reachable = models.BooleanField(null=True)
    server_version = models.CharField(max_length=100, blank=True)
    node_count = models.PositiveIntegerField(default=0)
    pod_count = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_collected_at = models.DateTimeField(null=True, blank=True)
    last_cluster_time = models.DateTimeField(null=True, blank=True)  # the API server's clock
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    metrics_available = models.BooleanField(null=True)
    # The last collection's objects stored clamped or skipped (collector.Collection.skipped):
    # {"count": n, "first": ["pod shop/x container y: limits.memory ... stored as unknown"]}
    collect_warnings = models.JSONField(default=dict, blank=True)
    history_until = models.DateTimeField(null=True, blank=True)  # Prometheus read up to here
    collecting_until = models.DateTimeField(null=True, blank=True)  # a collection's lease

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def simulated(self) -> bool:
        return self.connection == self.Connection.SANDBOX

    @property
    def health(self) -> str:
        """The connection's: can ZeroTouch read the cluster, and lately."""
        if self.reachable is None:
            return "unknown"
        if not self.reachable:
            return "unreachable"
        if self.stale:
            return "stale"
        return "degraded" if self.last_error else "healthy"

    @cached_property
    def failing_workloads(self) -> list[str]:
        """Workloads with fewer ready replicas than desired, as "namespace/name (ready/desired)"."""
        rows = self.workloads.filter(replicas__gt=0, ready_replicas__lt=F("replicas")).order_by(
            "namespace", "name"
        )
        return [f"{w.namespace}/{w.name} ({w.ready_replicas}/{w.replicas})" for w in rows]

    @property
    def state(self) -> str:
        """What the pages and /ai/status show: the connection's health, and "degraded" too
        when a workload is not fully ready (a cluster in CrashLoopBackOff is not healthy)."""
        if self.health == "healthy" and self.failing_workloads:
            return "degraded"
        return self.health

    @property
    def stale(self) -> bool:
        """No successful collection for three intervals: the data shown is old."""
        if self.last_collected_at is None:
            return False
        age = (timezone.now() - self.last_collected_at).total_seconds()
        return age > 3 * self.collect_interval_seconds + 30


class Node(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=253)
    ready = models.BooleanField(default=False)
    unschedulable = models.BooleanField(default=False)
    pressure = models.JSONField(default=list)  # ["MemoryPressure", ...]
    taints = models.JSONField(default=list)
    labels = models.JSONField(default=dict)
    allocatable_cpu_m = models.PositiveIntegerField(default=0)
    allocatable_memory = models.PositiveBigIntegerField(default=0)
    kubelet_version = models.CharField(max_length=60, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="uniq_node")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Workload(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="workloads")
    namespace = models.CharField(max_length=253)
    kind = models.CharField(max_length=40, default="Deployment")
    name = models.CharField(max_length=253)
    replicas = models.PositiveIntegerField(default=0)
    ready_replicas = models.PositiveIntegerField(default=0)
    available_replicas = models.PositiveIntegerField(default=0)
    updated_replicas = models.PositiveIntegerField(default=0)
    revision = models.PositiveIntegerField(default=0)
    conditions = models.JSONField(default=list)
    last_rollout_at = models.DateTimeField(null=True, blank=True)
    # Annotated zerotouch.dev/user-facing: "true": its failures reach users (severity rises).
    user_facing = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "kind", "name"], name="uniq_workload"
            )
        ]
        ordering = ["namespace", "name"]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def status(self) -> str:
        if self.replicas and self.ready_replicas == 0:
            return "down"
        if self.ready_replicas < self.replicas:
            return "degraded"
        return "ok"


class Pod(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="pods")
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64)
    workload = models.CharField(max_length=253, blank=True)  # deployment name, if any
    node = models.CharField(max_length=253, blank=True)
    phase = models.CharField(max_length=20)
    ready = models.BooleanField(default=False)
    restarts = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=60, blank=True)  # waiting reason or last termination
    containers = models.JSONField(default=list)
    created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "namespace", "name"], name="uniq_pod")
        ]
        ordering = ["namespace", "name"]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class ContainerSample(models.Model):
    """One container at one collection: usage, restarts, readiness, OOM kills so far."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    ts = models.DateTimeField()
    namespace = models.CharField(max_length=253)
    workload = models.CharField(max_length=253, blank=True)
    pod = models.CharField(max_length=253)
    container = models.CharField(max_length=253)
    node = models.CharField(max_length=253, blank=True)
    cpu_m = models.FloatField(null=True)  # None: no usage reported (not running)
    memory = models.BigIntegerField(null=True)
    request_cpu_m = models.IntegerField(null=True)
    limit_cpu_m = models.IntegerField(null=True)
    request_memory = models.BigIntegerField(null=True)
    limit_memory = models.BigIntegerField(null=True)
    restarts = models.IntegerField(default=0)
    ready = models.BooleanField(default=False)
    state = models.CharField(max_length=12, blank=True)
    waiting_reason = models.CharField(max_length=60, blank=True)
    last_terminated_reason = models.CharField(max_length=60, blank=True)
    oom_killed = models.BooleanField(default=False)  # the last termination was an OOM kill

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "ts"]),
            models.Index(fields=["cluster", "namespace", "workload", "ts"]),
        ]

    def __str__(self) -> str:
        return f"{self.ts:%H:%M:%S} {self.namespace}/{self.pod}/{self.container}"


class NodeSample(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    ts = models.DateTimeField()
    node = models.CharField(max_length=253)
    cpu_m = models.FloatField(null=True)
    memory = models.BigIntegerField(null=True)
    allocatable_cpu_m = models.IntegerField(default=0)
    allocatable_memory = models.BigIntegerField(default=0)
    ready = models.BooleanField(default=False)
    memory_pressure = models.BooleanField(default=False)
    disk_pressure = models.BooleanField(default=False)
    pid_pressure = models.BooleanField(default=False)
    unschedulable = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "node", "ts"]),
            models.Index(fields=["cluster", "ts"]),
        ]

    def __str__(self) -> str:
        return f"{self.ts:%H:%M:%S} {self.node}"


class ClusterEvent(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="events")
    uid = models.CharField(max_length=64)
    namespace = models.CharField(max_length=253, blank=True)
    type = models.CharField(max_length=20)
    reason = models.CharField(max_length=120)
    message = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=1)
    object_kind = models.CharField(max_length=60, blank=True)
    object_name = models.CharField(max_length=253, blank=True)
    object_namespace = models.CharField(max_length=253, blank=True)
    first_seen = models.DateTimeField(null=True)
    last_seen = models.DateTimeField(null=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="uniq_event")]
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.reason} {self.object_kind}/{self.object_name}"
