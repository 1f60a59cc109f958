"""Chaos experiments as data: what to break, where, for how long; and each run of one, which
injects through a governed Action."""

from django.conf import settings
from django.db import models

from .faults import Fault


class Caps(models.Model):
    """The hard caps on every experiment, on top of governance's guards. One row; admins
    change it (audited)."""

    max_duration_seconds = models.PositiveIntegerField(default=900)
    max_pod_share_percent = models.PositiveSmallIntegerField(default=50)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "caps"

    def __str__(self) -> str:
        return f"at most {self.max_duration_seconds} s, {self.max_pod_share_percent}% of pods"


class Experiment(models.Model):
    class Mode(models.TextChoices):  # Chaos Mesh's: which of the selected pods are hit
        ONE = "one", "one pod"
        FIXED = "fixed", "a fixed number of pods"
        FIXED_PERCENT = "fixed-percent", "a share of the pods"
        ALL = "all", "every pod"

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    cluster = models.ForeignKey(
        "clusters.Cluster", on_delete=models.PROTECT, related_name="experiments"
    )
    namespace = models.CharField(max_length=63)
    workload = models.CharField(max_length=253)  # the Deployment whose pods are targeted
    selector = models.JSONField(default=dict, blank=True)  # labels narrowing its pods
    fault = models.CharField(max_length=30, choices=[(f.value, f.value) for f in Fault])
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ONE)
    value = models.CharField(max_length=10, blank=True)  # for fixed and fixed-percent
    duration_seconds = models.PositiveIntegerField()
    parameters = models.JSONField(default=dict, blank=True)  # the fault's own
    # The steady-state hypothesis: read-only probes with tolerances (probes.py), checked before
    # the run, watched during it (a break beyond `grace_seconds` aborts it) and checked after.
    probes = models.JSONField(default=list, blank=True)
    grace_seconds = models.PositiveIntegerField(default=20)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments"
    )
    one_off = models.BooleanField(default=False)  # made by POST /chaos/inject-failure
    # A saved experiment may run on a schedule: cron in its time zone, only inside its own
    # window (HH:MM-HH:MM there; empty: any time) and governance's change windows.
    schedule = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    window = models.CharField(max_length=11, blank=True)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_skip = models.TextField(blank=True)  # why the last scheduled run did not start
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name}: {self.fault} on {self.namespace}/{self.workload}"


class Run(models.Model):
    """One run of an experiment. Where the injection stands is read from its Action; the run's
    own part (watching, an abort, the end) is `phase`: see selectors.run_state."""

    class Phase(models.TextChoices):
        ACTIVE = "active", "Active"  # waiting, starting or running: the watcher looks at it
        ABORTED = "aborted", "Aborted"  # ended early: a probe broke, halted, or Abort pressed
        ENDED = "ended", "Ended"  # its duration passed, or governance never injected it

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    action = models.OneToOneField(
        "governance.Action", on_delete=models.PROTECT, related_name="chaos_run"
    )
    started_by = models.CharField(max_length=150)
    candidates = models.JSONField(default=list)  # the pods the selector matched at the start
    hit = models.PositiveIntegerField(default=0)  # how many of them the fault hits
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.ACTIVE)
    baseline = models.JSONField(default=dict)  # what probes compare against (restarts before)
    steady_before = models.JSONField(default=list)  # probe results before the injection
    steady_after = models.JSONField(default=list)  # ... and after the end
    breach_since = models.DateTimeField(null=True, blank=True)  # a probe broken since
    end_reason = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    after_due = models.DateTimeField(null=True, blank=True)  # when to check steady state after
    timeline = models.JSONField(default=list)  # [{"at", "kind", "text"}], in order
    grade = models.JSONField(null=True, blank=True)  # grading.grade, once it has ended
    readings = models.JSONField(default=list)  # [{"at", "results": [{probe, ok, value}]}]
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.experiment.name}"


class GameDay(models.Model):
    """A suite of saved experiments run in order, one after the other, inside a window; one
    report at the end."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped"  # the window closed, halted, or a run was refused

    name = models.CharField(max_length=100)
    experiments = models.JSONField(default=list)  # Experiment ids, in order
    timezone = models.CharField(max_length=64, default="UTC")
    window = models.CharField(max_length=11, blank=True)  # HH:MM-HH:MM there; empty: any time
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gamedays"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    runs = models.JSONField(default=list)  # Run ids, in the order started
    stop_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"GameDay {self.name}"
