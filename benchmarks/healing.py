"""Healing, end to end, against doing nothing (Kubernetes' own self-healing alone).

Each scenario runs twice on a sandbox in fast-forward, in this process over HTTPS, on a scratch
PostgreSQL database. ZeroTouch's run is at 20 simulated seconds per second (BENCH_HEAL_SPEED):
in fast-forward every real second of its own work (the executor's API calls, the database, the
worker) counts as that many simulated seconds, so at 60x two real seconds of executing a patch
read as two simulated minutes of MTTR that a real cluster (1x) would not see; 20x still
overstates them, never understates. Doing nothing involves no such work and runs at 60x.
- ZeroTouch: a development cluster in `autonomous` mode with `auto_approve_low_severity` on;
  every 30 simulated seconds the collector stores what the cluster shows and a healing cycle
  runs; approved Actions are executed at once (Celery eager mode: the executor's own code,
  guards and verification included);
- nothing: the same scenario and seed, collected the same way, with nobody acting.

Figures per scenario, in cluster time: MTTD (the sandbox's first recorded failure -> the
incident), MTTR (incident -> resolved), whether it healed and whether a person was needed;
for "nothing", whether the failure cleared by itself within the run. Targets (issue 6): MTTD
within one collection interval (30 s), MTTR under 2 min for P3/P4 in autonomous mode, >= 80%
of incidents with a safe fix resolved with no human.

Run: .venv/bin/python -m benchmarks.healing
"""

import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

SPEED = float(os.environ.get("BENCH_HEAL_SPEED", "20"))  # ZeroTouch's runs
NOTHING_SPEED = 60.0  # nobody acting: only collection, which keeps up at 60x
STEP = 30.0  # simulated seconds between collections
ONLY = os.environ.get("BENCH_SCENARIOS", "")
SCENARIOS = {  # scenario -> simulated minutes (the fault is at 5-20 minutes in each)
    "memory-leak": 40,
    "bad-rollout": 40,
    "crash-loop": 40,
    "node-not-ready": 45,
    "cpu-saturation": 50,
    "image-pull-failure": 35,
    "failed-job": 15,
}
SAFE_FIX = {"memory-leak", "bad-rollout", "crash-loop", "node-not-ready", "cpu-saturation"}


def _plan(name: str):
    from apps.clusters.sandbox import scenario

    if name == "crash-loop":
        from benchmarks.support import crash_loop_scenario

        return crash_loop_scenario()
    return scenario.load(name)


def _serve(name: str, tmp: Path, speed: float):
    from apps.clusters.sandbox.server import SandboxServer
    from apps.clusters.sandbox.sim import Sandbox

    sb = Sandbox(_plan(name), seed=7)
    sb.advance(60)
    server = SandboxServer(sb, speed=speed).start()
    server.kubeconfig = server.write_kubeconfig(tmp / f"{name}-{time.monotonic_ns()}.kubeconfig")
    return server


def _run(name: str, *, heal: bool, tmp: Path) -> dict:
    from apps.clusters.services import cluster_collect, cluster_create
    from apps.healing import selectors, services
    from apps.healing.diagnose import diagnose
    from apps.healing.models import Incident
    from apps.healing.signals import detect

    speed = SPEED if heal else NOTHING_SPEED
    server = _serve(name, tmp, speed)
    cluster = cluster_create(
        actor="system:bench",
        name=f"{name}-{'zt' if heal else 'nothing'}",
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context="sandbox",
    )
    end = server.sandbox.now + timedelta(minutes=SCENARIOS[name])
    seen_at, cleared_at = None, None
    try:
        while server.sandbox.now < end:
            t0 = time.monotonic()
            cluster_collect(cluster=cluster)
            cluster.refresh_from_db()
            if heal:
                services.heal_cycle(cluster=cluster, live=True)
            else:
                state = selectors.cluster_state(cluster)
                problems = [d for d in diagnose(detect(state), state) if not d.preventive]
                if problems and seen_at is None:
                    seen_at = state.now
                if problems:
                    cleared_at = None  # (still, or again) failing
                elif seen_at and cleared_at is None:
                    cleared_at = state.now
            time.sleep(max(0.0, STEP / speed - (time.monotonic() - t0)))
        failures = list(server.sandbox.failures)
    finally:
        server.stop()
    first = min((f["time"] for f in failures), default=None)
    out = {"scenario": name, "failed_at": first}
    if heal:
        incidents = list(Incident.objects.filter(cluster=cluster).order_by("detected_at"))
        out["incidents"] = incidents
    else:
        out["cleared_at"] = cleared_at
    return out


def _fmt(seconds) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def _row(zt: dict, nothing: dict) -> tuple[str, dict]:
    from datetime import datetime

    name = zt["scenario"]
    failed = datetime.fromisoformat(zt["failed_at"]) if zt["failed_at"] else None
    main = next((i for i in zt["incidents"] if not i.preventive), None)
    if main is None:
        return f"| {name} | no incident | — | — | — | — |", {}
    mttd = (main.detected_at - failed).total_seconds() if failed else main.mttd_seconds
    if os.environ.get("BENCH_VERBOSE"):
        for t in main.timeline.all():
            print(f"    {t.at:%H:%M:%S} {t.kind}: {t.text[:110]}")
        if main.action is not None:
            a = main.action
            print(f"    action #{a.pk} {a.status}: {a.status_reason[:200]}")
    # Service restored by our fix: resolved by it, or mitigated (a cordoned node's workloads
    # run elsewhere) while the root waits for a person.
    healed = main.recovered_at is not None and main.action_id is not None
    escalated = main.status == "escalated"
    again = f", recurred {main.reopened}x" if main.reopened else ""
    outcome = (
        f"mitigated, no human; escalated for repair{again}"
        if healed and escalated
        else f"healed, no human{again}"
        if healed and not main.human_involved
        else "healed"
        if healed
        else f"escalated: {main.resolution[:60]}{again}"
        if escalated
        else f"{main.status}{again}"
    )
    by_itself = "recovered by itself" if nothing["cleared_at"] else "still failing at the end"
    row = (
        f"| {name} | {main.cause.replace('_', ' ')} ({main.severity}) | {_fmt(max(mttd, 0))} "
        f"| {_fmt(main.mttr_seconds)} | {outcome} | {by_itself} |"
    )
    no_human = healed and not main.human_involved
    return row, {
        "mttd": max(mttd, 0),
        "mttr": main.mttr_seconds,
        "healed": healed,
        "no_human": no_human,
        "safe": name in SAFE_FIX,
    }


def run() -> None:
    from benchmarks.support import drop_database, scratch_database

    url = scratch_database()
    if not url:
        print("healing: skipped (PostgreSQL unavailable)")
        return
    os.environ["DATABASE_URL"] = url
    os.environ["CELERY_BROKER_URL"] = "memory://"
    tmp = Path(tempfile.mkdtemp())
    os.environ["KUBECONFIG_DIRS"] = str(tmp)  # the sandboxes' kubeconfigs are written there
    import django

    django.setup()
    from django.core.management import call_command

    from aiops_site.celery import app
    from apps.core.services import safety_mode_set, safety_switch_set

    app.conf.task_always_eager = True  # approved Actions run here, through the executor
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import Group, User

    adam = User.objects.create_user("adam")
    adam.groups.set([Group.objects.get(name="admin")])
    safety_mode_set(actor=adam, mode="autonomous", reason="benchmark")
    safety_switch_set(
        actor=adam, name="auto_approve_low_severity", enabled=True, reason="benchmark"
    )
    rows, figures = [], []
    try:
        for name in [n for n in SCENARIOS if not ONLY or n in ONLY.split(",")]:
            zt = _run(name, heal=True, tmp=tmp)
            nothing = _run(name, heal=False, tmp=tmp)
            row, f = _row(zt, nothing)
            rows.append(row)
            figures.append(f)
            print(row, flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)
    _summary(figures)


def _summary(figures: list[dict]) -> None:
    found = [f for f in figures if f]
    safe = [f for f in found if f["safe"]]
    mttd = [f["mttd"] for f in found]
    mttr = [f["mttr"] for f in found if f["mttr"] is not None and f["healed"]]
    print(
        f"\nmedian MTTD {_fmt(statistics.median(mttd) if mttd else None)} "
        f"(target <= {STEP:.0f} s, one collection interval); "
        f"median MTTR {_fmt(statistics.median(mttr) if mttr else None)} (target < 120 s); "
        f"healed with no human {sum(f['no_human'] for f in safe)}/{len(safe)} of the "
        f"incidents that have a safe fix (target >= 80%)"
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    print("| scenario | incident (severity) | MTTD | MTTR | ZeroTouch | doing nothing |")
    print("| --- | --- | --- | --- | --- | --- |")
    run()
