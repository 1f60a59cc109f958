"""Containers on nodes: start, readiness, crashes, OOM kills and back-off, as the kubelet does,
plus the usage model (CPU and memory as pure functions of time, so nothing runs per tick)."""

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..quantity import cpu_millis, memory_bytes

BACKOFF_MAX = 300  # seconds, as the kubelet caps CrashLoopBackOff
BACKOFF_RESET = 600  # a container that ran this long starts its back-off from zero again
CRASH_AFTER = 8  # seconds a broken image runs before it exits
FAIL_AFTER = 5  # seconds a job pod's `failing` image runs before it exits with code 1
RUN_SECONDS = 10  # seconds any other job pod's work takes, unless its pod says otherwise
RUN_SECONDS_ANNOTATION = "sandbox.zerotouch.dev/run-seconds"


@dataclass
class ContainerRt:
    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: datetime | None = None
    restarts: int = 0
    backoff: int = 0
    ready: bool = False
    last_term: dict | None = None  # lastState.terminated: the run before a restart
    term: dict | None = None  # state.terminated: it exited and will not restart
    gen: int = 0  # bumped on every transition; stale timers carry an older gen
    runs: list = field(default_factory=list)  # logs.Run: this start and the one before


@dataclass
class PodRt:
    uid: str
    namespace: str
    name: str
    workload: str  # "namespace/deployment" ("" for bare pods)
    node: str = ""
    containers: dict[str, ContainerRt] = field(default_factory=dict)
    scheduled_at: datetime | None = None
    failing_until: datetime | None = None  # PodChaos pod-failure


def backoff_seconds(count: int, cap: int = BACKOFF_MAX) -> int:
    return 0 if count <= 0 else min(cap, 10 * 2 ** (count - 1))


def _tagged(image: str, word: str) -> bool:
    return word in image.rsplit("/", 1)[-1]


def image_broken(image: str) -> bool:
    return _tagged(image, "broken")


def image_failing(image: str) -> bool:
    return _tagged(image, "failing")


def run_seconds(image: str, annotations: dict) -> float:
    """How long a job pod's container works before it exits."""
    if image_failing(image):
        return FAIL_AFTER
    try:
        return max(0.0, float(annotations.get(RUN_SECONDS_ANNOTATION, RUN_SECONDS)))
    except (TypeError, ValueError):
        return RUN_SECONDS


def image_unpullable(image: str) -> bool:
    return "doesnotexist" in image


def noise(*keys: object) -> float:
    """Deterministic noise in about [-1, 1], roughly normal: the same for the same keys."""
    digest = hashlib.blake2b("|".join(map(str, keys)).encode(), digest_size=8).digest()
    u = [b / 255 for b in digest[:4]]
    return (sum(u) - 2) / 0.58  # sum of 4 uniforms, scaled to unit-ish variance, clipped later


@dataclass
class Profile:
    """What a workload's containers demand. Faults change it while the sandbox runs."""

    cpu_m: float
    mem_bytes: float
    daily_amplitude: float
    noise: float
    leak_bytes_per_s: float
    startup_seconds: int
    cpu_factor: float = 1.0  # cpu_saturation ramps it; noisy_neighbour sets it
    ramp_from: datetime | None = None
    ramp_seconds: float = 0.0
    ramp_to: float = 1.0
    crash_on_start: bool = False
    leak_since: datetime | None = None  # a leak injected later grows from then, not before

    @classmethod
    def from_usage(cls, usage) -> "Profile":
        return cls(
            cpu_m=cpu_millis(usage.cpu),
            mem_bytes=memory_bytes(usage.memory),
            daily_amplitude=usage.daily_amplitude,
            noise=usage.noise,
            leak_bytes_per_s=memory_bytes(usage.leak_per_hour) / 3600,
            startup_seconds=usage.startup_seconds,
        )

    def factor(self, t: datetime) -> float:
        if self.ramp_from is None or t <= self.ramp_from:
            return self.cpu_factor
        done = min(1.0, (t - self.ramp_from).total_seconds() / max(self.ramp_seconds, 1))
        return self.cpu_factor + (self.ramp_to - self.cpu_factor) * done


def daily(t: datetime, amplitude: float) -> float:
    hour = t.hour + t.minute / 60 + t.second / 3600
    return 1 + amplitude * math.sin(2 * math.pi * (hour - 9) / 24)  # peaks mid-afternoon


def cpu_demand_m(profile: Profile, uid: str, t: datetime, extra: float = 0.0) -> float:
    minute = int(t.timestamp() // 60)
    n = max(-2.5, min(2.5, noise(uid, "cpu", minute)))
    return max(
        1.0,
        (profile.cpu_m * daily(t, profile.daily_amplitude) * (1 + profile.noise * n))
        * profile.factor(t)
        + extra,
    )


def memory_bytes_at(
    profile: Profile, uid: str, started: datetime, t: datetime, extra: float = 0.0
) -> float:
    minute = int(t.timestamp() // 60)
    n = max(-2.5, min(2.5, noise(uid, "mem", minute)))
    age = max(0.0, (t - started).total_seconds())
    warmup = min(1.0, 0.6 + age / 300)  # the working set grows for five minutes after start
    return (
        profile.mem_bytes * warmup * (1 + profile.noise * 0.25 * n)
        + profile.leak_bytes_per_s * _leaking(profile, started, t)
        + extra
    )


def _leaking(profile: Profile, started: datetime, t: datetime) -> float:
    """Seconds this container has been leaking by time t."""
    since = max(started, profile.leak_since) if profile.leak_since else started
    return max(0.0, (t - since).total_seconds())


def seconds_until_oom(
    profile: Profile, limit: int, started: datetime, now: datetime, extra: float = 0.0
) -> float | None:
    """When memory crosses the limit (None: it never does): while the working set warms up,
    if it alone outgrows the limit (a limit set below usage), else along a leak's trend."""
    if not limit:
        return None
    peak = profile.mem_bytes * (1 + profile.noise * 0.25)
    steady = peak + extra
    if steady >= limit:
        share = (limit - extra) / peak if peak else 0.0  # of the warmed-up working set
        age = max(0.0, (share - 0.6) * 300)  # memory_bytes_at warms from 60% over 300 s
        return max(1.0, age - (now - started).total_seconds())
    if profile.leak_bytes_per_s <= 0:
        return None
    crossing = (limit - steady) / profile.leak_bytes_per_s
    return max(1.0, crossing - _leaking(profile, started, now))


def container_status(c: ContainerRt, spec: dict, iso) -> dict:
    ran = c.state in ("running", "terminated") and c.started_at is not None
    out = {
        "name": c.name,
        "image": c.image,
        "imageID": f"{c.image}@sha256:{'0' * 64}" if ran else "",
        "ready": c.ready,
        "restartCount": c.restarts,
        "started": c.state == "running",
        "containerID": f"containerd://{c.name}-{c.restarts}" if c.started_at else None,
    }
    if c.state == "running":
        out["state"] = {"running": {"startedAt": iso(c.started_at)}}
    elif c.state == "waiting":
        out["state"] = {
            "waiting": {"reason": c.reason, **({"message": c.message} if c.message else {})}
        }
    elif c.state == "terminated":
        out["state"] = {"terminated": c.term}
    out["lastState"] = {"terminated": c.last_term} if c.last_term else {}
    return out


def ready_until(c: ContainerRt, now: datetime, profile: Profile) -> bool:
    return (
        c.state == "running"
        and c.started_at is not None
        and (now - c.started_at >= timedelta(seconds=profile.startup_seconds))
    )
