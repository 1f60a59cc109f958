"""Model versions, risk scores and anomalies. Scores and anomalies are written by Celery tasks
after each collection; pages and the API only read them."""

from django.db import models
from django.utils import timezone

from .failure import lead_text


class ModelVersion(models.Model):
    """One trained model: what it saw, how it scored on a time-ordered hold-out, and its fate.
    Artifacts live on disk (written atomically); the row keeps everything a person needs to
    judge it."""

    class Kind(models.TextChoices):
        FAILURE = "failure", "Failure risk (RandomForest)"
        ANOMALY = "anomaly", "Anomaly detector"

    class Status(models.TextChoices):
        TRAINING = "training"
        CHALLENGER = "challenger"  # trained and evaluated, waiting for the decision
        CHAMPION = "champion"  # serving
        RETIRED = "retired"  # was champion
        REJECTED = "rejected"  # did not beat the champion
        FAILED = "failed"  # training or loading failed

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Failure models serve every cluster; anomaly detectors learn one cluster's normal.
    cluster = models.ForeignKey(
        "clusters.Cluster", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRAINING)
    source = models.CharField(max_length=20, default="cluster")  # "sandbox-base" | "cluster"
    low_confidence = models.BooleanField(default=False)  # the cold-start base model
    trained_by = models.CharField(max_length=150, default="system:beat")
    trigger = models.CharField(max_length=200, blank=True)  # why it was trained
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100 while training
    updated_at = models.DateTimeField(default=timezone.now)  # last progress: finds dead runs
    progress_note = models.CharField(max_length=200, blank=True)
    data_from = models.DateTimeField(null=True, blank=True)
    data_to = models.DateTimeField(null=True, blank=True)
    rows_train = models.PositiveIntegerField(default=0)
    rows_test = models.PositiveIntegerField(default=0)
    positives_train = models.PositiveIntegerField(default=0)
    positives_test = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict)
    figures = models.JSONField(default=dict)  # precision, recall, fpr, pr_auc, lead time...
    champion_figures = models.JSONField(default=dict)  # the champion on the same hold-out
    feature_importances = models.JSONField(default=dict)
    decision = models.TextField(blank=True)  # why it was promoted or rejected
    artifact = models.CharField(max_length=300, blank=True)  # file name under MODEL_DIR
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    sklearn_version = models.CharField(max_length=20, blank=True)
    promoted_by = models.CharField(max_length=150, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="uniq_model_version"),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(status="champion", cluster__isnull=True),
                name="one_champion_per_kind",
            ),
            models.UniqueConstraint(
                fields=["kind", "cluster"],
                condition=models.Q(status="champion", cluster__isnull=False),
                name="one_champion_per_kind_and_cluster",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version} ({self.status})"


class RiskScore(models.Model):
    """A workload's or node's failure risk at one scoring run. The latest run per cluster is
    what pages show; earlier runs make the sparklines."""

    class Level(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"
        FAILING = "failing"  # failing now (observed): a prediction would be late
        UNKNOWN = "unknown"  # not enough data: no score is made up

    # Levels from least to most urgent (unknown has no place): filters take "this or worse".
    RANKED = ("low", "medium", "high", "critical", "failing")

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="+")
    scored_at = models.DateTimeField()  # the cluster time of the samples scored
    entity_kind = models.CharField(max_length=10)  # workload | node
    namespace = models.CharField(max_length=253, blank=True)
    name = models.CharField(max_length=253)
    probability = models.FloatField(null=True)
    risk = models.PositiveSmallIntegerField(null=True)  # 0-100
    level = models.CharField(max_length=10, choices=Level.choices)
    lead_minutes = models.FloatField(null=True)  # expected time to failure
    lead_basis = models.CharField(max_length=8, blank=True)  # trend | history
    reasons = models.JSONField(default=list)  # in words
    missing = models.CharField(max_length=300, blank=True)  # why there is no score
    low_confidence = models.BooleanField(default=False)
    model = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "scored_at"]),
            models.Index(fields=["cluster", "entity_kind", "namespace", "name", "scored_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.level} {self.risk}"

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def lead_text(self) -> str:
        return lead_text(self.lead_minutes, self.lead_basis)


class Anomaly(models.Model):
    """A run of anomalous samples of one pod, workload or node: open while it lasts."""

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="+")
    entity_kind = models.CharField(max_length=10)  # workload | node
    namespace = models.CharField(max_length=253, blank=True)
    name = models.CharField(max_length=253)
    start = models.DateTimeField()
    end = models.DateTimeField()  # last anomalous sample so far
    open = models.BooleanField(default=True)
    peak_score = models.FloatField()
    threshold = models.FloatField()
    samples = models.PositiveIntegerField(default=1)
    metrics = models.JSONField(default=list)  # [{"metric", "contribution"}], largest first
    model = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    # Found by a detector that had learned from less than schedule.ANOMALY_TRUSTED: shown, but
    # it opens no incident (a new entity's idea of normal is still forming).
    learning = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "start"]),
            models.Index(fields=["cluster", "entity_kind", "namespace", "name", "end"]),
        ]
        ordering = ["-start"]

    def __str__(self) -> str:
        return f"{self.label} {self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name
