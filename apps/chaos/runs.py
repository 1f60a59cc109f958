"""A run's life after it is started: watched, ended or aborted, cleaned up, checked after.

- The watcher (beat, every CHAOS_WATCH_SECONDS) looks at every active run. Once its Action has
  injected the fault it evaluates the probes: a probe broken for longer than the experiment's
  grace aborts the run; a mode of `halted` aborts it; when the duration is over the run ends.
  An Action that governance refused, or that failed, ends the run with nothing injected.
- An abort — a probe, the emergency stop (a halt hook, in the transaction of the change), or
  a person pressing Abort — queues the governance executor to end the fault: an Action not yet
  run is cancelled, an injected one has its Chaos Mesh object deleted. So does a normal end
  (the object has already stopped by its own duration; deleting it is the clean-up).
- Steady state is checked again once the fault is gone (CHAOS_SETTLE_SECONDS after the end).
- The sweeper (beat) deletes Chaos Mesh objects of ZeroTouch's runs that are no longer
  active: what a worker killed in the middle of an abort left behind.

Times are on the cluster's clock (the API server's Date), as the fault's own duration is, so a
sandbox in fast-forward is watched in its own time. Every step is an audit event and a line
on the run's timeline.
"""

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster
from apps.core.errors import Conflict
from apps.core.models import Mode
from apps.core.registry import WORKLOAD_INCIDENTS
from apps.core.roles import Cap, require
from apps.core.services import audit_record
from apps.governance.action_models import Status
from apps.governance.actions import effective_mode
from apps.governance.chaosmesh import OBJECT_PREFIX
from apps.governance.queueing import queue_chaos_stop

from . import grading, probes
from .faults import NODE_FAULTS, Fault
from .models import Run

WATCHER = "system:chaos-watch"
NOT_INJECTED = {
    Status.REJECTED,
    Status.EXPIRED,
    Status.BLOCKED,
    Status.CANCELLED,
    Status.FAILED,
    Status.ROLLED_BACK,
}
CHAOS_OBJECT_KINDS = ("PodChaos", "NetworkChaos", "StressChaos", "NodeChaos")
GRADE_WINDOW = timedelta(minutes=30)  # incidents counted, and regrading, until this after the end
BROKEN = "steady state broken"
MAX_READINGS = 720  # probe readings kept per run for its chart (2 h at the default watch)


def note(run: Run, kind: str, text: str, at: datetime | None = None) -> None:
    """A line on the run's timeline (saved by the caller), on the cluster's clock: `at` when
    the caller read it from the API server, else the latest the run knows of."""
    at = at or cluster_now(run)
    run.timeline = [*run.timeline, {"at": at.isoformat(), "kind": kind, "text": text[:500]}]


def cluster_now(run: Run) -> datetime:
    """The latest cluster time known: its last collection or the run's last timeline line."""
    known = [run.experiment.cluster.last_cluster_time]
    known += [datetime.fromisoformat(t["at"]) for t in run.timeline[-1:]]
    known = [t for t in known if t is not None]
    return max(known) if known else timezone.now()


def injected_at(run: Run) -> datetime | None:
    """When the fault went in, on the cluster's clock (the executor's verification)."""
    result = run.action.result or {}
    if run.action.status != Status.SUCCEEDED or not result.get("verified_at"):
        return None
    return datetime.fromisoformat(result["verified_at"])


def ends_at(run: Run) -> datetime | None:
    start = injected_at(run)
    return start + timedelta(seconds=run.experiment.duration_seconds) if start else None


# --- aborting -------------------------------------------------------------------------------


def run_abort(*, actor: AbstractBaseUser | str, run: Run, reason: str) -> Run:
    """End a run now: the fault is taken away (the Action cancelled if it has not run, the
    object deleted if it has). People need `run_chaos`. An ended run answers 409."""
    if not isinstance(actor, str):
        require(actor, Cap.RUN_CHAOS)
    with transaction.atomic():
        locked = (
            Run.objects.select_for_update().select_related("action", "experiment").get(pk=run.pk)
        )
        if locked.phase != Run.Phase.ACTIVE:
            raise Conflict(f"run #{run.pk} has already {locked.phase}: {locked.end_reason}")
        _abort_locked(locked, actor=actor, reason=reason)
    return locked


def _abort_locked(run: Run, *, actor, reason: str, at: datetime | None = None) -> None:
    name = actor if isinstance(actor, str) else actor.get_username()
    _close(
        run,
        Run.Phase.ABORTED,
        actor=actor,
        reason=reason,
        at=at,
        settle=True,
        line=f"aborted by {name}: {reason}",
    )
    queue_chaos_stop(run.action_id, actor=name, reason=f"chaos run #{run.pk} aborted: {reason}")


def _close(run: Run, phase: str, *, actor, reason: str, at, settle: bool, line: str) -> None:
    """Write a locked run's end (aborted or ended), its timeline line and its audit event."""
    run.phase, run.end_reason, run.ended_at = phase, reason[:2000], timezone.now()
    if settle:  # steady state is checked again once the fault is gone
        run.after_due = timezone.now() + timedelta(seconds=settings.CHAOS_SETTLE_SECONDS)
    note(run, "abort" if phase == Run.Phase.ABORTED else "end", line, at)
    run.save()
    _audit(
        run,
        "chaos.run.abort" if phase == Run.Phase.ABORTED else "chaos.run.end",
        actor,
        {"action": run.action_id, "action_status": run.action.status},
        reason,
    )


def _audit(run: Run, verb: str, actor, after: dict, reason: str = "") -> None:
    audit_record(
        actor=actor,
        verb=verb,
        target_type="chaos.run",
        target_id=str(run.pk),
        target_repr=str(run.experiment),
        after=after,
        reason=reason,
    )


def runs_abort_halted(scope: str, reason: str) -> None:
    """The emergency stop (core's HALT_HOOKS): every active run in the halted scope is aborted
    in the transaction of the change, and its fault queued to be taken away."""
    runs = Run.objects.select_for_update().select_related("action", "experiment")
    runs = runs.filter(phase=Run.Phase.ACTIVE)
    if scope.startswith("cluster:"):
        runs = runs.filter(experiment__cluster_id=int(scope.split(":", 1)[1]))
    for run in runs:
        _abort_locked(run, actor="system:emergency-stop", reason=f"halted: {reason}")


# --- the watcher ----------------------------------------------------------------------------


def runs_watch() -> dict:
    """One look at every active run, and at ended ones whose after-check is due. Returns
    counts of what it did."""
    done = {"watched": 0, "aborted": 0, "ended": 0, "checked_after": 0, "graded": 0}
    active = Run.objects.filter(phase=Run.Phase.ACTIVE).select_related(
        "action", "experiment__cluster"
    )
    for run in active:
        done["watched"] += 1
        outcome = _watch_one(run)
        if outcome:
            done[outcome] += 1
    due = Run.objects.filter(after_due__lte=timezone.now()).select_related(
        "action", "experiment__cluster"
    )
    for run in due:
        _check_after(run)
        done["checked_after"] += 1
    # Grades wait for the incident: regraded at each watch until final, at most GRADE_WINDOW.
    open_grades = Run.objects.filter(
        after_due__isnull=True,
        ended_at__gte=timezone.now() - GRADE_WINDOW,
        grade__final=False,
    ).select_related("action", "experiment__cluster")
    for run in open_grades:
        run_grade(run)
        done["graded"] += 1
    return done


def run_grade(run: Run) -> dict:
    """Grade the run from the incidents about its workload (core's WORKLOAD_INCIDENTS) and
    store it; an "after" line and audit event when it first becomes final."""
    e, start = run.experiment, injected_at(run)
    incidents = []
    if start is not None:
        until = (ends_at(run) or start) + GRADE_WINDOW
        node = run.action.target_name if Fault(e.fault) in NODE_FAULTS and run.action else ""
        for find in WORKLOAD_INCIDENTS:
            incidents += find(e.cluster_id, e.namespace, e.workload, start, until)
            if node:  # a node fault: the incidents about the node itself too
                incidents += find(e.cluster_id, "", node, start, until)
        incidents.sort(key=lambda i: i["detected_at"])
    g = grading.grade(
        fault=e.fault,
        injected_at=start,
        aborted_by_probe=run.phase == Run.Phase.ABORTED and run.end_reason.startswith(BROKEN),
        steady_after=run.steady_after,
        incidents=incidents,
    )
    g = json.loads(json.dumps(g, cls=DjangoJSONEncoder))  # datetimes as ISO text
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        was_final = bool(locked.grade and locked.grade.get("final"))
        locked.grade = g
        fields = ["grade"]
        if g["final"] and not was_final:
            note(
                locked,
                "grade",
                f"graded {g['score']}: {g['verdict']}" if g["score"] is not None else g["verdict"],
            )
            fields.append("timeline")
            _audit(locked, "chaos.run.graded", WATCHER, g)
        locked.save(update_fields=fields)
    run.grade = g
    return g


def read_probes(run: Run) -> tuple[list[dict], datetime | None]:
    """The run's probes now, and the cluster's clock when they were read (None when the
    cluster could not be reached: every probe then fails, saying so)."""
    e = run.experiment
    try:
        gw = gateway_for(e.cluster)
        try:
            results = probes.evaluate(
                gw,
                cluster=e.cluster,
                namespace=e.namespace,
                workload=e.workload,
                selector=e.selector,
                probes=e.probes,
                baseline=run.baseline,
            )
            return results, gw.last_server_time
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        return [{"probe": "cluster", "ok": False, "value": None, "detail": exc.message}], None


def _watch_one(run: Run) -> str:
    a = run.action
    if a.status in NOT_INJECTED:
        outcome = _end(run, f"nothing was injected: the action {a.status} ({a.status_reason})")
        if outcome:
            run.refresh_from_db()
            run_grade(run)
        return outcome
    if a.status != Status.SUCCEEDED:
        return ""  # waiting for approval, or being executed
    e = run.experiment
    if effective_mode(e.cluster) == Mode.HALTED:
        with transaction.atomic():
            locked = _lock(run)
            if locked is not None:
                _abort_locked(locked, actor=WATCHER, reason="the safety mode is halted")
        return "aborted"
    results, at = read_probes(run)
    now = at or timezone.now()
    ends = ends_at(run)
    if ends is not None and now >= ends:
        return _end(run, "its duration is over", at=now, stop=True)
    broken = [r for r in results if not r["ok"]]
    with transaction.atomic():
        locked = _lock(run)
        if locked is None:
            return ""
        reading = {"at": now.isoformat(), "results": [_reading(r) for r in results]}
        locked.readings = [*locked.readings, reading][-MAX_READINGS:]
        if not broken:
            if locked.breach_since is not None:
                locked.breach_since = None
                note(locked, "probe", "steady state holds again", now)
            locked.save(update_fields=["breach_since", "timeline", "readings"])
            return ""
        text = "; ".join(f"{r['probe']}: {r['detail']}" for r in broken)
        if locked.breach_since is None:
            locked.breach_since = now
            note(locked, "probe", f"a probe broke: {text}", now)
        locked.save(update_fields=["breach_since", "timeline", "readings"])
        if (now - locked.breach_since).total_seconds() >= e.grace_seconds:
            _abort_locked(
                locked,
                actor=WATCHER,
                reason=f"{BROKEN} for over {e.grace_seconds} s: {text}",
                at=now,
            )
            return "aborted"
    return ""


def _reading(r: dict) -> dict:
    return {"probe": r["probe"], "ok": r["ok"], "value": r["value"]}


def _lock(run: Run) -> Run | None:
    """The run locked, if it is still active (an abort may have come in meanwhile)."""
    return (
        Run.objects.select_for_update()
        .select_related("action", "experiment__cluster")
        .filter(pk=run.pk, phase=Run.Phase.ACTIVE)
        .first()
    )


def _end(run: Run, reason: str, *, at: datetime | None = None, stop: bool = False) -> str:
    with transaction.atomic():
        locked = _lock(run)
        if locked is None:
            return ""
        _close(
            locked,
            Run.Phase.ENDED,
            actor=WATCHER,
            reason=reason,
            at=at,
            settle=stop,
            line=f"ended: {reason}",
        )
        if stop:  # the object stopped by its own duration; deleting it is the clean-up
            queue_chaos_stop(
                locked.action_id, actor=WATCHER, reason=f"chaos run #{locked.pk} ended: clean-up"
            )
    return "ended"


def _check_after(run: Run) -> None:
    results, at = read_probes(run)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.after_due is None:
            return
        locked.steady_after, locked.after_due = results, None
        holds = all(r["ok"] for r in results)
        note(
            locked,
            "after",
            "steady state holds after the run"
            if holds
            else "steady state does NOT hold after the run: "
            + "; ".join(f"{r['probe']}: {r['detail']}" for r in results if not r["ok"]),
            at,
        )
        locked.save(update_fields=["steady_after", "after_due", "timeline"])
        _audit(locked, "chaos.run.after", WATCHER, {"steady_state": results})
    run.steady_after = results
    run_grade(run)


# --- the sweeper ----------------------------------------------------------------------------


def chaos_sweep() -> int:
    """Take away (through the executor) every fault of a ZeroTouch run that is no longer
    active: its Chaos Mesh object still there, or its drained node never uncordoned. Returns
    how many it queued."""
    queued = 0
    for cluster in Cluster.objects.filter(enabled=True):
        try:
            gw = gateway_for(cluster)
            try:
                names = [
                    o["metadata"]["name"]
                    for kind in CHAOS_OBJECT_KINDS
                    for o in gw.list_chaos(kind)
                    if o["metadata"]["name"].startswith(OBJECT_PREFIX)
                ]
            finally:
                gw.close()
        except gw_errors.GatewayError:
            continue  # unreachable: the next sweep tries again
        ids = [int(n[len(OBJECT_PREFIX) :]) for n in names if n[len(OBJECT_PREFIX) :].isdigit()]
        ids += _drains_not_undone(cluster)
        stale = Run.objects.filter(action_id__in=ids).exclude(phase=Run.Phase.ACTIVE)
        with transaction.atomic():
            for run in stale:
                queue_chaos_stop(
                    run.action_id,
                    actor="system:chaos-sweep",
                    reason=f"chaos run #{run.pk} is {run.phase}; its fault object was left behind",
                )
                queued += 1
    return queued


def _drains_not_undone(cluster) -> list[int]:
    """Action ids of chaos drains whose run is over but whose node was never uncordoned."""
    drains = Run.objects.filter(
        experiment__cluster=cluster, action__kind="drain_node", action__status=Status.SUCCEEDED
    ).exclude(phase=Run.Phase.ACTIVE)
    return [
        r.action_id
        for r in drains.select_related("action")
        if not (r.action.result or {}).get("stops")
    ]
