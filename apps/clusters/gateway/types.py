"""What the gateway returns: small, frozen dataclasses with plain units (millicores, bytes),
never the client's models. Built from the API's JSON directly (fast for 2,000 pods)."""

from dataclasses import dataclass, field
from datetime import datetime

from ..quantity import QuantityError, cpu_millis, memory_bytes


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _resources(spec: dict | None) -> tuple[int | None, int | None]:
    spec = spec or {}
    try:
        cpu = cpu_millis(spec["cpu"]) if "cpu" in spec else None
        mem = memory_bytes(spec["memory"]) if "memory" in spec else None
    except QuantityError:
        return None, None
    return cpu, mem


@dataclass(frozen=True)
class Version:
    git_version: str
    platform: str
    server_time: datetime | None


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition: datetime | None = None

    @classmethod
    def parse(cls, c: dict) -> "Condition":
        return cls(
            c.get("type", ""),
            c.get("status", ""),
            c.get("reason") or "",
            c.get("message") or "",
            parse_time(c.get("lastTransitionTime")),
        )


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclass(frozen=True)
class Node:
    name: str
    uid: str
    labels: dict
    unschedulable: bool
    taints: tuple[Taint, ...]
    conditions: tuple[Condition, ...]
    capacity_cpu_m: int
    capacity_memory: int
    allocatable_cpu_m: int
    allocatable_memory: int
    kubelet_version: str
    created: datetime | None

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.conditions)

    def pressure(self) -> list[str]:
        return [
            c.type for c in self.conditions if c.type.endswith("Pressure") and c.status == "True"
        ]

    @classmethod
    def parse(cls, o: dict) -> "Node":
        st, spec = o.get("status", {}), o.get("spec", {})
        cap_cpu, cap_mem = _resources(st.get("capacity"))
        al_cpu, al_mem = _resources(st.get("allocatable"))
        return cls(
            name=o["metadata"]["name"],
            uid=o["metadata"].get("uid", ""),
            labels=o["metadata"].get("labels", {}),
            unschedulable=bool(spec.get("unschedulable")),
            taints=tuple(
                Taint(t["key"], t.get("effect", ""), t.get("value") or "")
                for t in spec.get("taints") or []
            ),
            conditions=tuple(Condition.parse(c) for c in st.get("conditions") or []),
            capacity_cpu_m=cap_cpu or 0,
            capacity_memory=cap_mem or 0,
            allocatable_cpu_m=al_cpu or 0,
            allocatable_memory=al_mem or 0,
            kubelet_version=st.get("nodeInfo", {}).get("kubeletVersion", ""),
            created=parse_time(o["metadata"].get("creationTimestamp")),
        )


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    ready: bool
    restarts: int
    state: str  # running | waiting | terminated | unknown
    waiting_reason: str
    last_terminated_reason: str
    last_exit_code: int | None
    last_terminated_at: datetime | None
    started_at: datetime | None
    request_cpu_m: int | None
    request_memory: int | None
    limit_cpu_m: int | None
    limit_memory: int | None

    @property
    def oom_killed(self) -> bool:
        return self.last_terminated_reason == "OOMKilled"


@dataclass(frozen=True)
class ContainerLog:
    """The last lines one container wrote (`previous`: its run before the last restart)."""

    namespace: str
    pod: str
    container: str  # "" when the pod's only container was meant
    previous: bool
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Owner:
    kind: str
    name: str
    uid: str


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str
    phase: str
    node: str
    labels: dict
    owner: Owner | None
    containers: tuple[Container, ...]
    conditions: tuple[Condition, ...]
    created: datetime | None
    started: datetime | None
    pvc_names: tuple[str, ...] = field(default=())
    reason: str = ""  # e.g. Evicted
    terminating: bool = False  # deleted, waiting for its kubelet (stays so on a lost node)

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.conditions)

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)

    @classmethod
    def parse(cls, o: dict) -> "Pod":
        meta, spec, st = o["metadata"], o.get("spec", {}), o.get("status", {})
        refs = (
            [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
            or meta.get("ownerReferences")
            or []
        )
        owner = Owner(refs[0]["kind"], refs[0]["name"], refs[0].get("uid", "")) if refs else None
        statuses = {s["name"]: s for s in st.get("containerStatuses") or []}
        containers = []
        for c in spec.get("containers", []):
            s = statuses.get(c["name"], {})
            state = s.get("state") or {}
            kind = next(iter(state), "unknown")
            term = (s.get("lastState") or {}).get("terminated") or {}
            req_cpu, req_mem = _resources(c.get("resources", {}).get("requests"))
            lim_cpu, lim_mem = _resources(c.get("resources", {}).get("limits"))
            containers.append(
                Container(
                    name=c["name"],
                    image=c.get("image", ""),
                    ready=bool(s.get("ready")),
                    restarts=int(s.get("restartCount", 0)),
                    state=kind,
                    waiting_reason=(state.get("waiting") or {}).get("reason", ""),
                    last_terminated_reason=term.get("reason", ""),
                    last_exit_code=term.get("exitCode"),
                    last_terminated_at=parse_time(term.get("finishedAt")),
                    started_at=parse_time((state.get("running") or {}).get("startedAt")),
                    request_cpu_m=req_cpu,
                    request_memory=req_mem,
                    limit_cpu_m=lim_cpu,
                    limit_memory=lim_mem,
                )
            )
        pvcs = tuple(
            v["persistentVolumeClaim"]["claimName"]
            for v in spec.get("volumes") or []
            if v.get("persistentVolumeClaim")
        )
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            phase=st.get("phase", "Unknown"),
            node=spec.get("nodeName") or "",
            labels=meta.get("labels") or {},
            owner=owner,
            containers=tuple(containers),
            conditions=tuple(Condition.parse(c) for c in st.get("conditions") or []),
            created=parse_time(meta.get("creationTimestamp")),
            started=parse_time(st.get("startTime")),
            pvc_names=pvcs,
            reason=st.get("reason") or "",
            terminating=bool(meta.get("deletionTimestamp")),
        )


@dataclass(frozen=True)
class Deployment:
    namespace: str
    name: str
    uid: str
    replicas: int
    ready_replicas: int
    available_replicas: int
    updated_replicas: int
    revision: int
    selector: dict
    conditions: tuple[Condition, ...]
    labels: dict
    annotations: dict
    generation: int
    observed_generation: int
    created: datetime | None
    # The pod template's resources per container, in millicores and bytes:
    # {"web": {"requests": {"cpu": 250, "memory": 268435456}, "limits": {"memory": ...}}}
    resources: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, o: dict) -> "Deployment":
        meta, spec, st = o["metadata"], o.get("spec", {}), o.get("status", {})
        ann = meta.get("annotations") or {}
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            replicas=int(spec.get("replicas", 1)),
            ready_replicas=int(st.get("readyReplicas", 0)),
            available_replicas=int(st.get("availableReplicas", 0)),
            updated_replicas=int(st.get("updatedReplicas", 0)),
            revision=int(ann.get("deployment.kubernetes.io/revision", 0)),
            selector=spec.get("selector") or {},
            conditions=tuple(Condition.parse(c) for c in st.get("conditions") or []),
            labels=meta.get("labels") or {},
            annotations=ann,
            generation=int(meta.get("generation", 0)),
            observed_generation=int(st.get("observedGeneration", 0)),
            created=parse_time(meta.get("creationTimestamp")),
            resources=_template_resources(spec.get("template") or {}),
        )


def _template_resources(template: dict) -> dict:
    out = {}
    for c in (template.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        parts = {}
        for part in ("requests", "limits"):
            cpu, mem = _resources(res.get(part))
            parts[part] = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
        out[c.get("name", "")] = parts
    return out


@dataclass(frozen=True)
class ReplicaSet:
    namespace: str
    name: str
    uid: str
    revision: int
    replicas: int
    ready_replicas: int
    owner: Owner | None
    template: dict
    created: datetime | None

    @classmethod
    def parse(cls, o: dict) -> "ReplicaSet":
        meta, spec, st = o["metadata"], o.get("spec", {}), o.get("status", {})
        refs = meta.get("ownerReferences") or []
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            revision=int(
                (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)
            ),
            replicas=int(spec.get("replicas", 0)),
            ready_replicas=int(st.get("readyReplicas", 0)),
            owner=Owner(refs[0]["kind"], refs[0]["name"], refs[0].get("uid", "")) if refs else None,
            template=spec.get("template") or {},
            created=parse_time(meta.get("creationTimestamp")),
        )


@dataclass(frozen=True)
class Event:
    namespace: str
    name: str
    uid: str
    type: str
    reason: str
    message: str
    count: int
    object_kind: str
    object_name: str
    object_namespace: str
    object_uid: str
    first_seen: datetime | None
    last_seen: datetime | None
    source: str

    @classmethod
    def parse(cls, o: dict) -> "Event":
        inv = o.get("involvedObject") or o.get("regarding") or {}
        last = (
            o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
        )
        return cls(
            namespace=o["metadata"].get("namespace", ""),
            name=o["metadata"]["name"],
            uid=o["metadata"].get("uid", ""),
            type=o.get("type", "Normal"),
            reason=o.get("reason", ""),
            message=o.get("message") or o.get("note", ""),
            count=int(o.get("count") or 1),
            object_kind=inv.get("kind", ""),
            object_name=inv.get("name", ""),
            object_namespace=inv.get("namespace", ""),
            object_uid=inv.get("uid", ""),
            first_seen=parse_time(o.get("firstTimestamp") or last),
            last_seen=parse_time(last),
            source=(o.get("source") or {}).get("component", "") or o.get("reportingComponent", ""),
        )


@dataclass(frozen=True)
class PodDisruptionBudget:
    namespace: str
    name: str
    selector: dict
    min_available: str | int | None
    max_unavailable: str | int | None
    disruptions_allowed: int
    current_healthy: int
    desired_healthy: int
    expected_pods: int

    @classmethod
    def parse(cls, o: dict) -> "PodDisruptionBudget":
        spec, st = o.get("spec", {}), o.get("status", {})
        return cls(
            o["metadata"]["namespace"],
            o["metadata"]["name"],
            spec.get("selector") or {},
            spec.get("minAvailable"),
            spec.get("maxUnavailable"),
            int(st.get("disruptionsAllowed", 0)),
            int(st.get("currentHealthy", 0)),
            int(st.get("desiredHealthy", 0)),
            int(st.get("expectedPods", 0)),
        )


@dataclass(frozen=True)
class PersistentVolumeClaim:
    namespace: str
    name: str
    phase: str
    storage_class: str
    requested_bytes: int | None
    mounted_by: tuple[str, ...]  # pod names that mount it

    @property
    def mounted(self) -> bool:
        return bool(self.mounted_by)


@dataclass(frozen=True)
class HorizontalPodAutoscaler:
    namespace: str
    name: str
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    target_cpu_utilization: int | None
    current_cpu_utilization: int | None
    scaling_limited: bool
    metrics: tuple[dict, ...] = ()  # spec.metrics as served (autoscaling/v2)

    @classmethod
    def parse(cls, o: dict) -> "HorizontalPodAutoscaler":
        spec, st = o.get("spec", {}), o.get("status", {})
        target = next(
            (
                m["resource"]["target"].get("averageUtilization")
                for m in spec.get("metrics") or []
                if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
            ),
            None,
        )
        current = next(
            (
                m["resource"]["current"].get("averageUtilization")
                for m in st.get("currentMetrics") or []
                if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
            ),
            None,
        )
        limited = any(
            c.get("type") == "ScalingLimited" and c.get("status") == "True"
            for c in st.get("conditions") or []
        )
        ref = spec.get("scaleTargetRef", {})
        return cls(
            o["metadata"]["namespace"],
            o["metadata"]["name"],
            ref.get("kind", ""),
            ref.get("name", ""),
            int(spec.get("minReplicas", 1)),
            int(spec.get("maxReplicas", 1)),
            int(st.get("currentReplicas", 0)),
            int(st.get("desiredReplicas", 0)),
            target,
            current,
            limited,
            tuple(spec.get("metrics") or ()),
        )


@dataclass(frozen=True)
class Job:
    namespace: str
    name: str
    owner: str  # the CronJob that made it, if any
    active: int
    succeeded: int
    failed: int  # pods that failed
    backoff_limit: int
    failed_reason: str  # the Failed condition's reason (BackoffLimitExceeded, ...); "" if none
    failed_message: str
    failed_at: datetime | None
    started_at: datetime | None
    image: str

    @classmethod
    def parse(cls, o: dict) -> "Job":
        meta, spec, st = o["metadata"], o.get("spec", {}), o.get("status", {})
        failed = next(
            (
                c
                for c in st.get("conditions") or []
                if c.get("type") == "Failed" and c.get("status") == "True"
            ),
            {},
        )
        containers = spec.get("template", {}).get("spec", {}).get("containers") or [{}]
        return cls(
            meta["namespace"],
            meta["name"],
            next((r["name"] for r in meta.get("ownerReferences") or [] if r.get("controller")), ""),
            int(st.get("active", 0)),
            int(st.get("succeeded", 0)),
            int(st.get("failed", 0)),
            int(spec.get("backoffLimit", 6)),
            failed.get("reason", ""),
            failed.get("message", ""),
            parse_time(failed.get("lastTransitionTime")),
            parse_time(st.get("startTime")),
            containers[0].get("image", ""),
        )


@dataclass(frozen=True)
class NodeUsage:
    name: str
    cpu_m: float
    memory: int
    timestamp: datetime | None


@dataclass(frozen=True)
class ContainerUsage:
    namespace: str
    pod: str
    container: str
    cpu_m: float
    memory: int
    timestamp: datetime | None
