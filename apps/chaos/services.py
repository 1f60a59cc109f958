"""Starting chaos: check an experiment against the caps and the cluster, then inject it through
a governed Action. Nothing here changes a cluster; the governance executor does, once the
Action is approved (per the policy: a person's chaos always waits for an approver).

Order of the checks, cheapest first, so bad input is refused before the cluster is asked:
the fault and its parameters, the duration against the cap, the namespace (protected?); then
the cluster, outside any transaction: the namespace's opt-in annotation, the workload, the pods
its selector matches, and the share of them the fault would hit. Every refusal is a
ValidationFailed naming the field, and nothing is written.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.labels import CHAOS_OPT_IN, format_label_selector
from apps.clusters.models import Cluster
from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from apps.core.models import Mode
from apps.core.roles import Cap, require
from apps.core.services import audit_record
from apps.governance.action_models import Source
from apps.governance.actions import (
    action_prepare,
    action_record,
    effective_mode,
    rules,
    rules_mod,
)
from apps.governance.actions.params import clean_parameters
from apps.governance.chaosmesh import chaos_object

from . import probes, schedules
from .faults import FAULTS, NODE_FAULTS, SANDBOX_ONLY, Fault, targets_hit
from .models import Caps, Experiment, Run
from .runs import note

MAX_NAME = 100
MAX_GRACE = 600


def caps_get() -> Caps:
    return Caps.objects.order_by("pk").first() or Caps(pk=1)


def caps_set(
    *, actor: AbstractBaseUser, max_duration_seconds: int, max_pod_share_percent: int, reason: str
) -> Caps:
    """Admins change the caps; audited with the values before and after."""
    require(actor, Cap.MANAGE_POLICY)
    if not isinstance(max_duration_seconds, int) or not 1 <= max_duration_seconds <= 3600:
        raise ValidationFailed(
            "max_duration_seconds must be from 1 to 3600 (governance's own cap is 1 h)",
            field="max_duration_seconds",
        )
    if not isinstance(max_pod_share_percent, int) or not 1 <= max_pod_share_percent <= 100:
        raise ValidationFailed(
            "max_pod_share_percent must be from 1 to 100", field="max_pod_share_percent"
        )
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        caps = Caps.objects.select_for_update().order_by("pk").first() or Caps.objects.create()
        before = _caps_doc(caps)
        caps.max_duration_seconds = max_duration_seconds
        caps.max_pod_share_percent = max_pod_share_percent
        caps.changed_by = actor.get_username()
        caps.changed_at = timezone.now()
        caps.save()
        audit_record(
            actor=actor,
            verb="chaos.caps.set",
            target_type="chaos.caps",
            target_id=str(caps.pk),
            target_repr="chaos caps",
            before=before,
            after=_caps_doc(caps),
            reason=reason,
        )
    return caps


def _caps_doc(caps: Caps) -> dict:
    return {
        "max_duration_seconds": caps.max_duration_seconds,
        "max_pod_share_percent": caps.max_pod_share_percent,
    }


@dataclass(frozen=True)
class Plan:
    """What a run would do: the Action it proposes, the Chaos Mesh object the executor will
    create, and the pods it may hit."""

    cluster: Cluster
    namespace: str
    workload: str
    fault: Fault
    duration_seconds: int
    action_kind: str
    parameters: dict  # the Action's, checked, defaults filled in
    chaos_kind: str
    chaos_spec: dict
    candidates: list[str]  # pods the selector matches now
    hit: int  # how many of them the fault hits (Chaos Mesh picks which at random)
    workload_pods: int
    probes: list[dict]
    grace_seconds: int
    selector: dict  # the labels that pick the workload's pods (its own, narrowed)
    mode: str
    value: str
    action_target: str  # the workload, or the node a drain targets
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "cluster": self.cluster.name,
            "namespace": self.namespace,
            "target": self.workload,
            "fault": self.fault.value,
            "duration_seconds": self.duration_seconds,
            "what": FAULTS[self.fault].what,
            "action_kind": self.action_kind,
            "action_target": self.action_target,
            "parameters": self.parameters,
            "chaos_object": {"kind": self.chaos_kind, "spec": self.chaos_spec},
            "candidates": self.candidates,
            "hit": self.hit,
            "workload_pods": self.workload_pods,
            "probes": [{**p, "label": probes.label(p)} for p in self.probes],
            "grace_seconds": self.grace_seconds,
            "notes": self.notes,
        }


def plan(
    *,
    actor: AbstractBaseUser,
    cluster: Cluster,
    namespace: str,
    target: str,
    fault: str,
    duration_seconds,
    parameters: dict | None = None,
    mode: str = "one",
    value: str | int | None = None,
    selector: dict | None = None,
    probes_given: list | None = None,
    grace_seconds: int = 20,
) -> Plan:
    """Check a one-off experiment and say exactly what it would do. Reads the cluster; writes
    nothing. Raises ValidationFailed naming the field, RoleRequired without `run_chaos`."""
    require(actor, Cap.RUN_CHAOS)
    if fault not in Fault.__members__.values():
        known = ", ".join(f.value for f in Fault)
        raise ValidationFailed(f"unknown fault {fault!r}; expected one of {known}", field="fault")
    f = Fault(fault)
    caps = caps_get()
    if (
        not isinstance(duration_seconds, int)
        or isinstance(duration_seconds, bool)
        or not 1 <= duration_seconds <= caps.max_duration_seconds
    ):
        raise ValidationFailed(
            f"duration_seconds must be a whole number from 1 to {caps.max_duration_seconds} "
            "(the chaos cap; admins change it)",
            field="duration_seconds",
        )
    if not namespace:
        raise ValidationFailed("namespace is required", field="namespace")
    if namespace in cluster.protected_namespaces:
        raise ValidationFailed(
            f"namespace {namespace} is protected on {cluster.name}: no chaos there",
            field="namespace",
        )
    if not target:
        raise ValidationFailed("target (a Deployment's name) is required", field="target")
    hypothesis = probes.clean(probes_given)
    if (
        not isinstance(grace_seconds, int)
        or isinstance(grace_seconds, bool)
        or not (0 <= grace_seconds <= MAX_GRACE)
    ):
        raise ValidationFailed(
            f"grace_seconds must be a whole number from 0 to {MAX_GRACE}", field="grace_seconds"
        )
    info = FAULTS[f]
    if f in NODE_FAULTS:
        return _node_plan(
            cluster=cluster,
            namespace=namespace,
            target=target,
            fault=f,
            duration_seconds=duration_seconds,
            parameters=parameters,
            mode=mode,
            selector=selector,
            probes_given=hypothesis,
            grace_seconds=grace_seconds,
        )
    params = {
        **info.parameters,
        **(parameters or {}),
        "duration": f"{duration_seconds}s",
        "mode": mode,
    }
    if value is not None and value != "":
        params["value"] = value
    if f == Fault.CONTAINER_KILL and not params.get("container"):
        params.pop("container", None)  # filled in from the workload below, when it has one
    cluster_plan = _read_cluster(cluster, namespace, target, selector, params)
    params["selector"] = cluster_plan["selector"]
    if f == Fault.CONTAINER_KILL and "container" not in params:
        params["container"] = cluster_plan["container"]
    checked = clean_parameters(info.action_kind, params)
    candidates = cluster_plan["pods"]
    hit = targets_hit(checked["mode"], checked.get("value"), len(candidates))
    _check_share(
        hit,
        cluster_plan["workload_pods"],
        what=f"mode {checked['mode']} would hit",
        workload=f"{namespace}/{target}",
        field="mode" if checked["mode"] in ("one", "all") else "value",
    )
    kind, spec = chaos_object(info.action_kind, namespace, target, checked)
    notes = []
    if checked["mode"] != "all" and hit < len(candidates):
        notes.append(f"Chaos Mesh picks {hit} of the {len(candidates)} candidates at random")
    return Plan(
        cluster=cluster,
        namespace=namespace,
        workload=target,
        fault=f,
        duration_seconds=duration_seconds,
        action_kind=info.action_kind,
        parameters=checked,
        chaos_kind=kind,
        chaos_spec=spec,
        candidates=candidates,
        hit=hit,
        workload_pods=cluster_plan["workload_pods"],
        probes=hypothesis,
        grace_seconds=grace_seconds,
        selector=checked["selector"],
        mode=checked["mode"],
        value=str(checked.get("value") or ""),
        action_target=target,
        notes=notes,
    )


def _check_share(hit: int, workload_pods: int, *, what: str, workload: str, field: str) -> None:
    """The cap on the share of a workload's pods one fault may hit."""
    cap = caps_get().max_pod_share_percent
    total = max(1, workload_pods)
    if hit * 100 > cap * total:
        raise ValidationFailed(
            f"{what} {hit} of {workload}'s {total} pods; the chaos cap is {cap}% of a "
            "workload's pods",
            field=field,
        )


def _node_plan(
    *,
    cluster: Cluster,
    namespace: str,
    target: str,
    fault: Fault,
    duration_seconds: int,
    parameters: dict | None,
    mode: str,
    selector: dict | None,
    probes_given: list[dict],
    grace_seconds: int,
) -> Plan:
    """A fault on the node that runs one of the workload's pods (the first by name): a drain,
    or (on the sandbox) the node NotReady for the duration."""
    f = fault
    if f in SANDBOX_ONLY and not cluster.simulated:
        raise ValidationFailed(
            f"{f.value} is played by the sandbox only: a real cluster has no API that stops a "
            "kubelet (use node-drain there)",
            field="fault",
        )
    if mode != "one":
        raise ValidationFailed(f"{f.value} hits one node: mode must be one", field="mode")
    if parameters:
        first = sorted(parameters)[0]
        raise ValidationFailed(
            f"{f.value} takes no parameter {first!r}", field=f"parameters.{first}"
        )
    cluster_plan = _read_cluster(cluster, namespace, target, selector, {})
    candidates, nodes = cluster_plan["pods"], cluster_plan["nodes"]
    node = nodes[candidates[0]]
    on_node = [p for p in candidates if nodes[p] == node]
    drain = f == Fault.NODE_DRAIN
    _check_share(
        len(on_node),
        cluster_plan["workload_pods"],
        what=f"{'draining' if drain else 'taking down'} {node} would hit",
        workload=f"{namespace}/{target}",
        field="target",
    )
    info = FAULTS[f]
    if drain:
        kind, spec, params = "", {"drain": node, "evicts_of_the_workload": on_node}, {}
        notes = [
            f"every other pod on {node} is evicted too (DaemonSet pods aside), as kubectl "
            "drain does; the node is uncordoned when the run ends",
            "a drain has no duration of its own: if ZeroTouch is down at the end, the node "
            "stays cordoned until the sweeper undoes it",
        ]
    else:
        params = clean_parameters(info.action_kind, {"duration": f"{duration_seconds}s"})
        kind, spec = chaos_object(info.action_kind, "", node, params)
        notes = [
            f"every pod on {node} turns unready, not only the workload's; the taint manager "
            "evicts them if the node stays NotReady for 300 s",
            "the sandbox ends the fault by itself at the duration, even if ZeroTouch is down",
        ]
    return Plan(
        cluster=cluster,
        namespace=namespace,
        workload=target,
        fault=f,
        duration_seconds=duration_seconds,
        action_kind=info.action_kind,
        parameters=params,
        chaos_kind=kind,
        chaos_spec=spec,
        candidates=on_node,
        hit=len(on_node),
        workload_pods=cluster_plan["workload_pods"],
        probes=probes_given,
        grace_seconds=grace_seconds,
        selector=cluster_plan["selector"],
        mode="one",
        value="",
        action_target=node,
        notes=notes,
    )


def _read_cluster(cluster: Cluster, namespace: str, target: str, selector, params) -> dict:
    if selector is not None and (not isinstance(selector, dict) or not selector):
        raise ValidationFailed(
            'selector must be an object of labels, e.g. {"tier": "canary"}', field="selector"
        )
    try:
        gw = gateway_for(cluster)
        try:
            try:
                annotations = gw.namespace_annotations(namespace)
            except gw_errors.NotFound:
                raise ValidationFailed(
                    f"no namespace {namespace} on {cluster.name}", field="namespace"
                ) from None
            if annotations.get(CHAOS_OPT_IN) != "true":
                raise ValidationFailed(
                    f"namespace {namespace} has not opted in to chaos: annotate it "
                    f'{CHAOS_OPT_IN}="true"',
                    field="namespace",
                )
            try:
                dep = gw.deployment(namespace, target)
            except gw_errors.NotFound:
                raise ValidationFailed(
                    f"no Deployment {namespace}/{target} on {cluster.name}", field="target"
                ) from None
            own = dict((dep.selector or {}).get("matchLabels") or {})
            if not own:
                raise ValidationFailed(
                    f"{namespace}/{target} selects its pods by expressions only; chaos needs "
                    "matchLabels",
                    field="target",
                )
            labels = {**own, **(selector or {})}
            clash = {k for k in own if k in (selector or {}) and selector[k] != own[k]}
            if clash:
                raise ValidationFailed(
                    f"selector contradicts {target}'s own labels ({', '.join(sorted(clash))}): "
                    "it would match none of its pods",
                    field="selector",
                )
            text = format_label_selector({"matchLabels": labels})
            everyone = format_label_selector({"matchLabels": own})
            matched = [p for p in gw.pods(namespace, label_selector=text) if not p.terminating]
            workload_pods = [
                p for p in gw.pods(namespace, label_selector=everyone) if not p.terminating
            ]
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        raise ValidationFailed(
            f"cannot read {cluster.name} to check the experiment: {exc.message}", field="cluster"
        ) from exc
    running = sorted(p.name for p in matched if p.phase == "Running")
    if not running:
        raise ValidationFailed(
            f"the selector ({text}) matches no running pod in {namespace}", field="selector"
        )
    return {
        "selector": labels,
        "nodes": {p.name: p.node for p in matched},
        "pods": running,
        "workload_pods": len(workload_pods),
        "container": _first_container(dep),
    }


def _first_container(dep) -> str:
    return next(iter(dep.resources), "") if dep.resources else ""


def inject(
    *,
    actor: AbstractBaseUser,
    plan: Plan,
    name: str = "",
    reason: str = "",
    experiment: Experiment | None = None,
) -> Run:
    """Start a run from a checked plan: of `experiment` (a saved one), or of a new one-off
    experiment. The run and the Action that injects the fault (and the one-off experiment) are
    written and audited in one transaction, once steady state holds."""
    require(actor, Cap.RUN_CHAOS)
    baseline, before, at = steady_state_before(plan)
    broken = [r for r in before if not r["ok"]]
    if broken:
        raise ValidationFailed(
            "steady state does not hold before the run, so it would prove nothing: "
            + "; ".join(f"{r['probe']}: {r['detail']}" for r in broken),
            field="probes",
        )
    why = (
        reason.strip()
        or f"chaos experiment: {plan.fault.value} on {plan.namespace}/{plan.workload}"
    )
    prepared = action_prepare(  # reads the cluster: outside the transaction
        actor=actor,
        cluster=plan.cluster,
        kind=plan.action_kind,
        target_name=plan.action_target,
        namespace=plan.namespace,
        parameters=plan.parameters,
        reason=why,
        source=Source.CHAOS,
        evidence={"chaos": {"candidates": plan.candidates, "hit": plan.hit}},
    )
    with transaction.atomic():
        if experiment is None:
            experiment = _experiment_from(plan, owner=actor, name=name, one_off=True)
        action = action_record(prepared)
        run = Run.objects.create(
            experiment=experiment,
            action=action,
            started_by=actor.get_username(),
            candidates=plan.candidates,
            hit=plan.hit,
            baseline=baseline,
            steady_before=before,
        )
        note(run, "start", f"started by {actor.get_username()}; steady state holds before", at)
        note(
            run, "action", f"action #{action.pk} {action.status} ({action.severity}/{action.risk})"
        )
        run.save(update_fields=["timeline"])
        audit_record(
            actor=actor,
            verb="chaos.run.start",
            target_type="chaos.run",
            target_id=str(run.pk),
            target_repr=str(experiment),
            after={**plan.as_dict(), "action": action.pk, "experiment": experiment.pk},
            reason=why,
        )
    return run


def _experiment_from(plan: Plan, *, owner, name: str, one_off: bool, **more) -> Experiment:
    p = plan.parameters
    return Experiment.objects.create(
        name=(name.strip() or f"{plan.fault.value} {plan.namespace}/{plan.workload}")[:MAX_NAME],
        cluster=plan.cluster,
        namespace=plan.namespace,
        workload=plan.workload,
        selector=plan.selector,
        fault=plan.fault.value,
        mode=plan.mode,
        value=plan.value,
        duration_seconds=plan.duration_seconds,
        parameters={
            k: v for k, v in p.items() if k not in ("duration", "mode", "value", "selector")
        },
        probes=plan.probes,
        grace_seconds=plan.grace_seconds,
        owner=owner,
        one_off=one_off,
        **more,
    )


def experiment_create(
    *,
    actor: AbstractBaseUser,
    plan: Plan,
    name: str,
    schedule: str = "",
    timezone_name: str = "UTC",
    window: str = "",
    reason: str = "",
) -> Experiment:
    """Save an experiment (checked as a run would be, nothing injected) to run again, by hand
    or on its schedule. Audited."""
    require(actor, Cap.RUN_CHAOS)
    if not name.strip():
        raise ValidationFailed("a saved experiment needs a name", field="name")
    try:
        schedules.check(schedule, timezone_name, window)
    except schedules.ScheduleError as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    with transaction.atomic():
        e = _experiment_from(
            plan,
            owner=actor,
            name=name,
            one_off=False,
            schedule=schedule,
            timezone=timezone_name,
            window=window,
            next_run_at=schedules.next_run(schedule, timezone_name, timezone.now()),
        )
        audit_record(
            actor=actor,
            verb="chaos.experiment.create",
            target_type="chaos.experiment",
            target_id=str(e.pk),
            target_repr=str(e),
            after={
                **plan.as_dict(),
                "schedule": schedule,
                "timezone": timezone_name,
                "window": window,
            },
            reason=reason,
        )
    return e


def experiment_enable(
    *, actor: AbstractBaseUser, experiment: Experiment, enabled: bool, reason: str
) -> Experiment:
    """Pause (or resume) a saved experiment: paused, its schedule starts nothing and Run now
    refuses; resumed, its next time is computed from now. Audited with the reason."""
    require(actor, Cap.RUN_CHAOS)
    if experiment.one_off:
        raise ValidationFailed("a one-off experiment has nothing to pause", field="experiment_id")
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        e = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if e.enabled == enabled:
            return e
        before = {"enabled": e.enabled, "next_run_at": e.next_run_at}
        e.enabled = enabled
        e.next_run_at = (
            schedules.next_run(e.schedule, e.timezone, timezone.now()) if enabled else None
        )
        e.save(update_fields=["enabled", "next_run_at"])
        audit_record(
            actor=actor,
            verb="chaos.experiment.resume" if enabled else "chaos.experiment.pause",
            target_type="chaos.experiment",
            target_id=str(e.pk),
            target_repr=str(e),
            before=before,
            after={"enabled": e.enabled, "next_run_at": e.next_run_at},
            reason=reason.strip(),
        )
    return e


def plan_of(experiment: Experiment, *, actor) -> Plan:
    """A saved experiment checked again against the cluster as it is now."""
    e = experiment
    return plan(
        actor=actor,
        cluster=e.cluster,
        namespace=e.namespace,
        target=e.workload,
        fault=e.fault,
        duration_seconds=e.duration_seconds,
        parameters=e.parameters,
        mode=e.mode,
        value=e.value or None,
        selector=e.selector,
        probes_given=e.probes,
        grace_seconds=e.grace_seconds,
    )


def experiment_run(*, actor: AbstractBaseUser, experiment: Experiment, reason: str = "") -> Run:
    """Run a saved experiment now (by hand, or its schedule as its owner); a paused one is
    refused (409): resume it first."""
    if not experiment.enabled:
        raise Conflict(f"experiment {experiment.name!r} is paused: resume it to run it")
    return inject(
        actor=actor,
        plan=plan_of(experiment, actor=actor),
        reason=reason or f"chaos experiment {experiment.name!r}",
        experiment=experiment,
    )


def schedules_due(*, now=None) -> dict:
    """Beat, every minute: start each saved experiment whose schedule has come, as its owner,
    unless it is outside its window or governance's change windows, the mode is halted, or the
    checks refuse it then (steady state, opt-in, caps); a skipped run says why (audited) and
    waits for the next time. Returns counts."""
    now = now or timezone.now()
    done = {"started": 0, "skipped": 0}
    due = Experiment.objects.filter(
        enabled=True, one_off=False, next_run_at__lte=now
    ).select_related("cluster", "owner")
    for e in due:
        why = _not_now(e, now)
        if not why:
            try:
                experiment_run(actor=e.owner, experiment=e, reason=f"scheduled: {e.schedule}")
            except ApplicationError as exc:
                why = exc.message
        with transaction.atomic():
            Experiment.objects.filter(pk=e.pk).update(
                next_run_at=schedules.next_run(e.schedule, e.timezone, now), last_skip=why
            )
            if why:
                audit_record(
                    actor="system:chaos-schedule",
                    verb="chaos.run.skipped",
                    target_type="chaos.experiment",
                    target_id=str(e.pk),
                    target_repr=str(e),
                    after={"due": e.next_run_at.isoformat()},
                    reason=why,
                )
        done["skipped" if why else "started"] += 1
    return done


def _not_now(e: Experiment, now) -> str:
    if not schedules.inside(e.window, e.timezone, now):
        return f"outside its window ({e.window} {e.timezone})"
    closed = rules_mod.window_verdict(rules(), now)
    if closed:
        return f"governance: {closed}"
    if effective_mode(e.cluster) == Mode.HALTED:
        return "the safety mode is halted"
    return ""


def steady_state_before(plan: Plan) -> tuple[dict, list[dict], datetime | None]:
    """(the baseline probes compare with later, each probe's result now, the cluster's time)."""
    try:
        gw = gateway_for(plan.cluster)
        try:
            baseline = {"restarts": probes.restarts_by_pod(gw, plan.namespace, plan.selector)}
            results = probes.evaluate(
                gw,
                cluster=plan.cluster,
                namespace=plan.namespace,
                workload=plan.workload,
                selector=plan.selector,
                probes=plan.probes,
                baseline=baseline,
            )
            at = gw.last_server_time
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        raise ValidationFailed(
            f"cannot read {plan.cluster.name} to check steady state: {exc.message}",
            field="cluster",
        ) from exc
    return baseline, results, at
