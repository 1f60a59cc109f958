"""The simulated cluster: an object store driven by controllers, a scheduler and kubelets,
as discrete events in simulated time. Deterministic for a scenario and a seed.

Nothing runs per tick for a healthy pod: usage is a function of time (kubelet.py) and only
transitions (starts, crashes, OOM kills, evictions, rollouts) are scheduled as timers. That is
what lets a day of a 2,000-pod cluster fast-forward in seconds.
"""

import heapq
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from random import Random

from ..labels import CHAOS_OPT_IN
from ..quantity import cpu_millis, memory_bytes
from . import bootstrap, builders, controllers, faults
from .kubelet import PodRt, Profile
from .scenario import Scenario
from .store import Store, ts

RESYNC = timedelta(seconds=15)  # controllers' periodic pass (deadlines, HPA, PDB status)
EVENT_TTL = timedelta(hours=1)  # as the API server keeps events
PROTECTED = ("kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    def __init__(self, scenario: Scenario, *, seed: int = 1, start: datetime | None = None):
        self.scenario = scenario
        self.seed = seed
        # The simulation's own dice: deterministic under a seed, not for secrets.
        self.rng = Random(seed)  # nosec B311
        self.started = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self.now = self.started
        self.store = Store(lambda: self.now, self.rng)
        self.lock = self.store.lock
        self._timers: list = []
        self._seq = itertools.count()
        self.runtime: dict[str, PodRt] = {}  # pod uid -> kubelet state
        self.profiles: dict[str, Profile] = {}  # "ns/deployment" -> demand
        self.node_ready: dict[str, bool] = {}
        self.unscheduled: set[tuple[str, str]] = set()  # pods waiting for the scheduler
        self.pending_recorded: set[str] = set()  # pods whose Pending is in the ground truth
        self.failures: list[dict] = []  # ground truth: what failed, when
        self.job_retry_at: dict[str, datetime] = {}  # job uid -> no new pod before (back-off)
        self.mutations: Counter = Counter()  # mutating API calls, by "verb resource"
        self.effective_mutations: Counter = Counter()  # the calls that changed something
        self.cpu_extra: dict[str, float] = defaultdict(float)  # pod uid -> millicores (chaos)
        self.mem_extra: dict[str, float] = defaultdict(float)
        self.latency_extra: dict[str, float] = defaultdict(float)  # workload -> seconds
        # workload -> share of its pods' packets dropped (NetworkChaos loss; 1 partitioned)
        self.packet_loss: dict[str, float] = defaultdict(float)
        self.traffic: dict = {}  # workload -> traffic.Totals: its golden-signal counters
        self._next_resync = self.now
        self._event_index: dict[tuple, dict] = {}
        self.missing_storage_classes = set(scenario.missing_storage_classes)
        with self.lock:
            self._build()
            self.run_until(self.now)

    # --- time -------------------------------------------------------------------------
    def iso(self, t: datetime | None = None) -> str:
        return ts(t or self.now)

    def at(self, when: datetime, fn: str, *args) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), fn, args))

    def after(self, seconds: float, fn: str, *args) -> None:
        self.at(self.now + timedelta(seconds=seconds), fn, *args)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.run_until(self.now + timedelta(seconds=seconds))

    def run_until(self, target: datetime) -> None:
        """Fire every timer due by `target` in order, with resyncs in between."""
        while True:
            next_timer = self._timers[0][0] if self._timers else None
            step = min(t for t in (next_timer, self._next_resync) if t is not None)
            if step > target:
                break
            self.now = max(self.now, step)
            if next_timer is not None and next_timer <= self._next_resync:
                _, _, fn, args = heapq.heappop(self._timers)
                getattr(self, f"_t_{fn}")(*args)
            else:
                self._next_resync = self.now + RESYNC
                controllers.resync(self)
        self.now = max(self.now, target)

    # --- building the scenario ----------------------------------------------------------
    def _build(self) -> None:
        for ns in ("default", *PROTECTED, *self.scenario.namespaces):
            if not self.store.get("namespaces", "", ns):
                opted = ns in self.scenario.chaos_namespaces
                annotations = {CHAOS_OPT_IN: "true"} if opted else None
                self.store.create("namespaces", builders.namespace(ns, annotations))
                controllers.namespace_defaults(self, ns)
        for key, obj in bootstrap.cluster_objects():
            self.store.create(key, obj, own_uid=True)
        for pool in self.scenario.nodes:
            for i in range(1, pool.count + 1):
                obj = self.store.create("nodes", builders.node(pool, i))
                self.node_ready[obj["metadata"]["name"]] = True
                controllers.node_status(self, obj, ready=True)
        for w in self.scenario.workloads:
            self.profiles[f"{w.namespace}/{w.name}"] = Profile.from_usage(w.usage)
            if w.pvc:
                bound = w.pvc.get("storage_class", "standard") not in self.missing_storage_classes
                self.store.create("persistentvolumeclaims", builders.pvc(w, bound))
            self.store.create("apps/deployments", builders.deployment(w))
            if w.pdb:
                self.store.create("policy/poddisruptionbudgets", builders.pdb(w))
            if w.hpa:
                self.store.create("autoscaling/horizontalpodautoscalers", builders.hpa(w))
        for job in self.scenario.jobs:
            self.profiles[f"{job.namespace}/{job.name}"] = Profile.from_usage(job.usage)
            self.at(self.started + job.at, "create_job", job)
        for fault in self.scenario.faults:
            self.at(self.started + fault.at, "fault", fault)
        controllers.resync(self)

    # --- events -------------------------------------------------------------------------
    def emit(
        self,
        involved: dict,
        reason: str,
        message: str,
        etype: str = "Normal",
        source: str = "kubelet",
    ) -> None:
        uid = involved["metadata"]["uid"]
        key = (uid, reason, message)
        existing = self._event_index.get(key)
        if existing is not None and self.store.get(
            "events", existing["metadata"]["namespace"], existing["metadata"]["name"]
        ):
            existing["count"] += 1
            existing["lastTimestamp"] = self.iso()
            self.store.update("events", existing)
            return
        name = f"{involved['metadata']['name']}.{self.rng.getrandbits(64):016x}"
        ev = builders.event(
            name=name,
            involved=involved,
            reason=reason,
            message=message,
            etype=etype,
            now=self.iso(),
            source=source,
        )
        self._event_index[key] = self.store.create("events", ev)

    def expire_events(self) -> None:
        cutoff = self.iso(self.now - EVENT_TTL)
        for ev in self.store.list("events"):
            if ev["lastTimestamp"] < cutoff:
                meta = ev["metadata"]
                self.store.delete("events", meta["namespace"], meta["name"])

    def record_failure(
        self,
        kind: str,
        *,
        pod: PodRt | None = None,
        node: str = "",
        workload: str = "",
        detail: str = "",
    ) -> None:
        self.failures.append(
            {
                "time": self.iso(),
                "kind": kind,
                "workload": workload or (pod.workload if pod else ""),
                "pod": f"{pod.namespace}/{pod.name}" if pod else "",
                "node": node or (pod.node if pod else ""),
                "detail": detail,
            }
        )

    # --- timers (names are the `fn` strings given to at/after) ----------------------------
    def _t_fault(self, fault) -> None:
        faults.inject(self, fault)

    def _t_saturated(self, workload: str) -> None:
        self.record_failure(
            "Saturated",
            workload=workload,
            detail="CPU demand reached the limit: throttled, latency rising",
        )

    def _t_create_job(self, job) -> None:
        obj = self.store.create(controllers.JOBS, builders.job(job, self.store.new_uid()))
        controllers.reconcile_job(self, obj)

    def _t_job(self, namespace: str, name: str) -> None:
        controllers.reconcile_job_named(self, namespace, name)

    def _t_restore(self, kind: str, target: str) -> None:
        faults.restore(self, kind, target)

    def _t_container(self, uid: str, container: str, gen: int, action: str) -> None:
        controllers.container_timer(self, uid, container, gen, action)

    def _t_evict_node(self, node: str) -> None:
        controllers.evict_unready_node(self, node)

    def _t_chaos_end(self, key: str, ns: str, name: str) -> None:
        faults.chaos_end(self, key, ns, name)

    # --- lookups ------------------------------------------------------------------------
    def profile_for(self, rt: PodRt) -> Profile:
        return self.profiles.get(rt.workload) or Profile(
            cpu_m=50,
            mem_bytes=64 * 2**20,
            daily_amplitude=0.2,
            noise=0.05,
            leak_bytes_per_s=0,
            startup_seconds=5,
        )

    def pod_obj(self, rt: PodRt) -> dict | None:
        return self.store.get("pods", rt.namespace, rt.name)

    def container_limit(self, pod: dict, name: str, resource: str) -> int:
        for c in pod["spec"]["containers"]:
            if c["name"] == name:
                value = c.get("resources", {}).get("limits", {}).get(resource)
                if value is None:
                    return 0
                return cpu_millis(value) if resource == "cpu" else memory_bytes(value)
        return 0
