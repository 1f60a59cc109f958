"""Training histories from the sandbox: run a scenario in-process, fast-forward, and sample it
every `step` seconds of simulated time into the frames the collector stores. Pure: no Django.

The rows mirror `apps/clusters/collector.py` column for column. The pod, node, deployment,
replica-set and event objects are parsed with the gateway's own parsers
(`apps/clusters/gateway/types.py`, no Django), and usage goes through the same rounding as
metrics.k8s.io (whole nanocores, whole Ki). Only `apps.clusters.sandbox` and
`apps.clusters.gateway.types` are imported; neither touches Django settings or models
(tests/predictions/test_failure.py checks this in a fresh interpreter).

`vary=True` turns one scenario into a family. The seed also picks: the start hour (07:00-16:00,
so the daily cycle differs, and a CPU ramp does reach its limit as the ground truth says; at
night the cycle keeps it below); an unsampled hour of warm-up, so that the cluster's creation
is no "recent rollout" (the collector joins a running cluster); a further delay of 10-60
minutes for every fault, its offset scaled by 0.8-1.3 plus up to a minute (faults neither
follow the start of the samples nor land on one); the faults' strength (leak rate, ramp
length, neighbour factor); each workload's demand (level, daily amplitude, noise; workloads no
fault touches run anywhere up to 85% of their limits, so high but steady is not taken for
trouble); and one or two healthy rollouts, so a rollout alone is no failure signal. Without
it, a seed changes only names and noise, and sampling starts when the cluster is created.
"""

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random

import pandas as pd

from apps.clusters.gateway.types import Deployment, Event, Node, Pod, ReplicaSet
from apps.clusters.quantity import cpu_millis, memory_bytes
from apps.clusters.sandbox import controllers, metrics
from apps.clusters.sandbox import scenario as scenarios
from apps.clusters.sandbox.sim import Sandbox

from .features import (
    CONTAINER_COLUMNS,
    EVENT_COLUMNS,
    NODE_COLUMNS,
    WORKLOAD_COLUMNS,
    Frames,
)

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday; vary=True shifts the hour
WARMUP = timedelta(hours=1)  # vary=True: the cluster runs this long before sampling starts


@dataclass
class Simulation:
    scenario: str
    seed: int
    start: datetime
    end: datetime
    frames: Frames
    failures: list[dict]  # the sandbox's ground truth: {time, kind, workload, pod, node, detail}
    faults: list[dict]  # injected: {time, kind, target, params} (after variation)
    rollouts: list[dict]  # healthy rollouts added by vary=True: {time, target}


def simulate(
    scenario: str | scenarios.Scenario,
    *,
    seed: int,
    hours: float = 1.0,
    step_seconds: int = 30,
    start: datetime | None = None,
    vary: bool = False,
) -> Simulation:
    """Run `scenario` for `hours` of simulated time; sample every `step_seconds`."""
    sc = scenarios.load(scenario) if isinstance(scenario, str) else scenario
    # Variation for determinism, not secrets.
    rng = Random(seed * 7919 + 17)  # noqa: S311  # nosec B311
    begin = start or START
    rollouts: list[tuple[datetime, str]] = []
    warmup = WARMUP if vary else timedelta(0)
    if vary:
        sc = _varied(sc, rng)
        begin = begin + timedelta(hours=rng.randrange(7, 17))  # see the module docstring
        rollouts = _healthy_rollouts(sc, rng, begin, hours)
    sb = Sandbox(sc, seed=seed, start=begin - warmup)
    sampler = _Sampler()
    end = begin + timedelta(hours=hours)
    step = timedelta(seconds=step_seconds)
    pending = sorted(rollouts)
    with sb.lock:  # the store notifies watchers under its lock, as advance() does
        sb.run_until(begin)  # the warm-up is not sampled: the collector joins a running cluster
        while sb.now + step <= end:
            target = sb.now + step
            while pending and pending[0][0] <= target:
                when, workload = pending.pop(0)
                sb.run_until(when)
                _rollout(sb, workload)
            sb.run_until(target)
            sampler.sample(sb)
    faults = [
        {
            "time": _second(sb.started + f.at),
            "kind": f.kind,
            "target": f.target,
            "params": dict(f.params),
        }
        for f in sc.faults
    ]
    return Simulation(
        scenario=sc.name,
        seed=seed,
        start=begin,
        end=sb.now,
        frames=sampler.frames(),
        failures=list(sb.failures),
        faults=faults,
        rollouts=[{"time": _second(t), "target": w} for t, w in rollouts],
    )


# --- variation --------------------------------------------------------------------------


def _varied(sc: scenarios.Scenario, rng: Random) -> scenarios.Scenario:
    faults = []
    lead_in = WARMUP + timedelta(minutes=rng.uniform(10, 60))  # offsets count from creation
    for f in sc.faults:
        at = f.at * rng.uniform(0.8, 1.3) + lead_in + timedelta(seconds=rng.uniform(1, 60))
        faults.append(dataclasses.replace(f, at=at, params=_varied_params(f, rng)))
    targets = {f.target for f in sc.faults}
    workloads = [
        dataclasses.replace(w, usage=_varied_usage(w, rng, f"{w.namespace}/{w.name}" in targets))
        for w in sc.workloads
    ]
    return dataclasses.replace(sc, faults=faults, workloads=workloads)


def _varied_usage(w: scenarios.Workload, rng: Random, target: bool) -> scenarios.Usage:
    """Each workload's demand scaled, so a model cannot tell workloads apart by their level,
    nor learn that a high but steady level is a failure: the workloads no fault touches run
    anywhere up to 85% of their memory limit and 80% of their CPU limit at the daily peak.
    A fault's own target moves less, so the fault plays out as its scenario describes."""
    u = w.usage
    amplitude = min(0.8, u.daily_amplitude * rng.uniform(0.5, 1.5))
    cpu = cpu_millis(u.cpu) * (rng.uniform(0.7, 1.4) if target else rng.uniform(0.7, 3.0))
    mem = memory_bytes(u.memory) * (rng.uniform(0.85, 1.15) if target else rng.uniform(0.8, 2.2))
    if not target and w.limits.get("cpu"):
        cpu = min(cpu, 0.8 * cpu_millis(w.limits["cpu"]) / (1 + amplitude) / 1.2)
    if not target and w.limits.get("memory"):
        mem = min(mem, 0.85 * memory_bytes(w.limits["memory"]) / 1.05)
    return dataclasses.replace(
        u,
        cpu=f"{max(1, int(cpu))}m",
        memory=str(int(mem)),
        daily_amplitude=amplitude,
        noise=u.noise * rng.uniform(0.5, 2.0),
    )


def _varied_params(fault: scenarios.Fault, rng: Random) -> dict:
    p = dict(fault.params)
    if fault.kind == "memory_leak":
        rate = memory_bytes(str(p.get("leak_per_hour", "512Mi"))) * rng.uniform(0.6, 1.1)
        p["leak_per_hour"] = str(int(rate))
    elif fault.kind == "cpu_saturation":
        seconds = scenarios.duration(p.get("ramp", "30m")).total_seconds()
        p["ramp"] = f"{int(seconds * rng.uniform(0.7, 1.5))}s"
    elif fault.kind == "noisy_neighbour":
        p["factor"] = float(p.get("factor", 6)) * rng.uniform(0.8, 1.2)
    return p


def _healthy_rollouts(
    sc: scenarios.Scenario, rng: Random, begin: datetime, hours: float
) -> list[tuple[datetime, str]]:
    targets = {f.target for f in sc.faults}
    names = [f"{w.namespace}/{w.name}" for w in sc.workloads]
    names = [n for n in names if n not in targets]  # a new image would undo the fault
    if not names or hours < 0.5:
        return []
    out = []
    for _ in range(rng.randint(1, 2)):
        offset = rng.uniform(0.2, 0.9) * hours * 3600
        out.append((begin + timedelta(seconds=offset), rng.choice(names)))
    return out


def _rollout(sb: Sandbox, workload: str) -> None:
    """A healthy rollout: a new image tag that starts fine (as `kubectl set image` would)."""
    ns, _, name = workload.partition("/")
    dep = sb.store.get("apps/deployments", ns, name)
    if dep is None:
        return
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["image"] = re.sub(r"-r\d{6}$", "", container["image"]) + f"-r{sb.now:%H%M%S}"
    sb.store.update("apps/deployments", dep, spec_changed=True)
    controllers.reconcile_deployment(sb, dep)


# --- sampling, as collector.collect() builds rows ------------------------------------------


class _Sampler:
    def __init__(self) -> None:
        self.containers: list[tuple] = []
        self.nodes: list[tuple] = []
        self.workloads: list[tuple] = []
        self.events: dict[str, tuple] = {}  # uid -> latest row (the collector upserts by uid)
        self._event_rv: dict[str, str] = {}
        self._parsed: dict[tuple, object] = {}  # (kind, uid, resourceVersion) -> parsed object

    def _parse(self, cls, obj: dict):
        """Parse an object once per resourceVersion: most objects do not change between
        samples (usage is read separately), so this halves the sampling time."""
        meta = obj["metadata"]
        key = (cls.__name__, meta.get("uid"), meta.get("resourceVersion"))
        hit = self._parsed.get(key)
        if hit is None:
            if len(self._parsed) > 50_000:
                self._parsed.clear()
            hit = self._parsed[key] = cls.parse(obj)
        return hit

    def sample(self, sb: Sandbox) -> None:
        ts = sb.now
        rs_owner, rollout_at = self._replica_sets(sb)
        node_totals = {
            n["metadata"]["name"]: [150.0, 600.0 * 2**20] for n in sb.store.list("nodes")
        }
        for obj in sb.store.list("pods"):
            usage = {n: (cpu, mem) for n, cpu, mem in metrics.container_usage(sb, obj)}
            node = obj["spec"].get("nodeName")
            for cpu, mem in usage.values():
                if node in node_totals:
                    node_totals[node][0] += cpu
                    node_totals[node][1] += mem
            self._pod_rows(ts, self._parse(Pod, obj), rs_owner, usage)
        self._node_rows(sb, ts, node_totals)
        for obj in sb.store.list("apps/deployments"):
            d = self._parse(Deployment, obj)
            rollout = rollout_at.get((d.namespace, d.name))
            self.workloads.append(
                (
                    ts,
                    d.namespace,
                    d.name,
                    d.replicas,
                    d.ready_replicas,
                    d.available_replicas,
                    d.updated_replicas,
                    d.revision,
                    rollout,
                )
            )
        self._events(sb)

    def _replica_sets(self, sb: Sandbox) -> tuple[dict, dict]:
        rs_owner: dict[tuple[str, str], str] = {}
        rollout_at: dict[tuple[str, str], datetime] = {}
        for obj in sb.store.list("apps/replicasets"):
            rs = self._parse(ReplicaSet, obj)
            if rs.owner and rs.owner.kind == "Deployment":
                rs_owner[(rs.namespace, rs.name)] = rs.owner.name
                if rs.created:
                    key = (rs.namespace, rs.owner.name)
                    rollout_at[key] = max(rollout_at.get(key, rs.created), rs.created)
        return rs_owner, rollout_at

    def _pod_rows(self, ts: datetime, p: Pod, rs_owner: dict, usage: dict) -> None:
        if p.owner is None:
            workload = ""
        elif p.owner.kind == "ReplicaSet":
            workload = rs_owner.get((p.namespace, p.owner.name), p.owner.name)
        else:
            workload = p.owner.name
        for c in p.containers:
            u = usage.get(c.name)
            cpu = int(u[0] * 1e6) / 1e6 if u else None  # metrics.k8s.io: whole nanocores
            mem = int(u[1]) // 1024 * 1024 if u else None  # and whole Ki
            row = (ts, p.namespace, workload, p.name, c.name, p.node, cpu, mem)
            limits = (c.request_cpu_m, c.limit_cpu_m, c.request_memory, c.limit_memory)
            state = (c.restarts, c.ready, c.state, c.waiting_reason, c.last_terminated_reason)
            self.containers.append((*row, *limits, *state, c.oom_killed))

    def _node_rows(self, sb: Sandbox, ts: datetime, totals: dict) -> None:
        for obj in sb.store.list("nodes"):
            n = self._parse(Node, obj)
            pressure = n.pressure()
            # metrics-server cannot scrape a node that is not ready: no usage then.
            cpu, mem = totals[n.name] if sb.node_ready.get(n.name, False) else (None, None)
            self.nodes.append(
                (
                    ts,
                    n.name,
                    int(cpu * 1e6) / 1e6 if cpu is not None else None,
                    int(mem) // 1024 * 1024 if mem is not None else None,
                    n.allocatable_cpu_m,
                    n.allocatable_memory,
                    n.ready,
                    "MemoryPressure" in pressure,
                    "DiskPressure" in pressure,
                    "PIDPressure" in pressure,
                    n.unschedulable,
                )
            )

    def _events(self, sb: Sandbox) -> None:
        for obj in sb.store.list("events"):
            meta = obj["metadata"]
            uid = meta.get("uid") or f"{meta['namespace']}/{meta['name']}"
            if self._event_rv.get(uid) == meta.get("resourceVersion"):
                continue
            self._event_rv[uid] = meta.get("resourceVersion")
            e = Event.parse(obj)
            self.events[uid] = (
                uid,
                e.namespace,
                e.type,
                e.reason[:120],
                e.message,
                e.count,
                e.object_kind,
                e.object_name,
                e.object_namespace,
                e.first_seen,
                e.last_seen,
            )

    def frames(self) -> Frames:
        containers = pd.DataFrame(self.containers, columns=CONTAINER_COLUMNS)
        for col in ("request_cpu_m", "limit_cpu_m", "request_memory", "limit_memory", "memory"):
            containers[col] = containers[col].astype("float64")
        containers["cpu_m"] = containers["cpu_m"].astype("float64")
        nodes = pd.DataFrame(self.nodes, columns=NODE_COLUMNS)
        nodes[["cpu_m", "memory"]] = nodes[["cpu_m", "memory"]].astype("float64")
        events = pd.DataFrame(list(self.events.values()), columns=EVENT_COLUMNS)
        workloads = pd.DataFrame(self.workloads, columns=WORKLOAD_COLUMNS)
        for df, cols in (
            (containers, ["ts"]),
            (nodes, ["ts"]),
            (events, ["first_seen", "last_seen"]),
            (workloads, ["ts", "last_rollout_at"]),
        ):
            for col in cols:
                df[col] = pd.to_datetime(df[col], utc=True)
        return Frames(containers=containers, nodes=nodes, events=events, workloads=workloads)


def fault_kind_of(episodes: pd.DataFrame, faults: list[dict], *, node_window_minutes=30) -> list:
    """The injected fault behind each failure episode: the latest one that started before it,
    among the faults on the episode's entity and the node_not_ready faults of the preceding
    `node_window_minutes` (evictions and lost replicas follow a node outage); else "none"."""
    out = []
    for entity, start in zip(episodes["entity"], episodes["start"], strict=True):
        start = pd.Timestamp(start)
        mine = [f for f in faults if f["target"] == entity and f["time"] <= start]
        nodes = [
            f
            for f in faults
            if f["kind"] == "node_not_ready"
            and start - timedelta(minutes=node_window_minutes) <= f["time"] <= start
        ]
        best = max(mine + nodes, key=lambda f: f["time"], default=None)
        out.append(best["kind"] if best else "none")
    return out


def _second(t: datetime) -> datetime:
    """To the whole second, as the sandbox stamps what it records."""
    return t.replace(microsecond=0)
