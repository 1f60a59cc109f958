"""GameDays: saved experiments run in order inside a window, each starting once the one before
has ended and been checked after; one report (page, JSON, CSV) of every run's grade.

A GameDay stops — and says why — when its window closes before the next run, when the mode is
halted, or when a run is refused (steady state, opt-in, caps: the next run would start from a
broken state). Each step is audited.
"""

import csv
import io

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from apps.core.models import Mode
from apps.core.roles import Cap, require
from apps.core.services import audit_record
from apps.governance.actions import effective_mode

from . import schedules
from .models import Experiment, GameDay, Run
from .selectors import run_state
from .services import experiment_run

MAX_EXPERIMENTS = 20
FIELDS = (
    "run",
    "experiment",
    "fault",
    "target",
    "state",
    "score",
    "detected",
    "right_cause",
    "mttd_seconds",
    "mttr_seconds",
    "steady_state_held",
    "steady_state_after",
    "verdict",
)


def gameday_create(
    *,
    actor: AbstractBaseUser,
    name: str,
    experiments: list,
    timezone_name: str = "UTC",
    window: str = "",
) -> GameDay:
    require(actor, Cap.RUN_CHAOS)
    if not name.strip():
        raise ValidationFailed("a GameDay needs a name", field="name")
    if not isinstance(experiments, list) or not 1 <= len(experiments) <= MAX_EXPERIMENTS:
        raise ValidationFailed(
            f"experiments must list 1 to {MAX_EXPERIMENTS} saved experiment ids",
            field="experiments",
        )
    found = set(
        Experiment.objects.filter(pk__in=experiments, one_off=False).values_list("pk", flat=True)
    )
    missing = [i for i in experiments if i not in found]
    if missing:
        raise ValidationFailed(
            f"no saved experiment {missing[0]!r} (one-off experiments cannot be replayed)",
            field="experiments",
        )
    try:
        schedules.check("", timezone_name, window)
    except schedules.ScheduleError as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    with transaction.atomic():
        g = GameDay.objects.create(
            name=name.strip()[:100],
            experiments=list(experiments),
            timezone=timezone_name,
            window=window,
            owner=actor,
        )
        _audit(g, actor, "chaos.gameday.create", {"experiments": g.experiments})
    return g


def gameday_start(*, actor: AbstractBaseUser, gameday: GameDay) -> GameDay:
    """Start the first run now (409 unless planned; 400 outside its window)."""
    require(actor, Cap.RUN_CHAOS)
    if gameday.status != GameDay.Status.PLANNED:
        raise Conflict(f"GameDay {gameday.name!r} is {gameday.status}")
    if not schedules.inside(gameday.window, gameday.timezone, timezone.now()):
        raise ValidationFailed(
            f"outside the GameDay's window ({gameday.window} {gameday.timezone})", field="window"
        )
    GameDay.objects.filter(pk=gameday.pk).update(
        status=GameDay.Status.RUNNING, started_at=timezone.now()
    )
    gameday.refresh_from_db()
    _audit(gameday, actor, "chaos.gameday.start", {})
    _next(gameday)
    gameday.refresh_from_db()
    return gameday


def gamedays_advance() -> int:
    """Beat (with the watcher): start each running GameDay's next run once the one before has
    ended and been checked after. Returns how many runs it started."""
    started = 0
    for g in GameDay.objects.filter(status=GameDay.Status.RUNNING):
        last = Run.objects.filter(pk=g.runs[-1]).first() if g.runs else None
        if last is not None and (last.phase == Run.Phase.ACTIVE or last.after_due is not None):
            continue
        started += _next(g)
    return started


def _next(g: GameDay) -> int:
    """Start the GameDay's next experiment, or end it. Returns 1 when a run started."""
    if len(g.runs) >= len(g.experiments):
        _finish(g, GameDay.Status.DONE, "")
        return 0
    experiment = Experiment.objects.select_related("cluster", "owner").get(
        pk=g.experiments[len(g.runs)]
    )
    if not schedules.inside(g.window, g.timezone, timezone.now()):
        _finish(g, GameDay.Status.STOPPED, f"its window ({g.window} {g.timezone}) closed")
        return 0
    if effective_mode(experiment.cluster) == Mode.HALTED:
        _finish(g, GameDay.Status.STOPPED, "the safety mode is halted")
        return 0
    try:
        run = experiment_run(
            actor=g.owner,
            experiment=experiment,
            reason=f"GameDay {g.name!r}, step {len(g.runs) + 1}",
        )
    except ApplicationError as exc:
        _finish(g, GameDay.Status.STOPPED, f"{experiment.name}: {exc.message}")
        return 0
    GameDay.objects.filter(pk=g.pk).update(runs=[*g.runs, run.pk])
    g.runs = [*g.runs, run.pk]
    return 1


def _finish(g: GameDay, status: str, why: str) -> None:
    with transaction.atomic():
        GameDay.objects.filter(pk=g.pk).update(
            status=status, stop_reason=why, ended_at=timezone.now()
        )
        g.status, g.stop_reason = status, why
        _audit(g, "system:chaos-gameday", f"chaos.gameday.{status}", {"runs": g.runs}, why)


def _audit(g: GameDay, actor, verb: str, after: dict, reason: str = "") -> None:
    audit_record(
        actor=actor,
        verb=verb,
        target_type="chaos.gameday",
        target_id=str(g.pk),
        target_repr=str(g),
        after=after,
        reason=reason,
    )


def report(g: GameDay) -> dict:
    """The GameDay's report: a row per run in order, and a summary."""
    by_id = {
        r.pk: r for r in Run.objects.filter(pk__in=g.runs).select_related("action", "experiment")
    }
    rows = []
    for pk in g.runs:
        r = by_id[pk]
        grade = r.grade or {}
        rows.append(
            {
                "run": r.pk,
                "experiment": r.experiment.name,
                "fault": r.experiment.fault,
                "target": f"{r.experiment.namespace}/{r.experiment.workload}",
                "state": run_state(r),
                **{k: grade.get(k) for k in FIELDS[5:]},
            }
        )
    scores = [row["score"] for row in rows if row["score"] is not None]
    return {
        "id": g.pk,
        "name": g.name,
        "status": g.status,
        "stop_reason": g.stop_reason,
        "started_at": g.started_at,
        "ended_at": g.ended_at,
        "experiments": len(g.experiments),
        "runs": rows,
        "mean_score": round(sum(scores) / len(scores)) if scores else None,
    }


def report_csv(g: GameDay) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in report(g)["runs"]:
        writer.writerow(row)
    return out.getvalue()
