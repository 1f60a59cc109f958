"""A GameDay: every fault kind in turn on the busy-day sandbox (its workloads and nodes; its
own scheduled faults left out, so each fault here is the only thing wrong), once with
ZeroTouch autonomous and once with nobody acting (Kubernetes' own self-healing alone).

Each fault is a chaos run through the product's own path: checked, proposed as an Action,
approved by the GameDay's approver, injected by the executor, its probes watched, ended,
cleaned up and graded. With ZeroTouch, every 30 simulated seconds the collector stores what
the cluster shows and a healing cycle runs (autonomous, auto-approval of low severity on; a fix
that waits is approved two simulated minutes later, as an on-call engineer would, and counted
as a click). Executed in this process (Celery eager mode: the executor's own code).

Per fault: detected, right cause, healed, MTTD, MTTR (the grade's, cluster time), the grade,
and the SLO minutes lost with ZeroTouch and with nobody acting. The SLO is the workload's
golden signals as the simulator serves them (its ground truth, not the product's reading):
a half-minute step is lost when more than 1% of requests fail or the p95 latency is over
0.5 s, from the injection until 5 minutes after the fault's end.

Run: .venv/bin/python -m benchmarks.chaos (needs PostgreSQL; BENCH_CHAOS_SPEED, 20)
"""

import dataclasses
import math
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

SPEED = float(os.environ.get("BENCH_CHAOS_SPEED", "20"))
NOTHING_SPEED = 60.0
STEP = 30.0  # simulated seconds between collections
FAULT_SECONDS = 300
AFTER = timedelta(minutes=5)
SETTLE = timedelta(minutes=10)  # the most a fault waits for its target to serve again
APPROVE_AFTER = 4  # steps (2 simulated minutes)
# (fault, target, parameters): the GameDay's suite, in order
SUITE = [
    ("pod-kill", "web", {}),
    ("pod-failure", "web", {}),
    ("container-kill", "web", {}),
    ("network-delay", "web", {"latency": "300ms"}),
    ("network-loss", "web", {"loss": 30}),
    ("network-partition", "web", {}),
    ("cpu-stress", "api", {"workers": 2, "load": 100}),
    ("memory-stress", "api", {"size": "600Mi"}),
    ("node-drain", "api", {}),  # web: 2 of its 3 pods share a node, over the 50% cap
    ("node-not-ready", "api", {}),  # the sandbox's own: the node of one api pod goes NotReady
]
P95 = math.log(20)  # the 95th percentile of an exponential, in means


def _server(tmp: Path, speed: float):
    from apps.clusters.sandbox import scenario
    from apps.clusters.sandbox.server import SandboxServer
    from apps.clusters.sandbox.sim import Sandbox

    plan = dataclasses.replace(scenario.load("busy-day"), faults=[])
    sb = Sandbox(plan, seed=7)
    sb.advance(120)
    server = SandboxServer(sb, speed=speed).start()
    server.kubeconfig = server.write_kubeconfig(tmp / f"gameday-{time.monotonic_ns()}.kubeconfig")
    return server


def _slo_broken(sb, workload: str) -> bool:
    from apps.clusters.sandbox import traffic

    dep = next(
        d for d in sb.store.list("apps/deployments", "shop") if d["metadata"]["name"] == workload
    )
    s = traffic.signals(sb, dep)
    return s.error_ratio > 0.01 or s.fixed_latency + s.mean_latency * P95 > 0.5


def _whole(sb, workload: str) -> bool:
    """Every desired replica ready, and the SLO met."""
    dep = next(
        d for d in sb.store.list("apps/deployments", "shop") if d["metadata"]["name"] == workload
    )
    ready = dep.get("status", {}).get("readyReplicas", 0)
    return ready >= dep["spec"].get("replicas", 1) and not _slo_broken(sb, workload)


def _gameday(*, heal: bool, tmp: Path, users: dict) -> list[dict]:
    from apps.chaos import runs
    from apps.chaos.models import Run
    from apps.chaos.services import inject, plan
    from apps.clusters.services import cluster_collect, cluster_create
    from apps.core.errors import ApplicationError
    from apps.governance.action_models import Action, Status
    from apps.governance.actions import action_approve
    from apps.healing.services import heal_cycle

    speed = SPEED if heal else NOTHING_SPEED
    server = _server(tmp, speed)
    sb = server.sandbox
    cluster = cluster_create(
        actor="system:bench",
        name=f"gameday-{'zt' if heal else 'nothing'}",
        connection="sandbox",
        kubeconfig_path=str(server.kubeconfig),
        context="sandbox",
    )
    waiting: dict[int, int] = {}
    out = []
    step = 0

    def tick() -> None:
        nonlocal step
        t0 = time.monotonic()
        step += 1
        cluster_collect(cluster=cluster)
        cluster.refresh_from_db()
        if heal:
            heal_cycle(cluster=cluster)
            for a in Action.objects.filter(cluster=cluster, status=Status.PROPOSED).exclude(
                source="chaos"
            ):
                if step - waiting.setdefault(a.pk, step) >= APPROVE_AFTER:
                    action_approve(approver=users["alice"], action=a, reason="on call")
                    out[-1]["clicks"] += 1
        runs.runs_watch()
        time.sleep(max(0.0, STEP / speed - (time.monotonic() - t0)))

    try:
        for _ in range(4):  # two minutes of history before the first fault
            tick()
        for fault, target, params in SUITE:
            row = {"fault": fault, "target": target, "clicks": 0, "lost_steps": 0}
            out.append(row)
            # Each fault starts from a whole, served workload: what the one before left broken
            # (a back-off nobody fixed) is waited out, up to SETTLE, not counted against this one.
            settle = sb.now + SETTLE
            while not _whole(sb, target) and sb.now < settle:
                tick()
            row["settled_s"] = (sb.now - (settle - SETTLE)).total_seconds()
            try:
                run = inject(
                    actor=users["olivia"],
                    plan=plan(
                        actor=users["olivia"],
                        cluster=cluster,
                        namespace="shop",
                        target=target,
                        fault=fault,
                        duration_seconds=FAULT_SECONDS,
                        parameters=params,
                        grace_seconds=120,
                    ),
                    reason="GameDay",
                )
            except ApplicationError as exc:
                row["refused"] = exc.message
                continue
            action_approve(approver=users["alice"], action=run.action, reason="GameDay")
            end = sb.now + timedelta(seconds=FAULT_SECONDS) + AFTER
            while sb.now < end:
                tick()
                row["lost_steps"] += _slo_broken(sb, target)
            row["grade"] = Run.objects.get(pk=run.pk).grade or {}
    finally:
        server.stop()
    return out


def _fmt(seconds) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def run() -> None:
    from benchmarks.support import drop_database, scratch_database

    url = scratch_database()
    if not url:
        print("chaos: skipped (PostgreSQL unavailable)")
        return
    os.environ["DATABASE_URL"] = url
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CHAOS_SETTLE_SECONDS"] = "0"  # steady state after: at the first watch
    tmp = Path(tempfile.mkdtemp())
    os.environ["KUBECONFIG_DIRS"] = str(tmp)
    import logging

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from aiops_site.celery import app
    from apps.core.services import safety_mode_set, safety_switch_set

    app.conf.task_always_eager = True
    logging.getLogger("celery").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    users = {}
    for name, role in (("adam", "admin"), ("olivia", "operator"), ("alice", "approver")):
        users[name] = User.objects.create_user(name)
        users[name].groups.set([Group.objects.get(name=role)])
    safety_mode_set(actor=users["adam"], mode="autonomous", reason="GameDay")
    for switch in ("auto_approve_low_severity", "allow_chaos"):
        safety_switch_set(actor=users["adam"], name=switch, enabled=True, reason="GameDay")
    try:
        zt = _gameday(heal=True, tmp=tmp, users=users)
        nothing = _gameday(heal=False, tmp=tmp, users=users)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)
    _report(zt, nothing)


def _report(zt: list[dict], nothing: list[dict]) -> None:
    print(
        "| fault | detected | right cause | healed | MTTD | MTTR | grade "
        "| SLO min lost: ZeroTouch | nobody acting | clicks |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for a, b in zip(zt, nothing, strict=True):
        if "refused" in a:
            print(f"| {a['fault']} ({a['target']}) | refused: {a['refused'][:80]} |")
            continue
        g = a.get("grade") or {}
        yes = {True: "yes", False: "no", None: "—"}
        healed = (
            "yes"
            if g.get("fix") and g.get("recovered")
            else ("—" if not g.get("detected") else "no")
        )
        print(
            f"| {a['fault']} ({a['target']}) | {yes[g.get('detected')]} "
            f"| {yes[g.get('right_cause')]} | {healed} | {_fmt(g.get('mttd_seconds'))} "
            f"| {_fmt(g.get('mttr_seconds'))} | {g.get('score', '—')} "
            f"| {a['lost_steps'] * STEP / 60:.1f} | {b.get('lost_steps', 0) * STEP / 60:.1f} "
            f"| {a['clicks']} |"
        )
    for a in zt:
        g = a.get("grade") or {}
        if g.get("verdict"):
            print(f"  {a['fault']}: {g['verdict']}")
    for label, rows in (("ZeroTouch", zt), ("nobody acting", nothing)):
        waited = [f"{r['fault']} {r['settled_s']:.0f} s" for r in rows if r.get("settled_s")]
        print(f"  waited for the target to serve again ({label}): {', '.join(waited) or 'never'}")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    run()
