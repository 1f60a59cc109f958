"""A soak of the whole loop: the sandbox's busy-day scenario for a simulated day in fast-forward,
with the product's code at every step, and what an on-call engineer would have lived through.

The sandbox is paused and stepped 30 simulated seconds at a time (as fast as the loop keeps up,
so every collection is on time however slow the machine). At each step, in this process and in
the order the Celery tasks run them (the tasks are thin wrappers over these services): a
collection, scoring (failure risk and anomalies), the anomaly refit when its schedule says so,
and a healing cycle. Every hour of cluster time the usage rollups run and the cost plan is
built. Every Action — the only thing that changes the cluster — runs on a real Celery worker
through the governance executor. The safety mode is autonomous with auto-approval of low
severity on; what waits for a person is approved by an on-call approver two simulated minutes
after it was proposed (each approval is one click).

Checked at every step (`Soak.violations`, empty when the loop kept its promises):
- no incident goes back from an observed cause, or from a verified fix, to a prediction: a
  resolved incident reopens without an observed failure only if it was a forecast all along;
- no waiting proposal is replaced without a material change (another runbook or target, a
  memory limit at least a step larger, more replicas, other parameters the runbook sets);
- the cost plan proposes nothing for a workload with an open incident or an Action in flight,
  and never a memory limit below one a fix raised in the last 7 days.

Figures per simulated cluster-day: incidents, false-alarm incidents (no failure of that target
from the incident's start to 20 minutes after it ended), anomaly episodes per entity, proposals
per incident, withdrawn and replaced proposals, and the clicks a person made per healed
incident.

Run: .venv/bin/python -m benchmarks.soak (needs PostgreSQL and Redis; BENCH_SOAK_HOURS, 24)
"""

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

# Simulated seconds between collections: the product's default interval (the CI soak plays its
# day at 60 s, a cluster's collect_interval_seconds set to match: tests/test_soak.py).
STEP = int(os.environ.get("BENCH_SOAK_STEP", "30"))
HOURS = float(os.environ.get("BENCH_SOAK_HOURS", "24"))
APPROVE_AFTER = timedelta(minutes=2)  # the on-call approver's answer time, in cluster time
GRACE = timedelta(minutes=20)  # a false alarm: no failure of its target until 20 min after it
NODE_FAILURES = ("NotReady", "Evicted")  # what the sandbox records of a node's own failure
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Soak:
    """What a soak saw: its checks' violations and the counts its figures come from."""

    server: object
    cluster: object
    approver: object
    step: int = STEP  # simulated seconds between collections; the cluster's interval too
    violations: list[str] = field(default_factory=list)
    steps: int = 0
    plans: int = 0
    plan_items: int = 0
    clicks: int = 0
    started: datetime | None = None
    _incidents: dict = field(default_factory=dict)  # pk -> (status, preventive, cause, healed)
    _waiting: dict = field(default_factory=dict)  # action pk -> the step it was first seen

    # --- the loop -----------------------------------------------------------------------------
    def play(self, hours: float, *, progress=None) -> "Soak":
        from apps.clusters.services import cluster_collect
        from apps.costs import rollups
        from apps.healing.services import heal_cycle
        from apps.predictions import services as predictions

        sb, cluster = self.server.sandbox, self.cluster
        self.started = self.started or sb.now
        end = sb.now + timedelta(hours=hours)
        next_hour = sb.now + timedelta(hours=1)
        while sb.now < end:
            sb.advance(self.step)
            self.steps += 1
            if not cluster_collect(cluster=cluster).ok:
                self.violations.append(f"{sb.iso()}: a collection failed")
                continue
            cluster.refresh_from_db()
            scored = predictions.cluster_score(cluster=cluster)
            if predictions.anomaly_refit_due(cluster=cluster, uncovered=scored.uncovered):
                predictions.anomaly_fit(cluster=cluster, actor="system:soak")
            heal_cycle(cluster=cluster)
            self._approve_waiting()
            self._check_incidents()
            if sb.now >= next_hour:
                next_hour += timedelta(hours=1)
                rollups.rollup_cluster(cluster)
                self._check_plan()
                if progress:
                    progress(self)
        self._check_replacements()
        return self

    def _approve_waiting(self) -> None:
        """The on-call approver approves what has waited APPROVE_AFTER (counted in steps: the
        rows' own times are wall-clock, the cluster's runs ahead). A proposal replaced or
        withdrawn meanwhile answers with a conflict: no click, as on the page."""
        from apps.core.errors import Conflict
        from apps.governance.action_models import Action, Status
        from apps.governance.actions import action_approve
        from apps.governance.errors import Replaced

        wait = APPROVE_AFTER.total_seconds() // self.step
        for action in Action.objects.filter(cluster=self.cluster, status=Status.PROPOSED):
            first = self._waiting.setdefault(action.pk, self.steps)
            if self.steps - first < wait:
                continue
            try:
                action_approve(approver=self.approver, action=action, reason="soak: on call")
            except (Conflict, Replaced):
                continue
            self.clicks += 1

    # --- the checks ---------------------------------------------------------------------------
    def _check_incidents(self) -> None:
        from apps.healing.models import ACTIVE, Incident, Status

        for i in Incident.objects.filter(cluster=self.cluster):
            now = (i.status, i.preventive, i.cause, i.healed_by_zerotouch)
            before = self._incidents.get(i.pk)
            self._incidents[i.pk] = now
            if before is None:
                continue
            was_status, was_preventive, was_cause, was_healed = before
            predicted = i.preventive or i.cause == "anomaly"
            observed_before = not was_preventive and was_cause != "anomaly"
            if i.status in ACTIVE and observed_before and predicted:
                self.violations.append(
                    f"incident #{i.pk} went from observed ({was_cause}) back to a prediction "
                    f"({i.cause})"
                )
            back = was_status == Status.RESOLVED and i.status in ACTIVE
            if back and predicted and (was_healed or observed_before):
                self.violations.append(
                    f"incident #{i.pk} reopened on a prediction ({i.cause}) after "
                    + ("its verified fix" if was_healed else f"an observed {was_cause}")
                )

    def _check_replacements(self) -> None:
        from apps.governance.action_models import Action
        from apps.healing.runbooks import REFRESH_MEMORY, canonical

        for old in Action.objects.filter(cluster=self.cluster, replaced_by__isnull=False):
            new = old.replaced_by
            if (old.kind, old.namespace, old.target_name) != (
                new.kind,
                new.namespace,
                new.target_name,
            ):
                continue  # another runbook or target: material
            was, now = canonical(old.kind, old.parameters), canonical(new.kind, new.parameters)
            if old.kind == "patch_resources":
                a, b = (_memory(p) for p in (was, now))
                material = b >= a * REFRESH_MEMORY
            elif old.kind == "scale":
                material = (now.get("replicas") or 0) > (was.get("replicas") or 0)
            else:
                material = was != now
            if not material:
                self.violations.append(
                    f"proposal #{old.pk} was replaced by #{new.pk} without a material change: "
                    f"{was} -> {now}"
                )

    def _check_plan(self) -> None:
        from apps.costs.plans import plan_build
        from apps.governance.action_models import IN_FLIGHT, Action, Kind, Source, Status
        from apps.healing.models import ACTIVE, Incident

        plan = plan_build(cluster=self.cluster)
        self.plans += 1
        self.plan_items += len(plan.items)
        busy = {
            (a.namespace, a.workload or a.target_name)
            for a in Action.objects.filter(cluster=self.cluster, status__in=IN_FLIGHT)
        } | {
            (i.namespace, i.name)
            for i in Incident.objects.filter(cluster=self.cluster, status__in=ACTIVE)
        }
        raised: dict[tuple[str, str, str], int] = {}
        fixes = Action.objects.filter(
            cluster=self.cluster, kind=Kind.PATCH_RESOURCES, status=Status.SUCCEEDED
        ).exclude(source=Source.COSTS)
        for a in fixes:
            key = (a.namespace, a.workload or a.target_name, a.parameters.get("container", ""))
            raised[key] = max(raised.get(key, 0), _memory(a.parameters or {}))
        for item in plan.items:
            if (item.namespace, item.workload) in busy:
                self.violations.append(
                    f"{self.server.sandbox.iso()}: the cost plan changes {item.key}, which has "
                    "an open incident or an Action in flight"
                )
            for r in item.recommendations:
                floor = raised.get((r.namespace, r.workload, r.container), 0)
                limit = r.recommended.memory_limit_bytes
                if floor and limit is not None and limit < floor:
                    self.violations.append(
                        f"{self.server.sandbox.iso()}: the cost plan cuts {item.key}/"
                        f"{r.container} to {limit} bytes, below the {floor} a fix raised"
                    )

    # --- the figures --------------------------------------------------------------------------
    def figures(self) -> dict:
        from apps.governance.action_models import Action, Source, Status
        from apps.healing.models import Incident
        from apps.predictions.models import Anomaly, RiskScore

        days = max(self.steps * self.step / 86_400, 1e-9)
        anomalies = Anomaly.objects.filter(cluster=self.cluster)
        incidents = list(Incident.objects.filter(cluster=self.cluster))
        failures = list(self.server.sandbox.failures)
        end = self.server.sandbox.now
        false = [i for i in incidents if not _failed_near(i, failures, end)]
        proposals = Action.objects.filter(cluster=self.cluster, source=Source.HEALING)
        proposed_for = {i.pk for i in incidents if i.action_id}
        healed = [i for i in incidents if i.healed_by_zerotouch]
        entities = (
            RiskScore.objects.filter(cluster=self.cluster)
            .values("entity_kind", "namespace", "name")
            .distinct()
            .count()
        )
        return {
            "days": days,
            "incidents": len(incidents) / days,
            "false_incidents": len(false) / days,
            "anomaly_episodes": _count(anomalies.filter(learning=False), entities, days),
            "anomaly_learning": _count(anomalies.filter(learning=True), entities, days),
            "proposals_per_incident": proposals.count() / max(len(proposed_for), 1),
            "withdrawn": proposals.filter(status=Status.CANCELLED, replaced_by__isnull=True).count()
            / days,
            "replaced": proposals.filter(replaced_by__isnull=False).count() / days,
            "clicks_per_healed": self.clicks / max(len(healed), 1),
            "healed": len(healed),
            "plans": self.plans,
            "plan_items": self.plan_items,
            "false_list": [
                f"#{i.pk} {i.cause} {i.target_label} from {i.started_at:%H:%M} "
                f"({'predicted' if i.preventive else 'observed'}, {i.status}): {i.title}"
                for i in false
            ],
        }


def _count(qs, entities: int, days: float) -> float:
    return qs.count() / max(entities, 1) / days


def _memory(parameters: dict) -> int:
    """The memory limit a patch's parameters set, in bytes (0: none)."""
    from apps.clusters.quantity import memory_bytes

    return memory_bytes((parameters.get("limits") or {}).get("memory") or 0)


def _failed_near(incident, failures: list[dict], end: datetime) -> bool:
    """Whether its target failed from the incident's start to GRACE after it ended."""
    until = (incident.resolved_at or end) + GRACE
    target = f"{incident.namespace}/{incident.name}" if incident.namespace else incident.name
    for f in failures:
        at = datetime.fromisoformat(f["time"])
        if not incident.started_at - GRACE <= at <= until:
            continue
        if incident.scope == "node":  # the node itself, not a pod that happened to run there
            if f["node"] == incident.name and f["kind"] in NODE_FAILURES:
                return True
        elif target == f["workload"] or f["pod"].startswith(f"{target}-"):
            return True
    return False


def sandbox(name: str = "busy-day", *, seed: int = 7, tmp: Path):
    """A paused sandbox of `name`, served over HTTPS, with its kubeconfig written to `tmp`."""
    from apps.clusters.sandbox import scenario
    from apps.clusters.sandbox.server import SandboxServer
    from apps.clusters.sandbox.sim import Sandbox

    sb = Sandbox(scenario.load(name), seed=seed)
    sb.advance(60)  # pods scheduled, started and ready
    server = SandboxServer(sb, speed=0).start()
    server.kubeconfig = server.write_kubeconfig(tmp / f"{name}.kubeconfig")
    return server


def report(f: dict) -> str:
    return "\n".join(
        [
            f"simulated {f['days'] * 24:.1f} h of busy-day; per simulated cluster-day:",
            f"  incidents                 {f['incidents']:.1f}",
            f"  false-alarm incidents     {f['false_incidents']:.1f}   (target <= 3)",
            f"  anomaly episodes / entity {f['anomaly_episodes']:.2f}   (and "
            f"{f['anomaly_learning']:.2f} marked learning: detectors with under a day of history)",
            f"  proposals per incident    {f['proposals_per_incident']:.2f}",
            f"  withdrawn proposals       {f['withdrawn']:.1f}",
            f"  replaced proposals        {f['replaced']:.1f}",
            f"  clicks per healed incident {f['clicks_per_healed']:.2f} ({f['healed']} healed)",
            f"  cost plans built {f['plans']}, items in them {f['plan_items']}",
            *(f"  false alarm: {line}" for line in f["false_list"]),
        ]
    )


# --- standalone: a scratch database, a real worker, the cold-start base model ---------------


def _worker(env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "aiops_site", "worker"]
    command += ["--loglevel=WARNING", "--concurrency=2", "--hostname=soak@%h"]
    command += ["--without-gossip", "--without-mingle"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def main() -> int:
    from benchmarks.support import drop_database, scratch_database

    url = scratch_database()
    if not url:
        print("soak: skipped (PostgreSQL unavailable)")
        return 0
    tmp = Path(tempfile.mkdtemp())
    os.environ.update(
        DATABASE_URL=url,
        CELERY_BROKER_URL=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12"),
        CELERY_QUEUE_PREFIX=f"zt-soak-{os.getpid()}.",
        MODEL_DIR=str(tmp / "models"),
        PREDICTION_AUTO_TRAIN="0",
        KUBECONFIG_DIRS=str(tmp),  # the sandbox's kubeconfig is written there
    )
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from apps.clusters.services import cluster_create
    from apps.core.services import safety_mode_set, safety_switch_set
    from apps.predictions import training

    call_command("migrate", verbosity=0)
    adam = User.objects.create_user("adam")
    adam.groups.set([Group.objects.get(name="admin")])
    alice = User.objects.create_user("alice")
    alice.groups.set([Group.objects.get(name="approver")])
    safety_mode_set(actor=adam, mode="autonomous", reason="soak")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="soak")
    t = time.perf_counter()
    training.base_model_ensure(actor="system:soak")
    print(f"base model trained in {time.perf_counter() - t:.0f} s", flush=True)
    worker = _worker(dict(os.environ))
    server = sandbox("busy-day", tmp=tmp)
    try:
        cluster = cluster_create(
            actor="system:soak",
            name="busy-day",
            connection="sandbox",
            kubeconfig_path=str(server.kubeconfig),
            context="sandbox",
            collect_interval_seconds=STEP,
        )
        t = time.perf_counter()

        def progress(s: Soak) -> None:
            print(
                f"  {s.steps * s.step / 3600:4.1f} h simulated in "
                f"{time.perf_counter() - t:5.0f} s; {len(s.violations)} violations",
                flush=True,
            )

        soak = Soak(server=server, cluster=cluster, approver=alice).play(HOURS, progress=progress)
        print(report(soak.figures()))
        print(f"checks: {len(soak.violations)} violations")
        for v in soak.violations[:20]:
            print(f"  - {v}")
        return 1 if soak.violations else 0
    finally:
        server.stop()
        worker.terminate()
        worker.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    sys.exit(main())
