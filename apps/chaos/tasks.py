"""Beat tasks of chaos: the watcher of running experiments and the sweeper of fault objects
left behind. Thin: the logic is in runs.py."""

from celery import shared_task

from apps.core import context

from .gamedays import gamedays_advance
from .runs import chaos_sweep, runs_watch
from .services import schedules_due


@shared_task(name="chaos.runs_watch", ignore_result=True)
def runs_watch_task() -> dict:
    """Beat, every CHAOS_WATCH_SECONDS: probes of running experiments, aborts and ends; then
    each running GameDay's next run once the one before is over."""
    with context.bound(request_id="task:chaos-watch"):
        done = runs_watch()
        done["gameday_runs_started"] = gamedays_advance()
        return done


@shared_task(name="chaos.sweep", ignore_result=True)
def sweep_task() -> int:
    """Beat, every minute: delete fault objects of runs that are no longer active."""
    with context.bound(request_id="task:chaos-sweep"):
        return chaos_sweep()


@shared_task(name="chaos.schedules_due", ignore_result=True)
def schedules_due_task() -> dict:
    """Beat, every minute: start saved experiments whose schedule has come (or say why not)."""
    with context.bound(request_id="task:chaos-schedule"):
        return schedules_due()
