"""JSON: POST /chaos/inject-failure (a one-off experiment, or its dry run), GET
/chaos/experiments, GET /chaos/experiments/{id}, POST /chaos/runs/{id}/abort. Injection goes
through a governed Action."""

from datetime import datetime
from typing import Annotated

from ninja import Router, Schema, Status
from pydantic import Field, StringConstraints

from apps.clusters.models import Cluster
from apps.core.api import AUTH
from apps.core.errors import NotFound, ValidationFailed
from apps.core.roles import Cap, require

from . import gamedays, runs, selectors, services
from .models import Experiment, GameDay, Run

router = Router(auth=AUTH, tags=["chaos"])
Name = Annotated[str, StringConstraints(max_length=253, pattern=r"^[^\x00]*$")]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Window = Annotated[str, StringConstraints(pattern=r"^(|\d\d:\d\d-\d\d:\d\d)$")]


class InjectIn(Schema):
    cluster: Name
    namespace: Name
    target: Name  # a Deployment
    fault: Name
    duration_seconds: int
    parameters: dict = {}
    mode: Name = "one"
    value: Name | None = None
    selector: dict[str, str] | None = None  # labels narrowing the workload's pods
    probes: list[dict] | None = None  # the steady-state hypothesis; default availability >= 50%
    grace_seconds: int = 20  # how long a probe may stay broken before the run is aborted
    dry_run: bool = False
    name: Text = ""
    reason: Text = ""


class ExperimentIn(InjectIn):
    name: Text  # required for a saved experiment
    schedule: Name = ""  # cron, five fields; empty: run by hand only
    timezone: Name = "UTC"
    window: Window = ""  # HH:MM-HH:MM in the time zone; empty: any time


class RunIn(Schema):
    reason: Text = ""


class AbortIn(Schema):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]


class ActionRef(Schema):
    id: int
    kind: str
    status: str
    severity: str
    risk: str
    status_reason: str


class RunOut(Schema):
    id: int
    state: str
    started_by: str
    created_at: datetime
    candidates: list[str]
    hit: int
    action: ActionRef
    end_reason: str
    ended_at: datetime | None
    steady_before: list[dict]
    steady_after: list[dict]
    timeline: list[dict]
    grade: dict | None


class ExperimentOut(Schema):
    id: int
    name: str
    cluster: str
    namespace: str
    target: str
    selector: dict
    fault: str
    mode: str
    value: str
    duration_seconds: int
    parameters: dict
    probes: list[dict]
    grace_seconds: int
    owner: str
    one_off: bool
    schedule: str
    timezone: str
    window: str
    next_run_at: datetime | None
    last_skip: str
    enabled: bool  # false: paused (its schedule starts nothing)
    created_at: datetime


class ExperimentDetailOut(ExperimentOut):
    runs: list[RunOut]


class InjectOut(Schema):
    dry_run: bool
    plan: dict
    experiment: ExperimentOut | None = None
    run: RunOut | None = None


def _run_out(run: Run) -> dict:
    a = run.action
    return {
        "id": run.pk,
        "state": selectors.run_state(run),
        "started_by": run.started_by,
        "created_at": run.created_at,
        "candidates": run.candidates,
        "hit": run.hit,
        "end_reason": run.end_reason,
        "ended_at": run.ended_at,
        "steady_before": run.steady_before,
        "steady_after": run.steady_after,
        "timeline": run.timeline,
        "grade": run.grade,
        "action": {
            "id": a.pk,
            "kind": a.kind,
            "status": a.status,
            "severity": a.severity,
            "risk": a.risk,
            "status_reason": a.status_reason,
        },
    }


def _experiment_out(e: Experiment, *, runs: bool = False) -> dict:
    out = {
        "id": e.pk,
        "name": e.name,
        "cluster": e.cluster.name,
        "namespace": e.namespace,
        "target": e.workload,
        "selector": e.selector,
        "fault": e.fault,
        "mode": e.mode,
        "value": e.value,
        "duration_seconds": e.duration_seconds,
        "parameters": e.parameters,
        "probes": e.probes,
        "grace_seconds": e.grace_seconds,
        "owner": e.owner.get_username(),
        "one_off": e.one_off,
        "schedule": e.schedule,
        "timezone": e.timezone,
        "window": e.window,
        "next_run_at": e.next_run_at,
        "last_skip": e.last_skip,
        "enabled": e.enabled,
        "created_at": e.created_at,
    }
    if runs:
        out["runs"] = [_run_out(r) for r in e.runs.all()]
    return out


@router.post(
    "/inject-failure", response={200: InjectOut, 201: InjectOut}, summary="Inject a failure"
)
def inject_failure(request, payload: InjectIn):
    """Start a one-off experiment: checks the fault, the caps, the namespace's opt-in and the
    pods the selector matches, then proposes the Action that injects it (201). With `dry_run`
    it only says what would happen, which pods may be hit and the Chaos Mesh object (200)."""
    require(request.auth, Cap.RUN_CHAOS)
    plan = _plan(request, payload)
    if payload.dry_run:
        return Status(200, {"dry_run": True, "plan": plan.as_dict()})
    run = services.inject(actor=request.auth, plan=plan, name=payload.name, reason=payload.reason)
    return Status(
        201,
        {
            "dry_run": False,
            "plan": plan.as_dict(),
            "experiment": _experiment_out(run.experiment),
            "run": _run_out(run),
        },
    )


def _plan(request, payload: InjectIn) -> services.Plan:
    cluster = Cluster.objects.filter(name=payload.cluster).first()
    if cluster is None:
        raise ValidationFailed(f"no cluster {payload.cluster!r}", field="cluster")
    return services.plan(
        actor=request.auth,
        cluster=cluster,
        namespace=payload.namespace,
        target=payload.target,
        fault=payload.fault,
        duration_seconds=payload.duration_seconds,
        parameters=payload.parameters,
        mode=payload.mode,
        value=payload.value,
        selector=payload.selector,
        probes_given=payload.probes,
        grace_seconds=payload.grace_seconds,
    )


@router.get("/experiments", response=list[ExperimentDetailOut], summary="Experiments")
def experiments(request):
    require(request.auth, Cap.VIEW)
    return [_experiment_out(e, runs=True) for e in selectors.experiments_list()]


@router.get("/experiments/{experiment_id}", response=ExperimentDetailOut, summary="One experiment")
def experiment(request, experiment_id: int):
    require(request.auth, Cap.VIEW)
    e = selectors.experiment_get(experiment_id)
    if e is None:
        raise NotFound(f"no experiment {experiment_id}", field="experiment_id")
    return _experiment_out(e, runs=True)


@router.post("/runs/{run_id}/abort", response=RunOut, summary="Abort a run")
def abort(request, run_id: int, payload: AbortIn):
    """End a run now: its Action is cancelled if it has not run, its fault object deleted if it
    has (by the governance executor, in every safety mode). 409 when the run has ended."""
    require(request.auth, Cap.RUN_CHAOS)
    run = Run.objects.select_related("action", "experiment").filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"no run {run_id}", field="run_id")
    runs.run_abort(actor=request.auth, run=run, reason=payload.reason)
    return _run_out(Run.objects.select_related("action", "experiment").get(pk=run_id))


@router.post("/experiments", response={201: ExperimentDetailOut}, summary="Save an experiment")
def create_experiment(request, payload: ExperimentIn):
    """Save an experiment to run by hand or on its schedule (cron in its time zone, inside its
    window and governance's change windows). Checked as a run would be; nothing injected."""
    require(request.auth, Cap.RUN_CHAOS)
    e = services.experiment_create(
        actor=request.auth,
        plan=_plan(request, payload),
        name=payload.name,
        schedule=payload.schedule,
        timezone_name=payload.timezone,
        window=payload.window,
        reason=payload.reason,
    )
    return Status(201, _experiment_out(selectors.experiment_get(e.pk), runs=True))


@router.post("/experiments/{experiment_id}/run", response={201: RunOut}, summary="Run it now")
def run_experiment(request, experiment_id: int, payload: RunIn):
    require(request.auth, Cap.RUN_CHAOS)
    e = selectors.experiment_get(experiment_id)
    if e is None:
        raise NotFound(f"no experiment {experiment_id}", field="experiment_id")
    run = services.experiment_run(actor=request.auth, experiment=e, reason=payload.reason)
    return Status(201, _run_out(Run.objects.select_related("action", "experiment").get(pk=run.pk)))


class EnabledIn(Schema):
    enabled: bool
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]


@router.post(
    "/experiments/{experiment_id}/enabled",
    response=ExperimentDetailOut,
    summary="Pause or resume an experiment",
)
def enable_experiment(request, experiment_id: int, payload: EnabledIn):
    """Pause a saved experiment (its schedule starts nothing, Run now answers 409) or resume
    it (its next time counted from now). Audited with the reason."""
    require(request.auth, Cap.RUN_CHAOS)
    e = selectors.experiment_get(experiment_id)
    if e is None:
        raise NotFound(f"no experiment {experiment_id}", field="experiment_id")
    services.experiment_enable(
        actor=request.auth, experiment=e, enabled=payload.enabled, reason=payload.reason
    )
    return _experiment_out(selectors.experiment_get(experiment_id), runs=True)


class GameDayIn(Schema):
    name: Text
    experiments: Annotated[list[int], Field(min_length=1, max_length=20)]  # saved, in order
    timezone: Name = "UTC"
    window: Window = ""  # HH:MM-HH:MM in the time zone; empty: any time


class GameDayRowOut(Schema):
    run: int
    experiment: str
    fault: str
    target: str
    state: str
    score: int | None
    detected: bool | None
    right_cause: bool | None
    mttd_seconds: float | None
    mttr_seconds: float | None
    steady_state_held: bool | None
    steady_state_after: bool | None
    verdict: str | None


class GameDayOut(Schema):
    id: int
    name: str
    status: str
    stop_reason: str
    started_at: datetime | None
    ended_at: datetime | None
    experiments: int
    runs: list[GameDayRowOut]
    mean_score: int | None


def _gameday(gameday_id: int) -> GameDay:
    g = GameDay.objects.filter(pk=gameday_id).first()
    if g is None:
        raise NotFound(f"no GameDay {gameday_id}", field="gameday_id")
    return g


@router.post("/gamedays", response={201: GameDayOut}, summary="Plan a GameDay")
def create_gameday(request, payload: GameDayIn):
    """Saved experiments to run in order inside a window (HH:MM-HH:MM in its time zone)."""
    require(request.auth, Cap.RUN_CHAOS)
    g = gamedays.gameday_create(
        actor=request.auth,
        name=payload.name,
        experiments=payload.experiments,
        timezone_name=payload.timezone,
        window=payload.window,
    )
    return Status(201, gamedays.report(g))


@router.post("/gamedays/{gameday_id}/start", response=GameDayOut, summary="Start a GameDay")
def start_gameday(request, gameday_id: int):
    require(request.auth, Cap.RUN_CHAOS)
    g = gamedays.gameday_start(actor=request.auth, gameday=_gameday(gameday_id))
    return gamedays.report(g)


@router.get("/gamedays/{gameday_id}", response=GameDayOut, summary="A GameDay's report")
def gameday_report(request, gameday_id: int):
    """Every run in order with its grade, and the mean score (also as CSV on its page)."""
    require(request.auth, Cap.VIEW)
    return gamedays.report(_gameday(gameday_id))
