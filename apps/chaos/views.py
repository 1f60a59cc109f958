"""Pages: the Chaos page (experiments with their last result, the form to start one from a
template with a dry run, the resilience scorecard) and a run's live view (probes on a chart,
the fault's start and end marked, the timeline, the grade, Abort). Viewers read; operators
start and abort in namespaces that opted in; every check is the service's."""

import json
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.clusters.models import Cluster
from apps.core.clock import chart_json
from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required, user_can

from . import charts, gamedays, runs, selectors, services
from .faults import FAULTS, Fault
from .models import GameDay

# Ready-made experiments: the fault, its settings and a steady-state hypothesis; every field
# stays editable on the form.
TEMPLATES = {
    "pod-kill": {
        "title": "Kill one pod",
        "fault": "pod-kill",
        "duration_seconds": 60,
        "parameters": {},
        "probes": [{"kind": "availability", "min_percent": 50}],
    },
    "pod-failure": {
        "title": "Fail one pod for two minutes",
        "fault": "pod-failure",
        "duration_seconds": 120,
        "parameters": {},
        "probes": [{"kind": "availability", "min_percent": 50}],
    },
    "memory-stress": {
        "title": "Memory stress past the limit (OOM kills)",
        "fault": "memory-stress",
        "duration_seconds": 300,
        "parameters": {"size": "600Mi"},
        "probes": [{"kind": "availability", "min_percent": 50}],
        "grace_seconds": 120,
    },
    "cpu-stress": {
        "title": "CPU stress",
        "fault": "cpu-stress",
        "duration_seconds": 300,
        "parameters": {"workers": 2, "load": 100},
        "probes": [{"kind": "availability", "min_percent": 50}],
    },
    "node-not-ready": {
        "title": "Take a node down (sandbox only)",
        "fault": "node-not-ready",
        "duration_seconds": 120,
        "parameters": {},
        "probes": [{"kind": "availability", "min_percent": 50}],
        "grace_seconds": 60,
    },
    "network-delay": {
        "title": "Network delay (needs the cluster's Prometheus for the latency probe)",
        "fault": "network-delay",
        "duration_seconds": 120,
        "parameters": {"latency": "300ms"},
        "probes": [
            {"kind": "availability", "min_percent": 50},
            {"kind": "latency_p95", "max_seconds": 1.0, "window": "1m"},
        ],
    },
}


class StartForm(forms.Form):
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.filter(enabled=True), to_field_name="name", empty_label=None
    )
    namespace = forms.CharField(
        max_length=63, help_text="must carry chaos.zerotouch.dev/enabled=true"
    )
    target = forms.CharField(max_length=253, label="Deployment")
    fault = forms.ChoiceField(choices=[(f.value, FAULTS[f].label) for f in Fault])
    duration_seconds = forms.IntegerField(min_value=1, label="Duration (s)")
    mode = forms.ChoiceField(
        choices=[
            ("one", "one pod"),
            ("fixed", "a fixed number"),
            ("fixed-percent", "a share"),
            ("all", "every pod"),
        ],
        initial="one",
    )
    value = forms.CharField(max_length=10, required=False, help_text="for fixed and fixed-percent")
    parameters = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="{}",
        help_text="the fault's own settings, JSON",
    )
    probes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="the steady-state hypothesis, JSON"
    )
    grace_seconds = forms.IntegerField(min_value=0, max_value=600, initial=20)
    reason = forms.CharField(max_length=500, required=False)
    # Saving it to run again (Save): a name, and optionally a schedule inside a window.
    name = forms.CharField(max_length=100, required=False, help_text="to save it (Save)")
    schedule = forms.CharField(
        max_length=100, required=False, help_text="cron, optional: e.g. 0 10 * * 1-5"
    )
    timezone = forms.CharField(max_length=60, required=False, initial="UTC", label="Time zone")
    window = forms.CharField(
        max_length=11, required=False, help_text="HH:MM-HH:MM in that zone, optional"
    )

    def clean_parameters(self):
        return _json(self.cleaned_data["parameters"], "parameters", dict)

    def clean_probes(self):
        return _json(self.cleaned_data["probes"], "probes", list)


def _json(text: str, name: str, kind: type):
    try:
        value = json.loads(text or ("{}" if kind is dict else "[]"))
    except ValueError as exc:
        raise forms.ValidationError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise forms.ValidationError(f"{name} must be a JSON {'object' if kind is dict else 'list'}")
    return value


# On the sandbox (the demo's busy-day), a ready target: shop opted in, and worker is the
# workload busy-day's own faults touch last; at least five simulated minutes, so that at the
# demo's 10x (30 s) the watcher reads the probes a few times and the run page has a chart.
SANDBOX_TARGET = {"namespace": "shop", "target": "worker"}
SANDBOX_MIN_SECONDS = 300


def _initial_from(e) -> dict:
    """The form filled in from a saved experiment (Load): run a variant, or save it anew."""
    return {
        "cluster": e.cluster.name,
        "namespace": e.namespace,
        "target": e.workload,
        "fault": e.fault,
        "duration_seconds": e.duration_seconds,
        "mode": e.mode,
        "value": e.value,
        "parameters": json.dumps(e.parameters),
        "probes": json.dumps(e.probes),
        "grace_seconds": e.grace_seconds,
        "schedule": e.schedule,
        "timezone": e.timezone,
        "window": e.window,
    }


def _initial(template: str) -> dict:
    t = TEMPLATES.get(template) or TEMPLATES["pod-kill"]
    first = Cluster.objects.filter(enabled=True).order_by("name").first()
    sandbox = first is not None and first.simulated
    return {
        **(SANDBOX_TARGET if sandbox else {}),
        "fault": t["fault"],
        "duration_seconds": max(t["duration_seconds"], SANDBOX_MIN_SECONDS if sandbox else 0),
        "parameters": json.dumps(t["parameters"]),
        "probes": json.dumps(t["probes"]),
        "grace_seconds": t.get("grace_seconds", 20),
        "mode": "one",
    }


def _plan(request, form):
    d = form.cleaned_data
    return services.plan(
        actor=request.user,
        cluster=d["cluster"],
        namespace=d["namespace"],
        target=d["target"],
        fault=d["fault"],
        duration_seconds=d["duration_seconds"],
        parameters=d["parameters"],
        mode=d["mode"],
        value=d["value"] or None,
        probes_given=d["probes"],
        grace_seconds=d["grace_seconds"],
    )


def _add_error(form, exc: ApplicationError) -> None:
    field = (exc.field or "").split(".")[0].split("[")[0]
    form.add_error(field if field in form.fields else None, exc.message)


@require_GET
@role_required(Cap.VIEW)
def index(request):
    can_start = user_can(request.user, Cap.RUN_CHAOS)
    template = request.GET.get("template", "pod-kill")
    loaded = request.GET.get("experiment", "")
    saved = selectors.experiment_get(int(loaded)) if loaded.isdigit() else None
    initial = _initial_from(saved) if saved else _initial(template)
    form = StartForm(initial=initial) if can_start else None
    return render(request, "chaos/index.html", _context(request, form, template))


def _context(request, form, template: str) -> dict:
    card = selectors.scorecard()
    history = charts.resilience_history(card["history"])
    names = {w["cluster"] for w in card["workloads"]}  # runs end on their cluster's clock
    on = Cluster.objects.filter(name=names.pop()).first() if len(names) == 1 else None
    return {
        "experiments": [(e, e.runs.all()[:1]) for e in selectors.experiments_list()[:50]],
        "saved": selectors.experiments_list(saved_only=True)[:50],
        "gamedays": list(GameDay.objects.all()[:20]),
        "form": form,
        "templates": TEMPLATES,
        "template": template,
        "card": card,
        "history_chart": chart_json(history, on) if history else None,
        "can_start": user_can(request.user, Cap.RUN_CHAOS),
        "sandbox": Cluster.objects.filter(enabled=True, connection="sandbox").exists(),
    }


@require_POST
@role_required(Cap.RUN_CHAOS)
def preview(request):
    """The dry run: exactly what would happen, nothing written (htmx swaps it in)."""
    form = StartForm(request.POST)
    plan, status = None, 200
    if form.is_valid():
        try:
            plan = _plan(request, form).as_dict()
        except ApplicationError as exc:
            _add_error(form, exc)
    if plan is None:
        status = 400
    spec = json.dumps(plan["chaos_object"]["spec"], indent=2) if plan else ""
    context = {"plan": plan, "form": form, "spec": spec}
    return render(request, "chaos/_plan.html", context, status=status)


@require_http_methods(["POST"])
@role_required(Cap.RUN_CHAOS)
def start(request):
    form = StartForm(request.POST)
    if form.is_valid():
        try:
            run = services.inject(
                actor=request.user, plan=_plan(request, form), reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            messages.success(
                request,
                f"Run #{run.pk} started: action #{run.action_id} is {run.action.status}.",
            )
            return redirect("chaos:run", run_id=run.pk)
    context = _context(request, form, request.GET.get("template", ""))
    return render(request, "chaos/index.html", context, status=400)


@require_POST
@role_required(Cap.RUN_CHAOS)
def save(request):
    """Save the form as an experiment to run again, by hand or on its schedule."""
    form = StartForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            e = services.experiment_create(
                actor=request.user,
                plan=_plan(request, form),
                name=d["name"],
                schedule=d["schedule"],
                timezone_name=d["timezone"] or "UTC",
                window=d["window"],
                reason=d["reason"],
            )
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            when = f"; next run {e.next_run_at:%Y-%m-%d %H:%M} UTC" if e.next_run_at else ""
            messages.success(request, f"Experiment {e.name!r} saved{when}.")
            return redirect("chaos:index")
    return render(request, "chaos/index.html", _context(request, form, ""), status=400)


def _saved_or_404(experiment_id: int):
    e = selectors.experiment_get(experiment_id)
    if e is None or e.one_off:
        raise Http404("no such saved experiment")
    return e


@require_POST
@role_required(Cap.RUN_CHAOS)
def experiment_run(request, experiment_id: int):
    e = _saved_or_404(experiment_id)
    try:
        run = services.experiment_run(actor=request.user, experiment=e)
    except ApplicationError as exc:
        messages.error(request, f"Experiment {e.name!r} did not start: {exc.message}")
        return redirect("chaos:index")
    messages.success(
        request, f"Run #{run.pk} started: action #{run.action_id} is {run.action.status}."
    )
    return redirect("chaos:run", run_id=run.pk)


@require_POST
@role_required(Cap.RUN_CHAOS)
def experiment_enabled(request, experiment_id: int):
    """Pause or resume a saved experiment (with a reason)."""
    e = _saved_or_404(experiment_id)
    enabled = request.POST.get("enabled") == "on"
    try:
        services.experiment_enable(
            actor=request.user,
            experiment=e,
            enabled=enabled,
            reason=request.POST.get("reason", ""),
        )
    except ApplicationError as exc:
        messages.error(request, f"Experiment {e.name!r}: {exc.field or 'input'}: {exc.message}")
    else:
        messages.success(request, f"Experiment {e.name!r} {'resumed' if enabled else 'paused'}.")
    return redirect("chaos:index")


@require_POST
@role_required(Cap.RUN_CHAOS)
def gameday_new(request):
    """Plan a GameDay: saved experiments, in the order ticked, inside an optional window."""
    picked = [int(x) for x in request.POST.getlist("experiments") if x.isdigit()]
    try:
        g = gamedays.gameday_create(
            actor=request.user,
            name=request.POST.get("name", ""),
            experiments=picked,
            timezone_name=request.POST.get("timezone") or "UTC",
            window=request.POST.get("window", "").strip(),
        )
    except ApplicationError as exc:
        messages.error(request, f"GameDay not planned: {exc.field or 'input'}: {exc.message}")
        return redirect("chaos:index")
    messages.success(request, f"GameDay {g.name!r} planned: start it when you are ready.")
    return redirect("chaos:gameday", gameday_id=g.pk)


def _gameday_or_404(gameday_id: int) -> GameDay:
    g = GameDay.objects.filter(pk=gameday_id).first()
    if g is None:
        raise Http404("no such GameDay")
    return g


@require_POST
@role_required(Cap.RUN_CHAOS)
def gameday_start(request, gameday_id: int):
    g = _gameday_or_404(gameday_id)
    try:
        gamedays.gameday_start(actor=request.user, gameday=g)
    except ApplicationError as exc:
        messages.error(request, f"GameDay not started: {exc.message}")
    else:
        messages.success(request, f"GameDay {g.name!r} started: its first run is on its way.")
    return redirect("chaos:gameday", gameday_id=g.pk)


@require_GET
@role_required(Cap.VIEW)
def run_detail(request, run_id: int):
    run = selectors.run_get(run_id)
    if run is None:
        raise Http404("no such run")
    chart = charts.run_probes(
        run.readings, fault_start=runs.injected_at(run), fault_end=_fault_end(run)
    )
    template = "chaos/run.html"
    if request.htmx:
        template += "#run-state"
    context = {
        "run": run,
        "e": run.experiment,
        "state": selectors.run_state(run),
        "chart": chart_json(chart, run.experiment.cluster) if chart else None,
        "watch_seconds": settings.CHAOS_WATCH_SECONDS,
        "can_abort": user_can(request.user, Cap.RUN_CHAOS) and run.phase == run.Phase.ACTIVE,
    }
    return render(request, template, context)


def _fault_end(run):
    if run.phase == run.Phase.ACTIVE:
        return None
    start = runs.injected_at(run)
    if start is None:
        return None
    return min(filter(None, [runs.ends_at(run), _ended_cluster_time(run)]), default=None)


def _ended_cluster_time(run):
    ends = [e["at"] for e in run.timeline if e["kind"] in ("abort", "end")]
    return datetime.fromisoformat(ends[-1]) if ends else None


@require_POST
@role_required(Cap.RUN_CHAOS)
def abort(request, run_id: int):
    run = selectors.run_get(run_id)
    if run is None:
        raise Http404("no such run")
    reason = (request.POST.get("reason") or "").strip() or "aborted from the run page"
    try:
        runs.run_abort(actor=request.user, run=run, reason=reason[:500])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Run #{run.pk} aborted: the fault is being taken away.")
    return redirect("chaos:run", run_id=run.pk)


@require_GET
@role_required(Cap.VIEW)
def gameday_detail(request, gameday_id: int):
    g = _gameday_or_404(gameday_id)
    template = "chaos/gameday.html"
    if request.htmx:
        template += "#gameday-report"
    context = {
        "g": g,
        "report": gamedays.report(g),
        "can_start": user_can(request.user, Cap.RUN_CHAOS),
    }
    return render(request, template, context)


@require_GET
@role_required(Cap.VIEW)
def gameday_csv(request, gameday_id: int):
    g = _gameday_or_404(gameday_id)
    response = HttpResponse(gamedays.report_csv(g), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="gameday-{g.pk}.csv"'
    return response
