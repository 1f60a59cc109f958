"""Scenarios: a documented YAML file says which cluster to build and which faults to inject
when. The fault list is the ground truth that later evaluations score against."""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

SCENARIO_DIR = Path(__file__).parent / "scenarios"
FAULT_KINDS = {
    "memory_leak",  # a workload's memory grows until OOMKilled, then CrashLoopBackOff
    "bad_rollout",  # a new image revision crashes on start; undo recovers
    "node_not_ready",  # a node stops reporting; its pods are evicted after 300 s
    "cpu_saturation",  # a workload's CPU demand ramps past its limit; latency rises
    "noisy_neighbour",  # one workload burns CPU on a node and slows its neighbours
    "unbound_pvc",  # a claim whose storage class does not exist; its pods stay Pending
    "image_pull_failure",  # a rollout to an image that cannot be pulled
    "crash_loop",  # a workload starts crashing on start (config error)
}
JOB_RESTART_POLICIES = ("Never", "OnFailure")  # as the API server allows for a Job
JOB_KEYS = {"backoffLimit": "backoff_limit", "restartPolicy": "restart_policy"}  # YAML -> field


class ScenarioError(ValueError):
    pass


def duration(text: str | int | float) -> timedelta:
    """ "90s", "15m", "2h", "1d", "1h30m" or a number of seconds."""
    if isinstance(text, int | float):
        return timedelta(seconds=text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text).replace(" ", ""):
        raise ScenarioError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d)")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return timedelta(seconds=sum(float(n) * unit[u] for n, u in parts))


@dataclass(frozen=True)
class Usage:
    cpu: str = "100m"  # mean demand
    memory: str = "128Mi"  # steady working set
    daily_amplitude: float = 0.3  # share of the mean that the daily cycle adds or removes
    noise: float = 0.08  # relative noise, deterministic per pod and minute
    leak_per_hour: str = "0"  # memory growth per hour since the container started
    startup_seconds: int = 10  # until the readiness probe passes


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    replicas: int
    image: str
    requests: dict
    limits: dict
    usage: Usage
    labels: dict = field(default_factory=dict)
    pdb: dict | None = None
    hpa: dict | None = None
    pvc: dict | None = None
    user_facing: bool = False


@dataclass(frozen=True)
class NodePool:
    name: str
    count: int
    cpu: str
    memory: str
    labels: dict = field(default_factory=dict)
    taints: list = field(default_factory=list)


@dataclass(frozen=True)
class Fault:
    at: timedelta
    kind: str
    target: str  # "namespace/workload" or a node name
    params: dict = field(default_factory=dict)
    expect: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "at_seconds": self.at.total_seconds(),
            "kind": self.kind,
            "target": self.target,
            "params": self.params,
            "expect": list(self.expect),
        }


@dataclass(frozen=True)
class Job:
    """A batch/v1 Job created `at` after the start; its pods run `run_seconds` (10 s by
    default) and exit 0, or exit 1 after 5 s when the image's tag contains `failing`."""

    name: str
    namespace: str
    image: str
    requests: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    backoff_limit: int = 6
    restart_policy: str = "Never"
    run_seconds: float | None = None
    at: timedelta = timedelta(0)
    usage: Usage = Usage()
    expect: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "at_seconds": self.at.total_seconds(),
            "target": f"{self.namespace}/{self.name}",
            "image": self.image,
            "expect": list(self.expect),
        }


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    nodes: list[NodePool]
    namespaces: list[str]
    workloads: list[Workload]
    faults: list[Fault]
    missing_storage_classes: tuple[str, ...] = ("does-not-exist",)
    jobs: list[Job] = field(default_factory=list)
    chaos_namespaces: tuple[str, ...] = ()  # opted in to chaos experiments (an annotation)


def load(name_or_path: str) -> Scenario:
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(available())
        raise ScenarioError(f"no scenario {name_or_path!r}; known: {known}")
    return parse(yaml.safe_load(path.read_text()), source=path.name)


def available() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def parse(doc: dict, *, source: str = "scenario") -> Scenario:
    try:
        nodes = [NodePool(**n) for n in doc["nodes"]]
        workloads = [_workload(w) for raw in doc.get("workloads", []) for w in _copies(raw)]
        faults = [_fault(f) for f in doc.get("faults", [])]
        jobs = [_job(j) for j in doc.get("jobs", [])]
    except (KeyError, TypeError) as exc:
        raise ScenarioError(f"{source}: {exc}") from exc
    namespaces = sorted({*doc.get("namespaces", []), *(w.namespace for w in [*workloads, *jobs])})
    return Scenario(
        doc.get("name", source),
        doc.get("description", ""),
        nodes,
        namespaces,
        workloads,
        faults,
        jobs=jobs,
        chaos_namespaces=tuple(doc.get("chaos_namespaces", ())),
    )


def _copies(w: dict) -> list[dict]:
    """`copies: N` stamps out N workloads; "{i}" in name or namespace is the copy's number."""
    n = w.get("copies")
    if n is None:
        return [w]
    base = {k: v for k, v in w.items() if k != "copies"}
    return [
        {
            **base,
            "name": str(base["name"]).replace("{i}", str(i)),
            "namespace": str(base["namespace"]).replace("{i}", str(i % w.get("namespaces", 10))),
        }
        for i in range(1, int(n) + 1)
    ]


def _workload(w: dict) -> Workload:
    w = {k: v for k, v in w.items() if k != "namespaces"}
    w = dict(w)
    w["usage"] = Usage(**w.get("usage", {}))
    w.setdefault("requests", {})
    w.setdefault("limits", {})
    return Workload(**w)


def _job(j: dict) -> Job:
    j = {JOB_KEYS.get(k, k): v for k, v in j.items()}
    if j.get("restart_policy", "Never") not in JOB_RESTART_POLICIES:
        raise ScenarioError(
            f"job {j.get('name')!r}: restartPolicy must be one of {list(JOB_RESTART_POLICIES)}"
        )
    j["at"] = duration(j.get("at", 0))
    # No readiness probe on batch work: a job's container is ready once it runs.
    j["usage"] = Usage(**{"startup_seconds": 0, **j.get("usage", {})})
    j["expect"] = tuple(j.get("expect", ()))
    return Job(**j)


def _fault(f: dict) -> Fault:
    if f.get("kind") not in FAULT_KINDS:
        raise ScenarioError(f"unknown fault kind {f.get('kind')!r}; known: {sorted(FAULT_KINDS)}")
    return Fault(
        at=duration(f["at"]),
        kind=f["kind"],
        target=f["target"],
        params=f.get("params", {}),
        expect=tuple(f.get("expect", ())),
    )
