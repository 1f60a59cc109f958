"""What each simulated container writes to its log, stamped with the sandbox's clock.

Cheap by construction, like the rest of the simulation: a run (one start of a container) keeps
only the lines of its transitions — start-up, ready, the crash's error, the last lines before
an OOM kill, a job's end — in a bounded ring buffer. The steady lines between them are a pure
function of the run and the time, made only when someone reads the log: request lines sampled
one in SAMPLE at a rate that follows the workload's daily traffic, and warnings once the
working set nears the memory limit. Nothing runs per simulated step; the same seed gives the
same lines. A container keeps its run before the current one (`kubectl logs --previous`).
"""

import hashlib
import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random

from .kubelet import daily, image_broken, memory_bytes_at
from .traffic import BASE_LATENCY, RPS_PER_REPLICA

MAX_LINES = 1000  # a container's log holds its last 1,000 lines
SAMPLE = 100  # one request in SAMPLE is logged
WARN_SHARE = 0.8  # memory warnings from this share of the limit on
MINUTE = timedelta(minutes=1)
ROUTES = (
    ("GET", "/api/v1/items"),
    ("GET", "/api/v1/items/{id}"),
    ("GET", "/api/v1/cart"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{id}"),
)
ENV_KEYS = ("DATABASE_URL", "REDIS_URL", "PAYMENTS_API_KEY", "FEATURE_FLAGS_URL", "SMTP_HOST")
CONFIG_KEYS = ("database.url", "cache.host", "payments.endpoint", "auth.issuer", "queue.name")
MiB = 2**20


@dataclass
class Run:
    """One start of a container, up to its exit."""

    id: str  # the containerID its status shows ("containerd://<id>")
    started: datetime
    serves: bool  # a service (request lines while ready), not a job's work
    memory_limit: int = 0
    ready_at: datetime | None = None
    ended: datetime | None = None
    lines: deque = field(default_factory=lambda: deque(maxlen=MAX_LINES))

    def say(self, t: datetime, level: str, text: str) -> None:
        self.lines.append((t, _line(t, level, text)))


def _line(t: datetime, level: str, text: str) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z {level:<5} {text}"


def _pick(options: tuple[str, ...], *keys: object) -> str:
    digest = hashlib.blake2b("|".join(map(str, keys)).encode(), digest_size=4).digest()
    return options[int.from_bytes(digest) % len(options)]


def app_of(image: str) -> tuple[str, str]:
    """("web", "1.4.2") for "registry.local/shop/web:1.4.2"."""
    name, _, tag = image.rsplit("/", 1)[-1].partition(":")
    return name, tag or "latest"


# --- transitions (called by the kubelet) --------------------------------------------------------


def started(sb, rt, c, pod: dict, *, job: bool) -> Run:
    """A container started: a new run; the one before stays readable as --previous."""
    run = Run(
        id=f"{c.name}-{c.restarts}",
        started=sb.now,
        serves=not job,
        memory_limit=sb.container_limit(pod, c.name, "memory"),
    )
    c.runs = [*c.runs[-1:], run]
    app, version = app_of(c.image)
    again = f" (restart {c.restarts})" if c.restarts else ""
    run.say(sb.now, "INFO", f"starting {app} {version}{again} in pod {rt.name}, image {c.image}")
    if job:
        run.say(sb.now, "INFO", f"{app}: batch run started")
        return run
    if not _config_broken(pod):
        run.say(sb.now, "INFO", f"config loaded from /etc/{app}/config.yaml")
    ports = next(x.get("ports") or [] for x in pod["spec"]["containers"] if x["name"] == c.name)
    port = ports[0].get("containerPort", 8080) if ports else 8080
    run.say(sb.now, "INFO", f"listening on :{port}")
    return run


def ready(sb, c) -> None:
    run = c.runs[-1] if c.runs else None
    if run is not None and run.serves and run.ended is None and run.ready_at is None and c.ready:
        run.ready_at = sb.now
        run.say(sb.now, "INFO", "readiness probe passed: accepting traffic")


def crashed(sb, rt, c, pod: dict) -> None:
    """The process exits with an error: a broken image or config names what is missing (a
    container killed from outside, as by chaos, writes nothing: SIGKILL)."""
    run = _current(c)
    if run is None:
        return
    app, version = app_of(c.image)
    if rt.failing_until and rt.failing_until > sb.now:
        return
    if image_broken(c.image):
        key = _pick(ENV_KEYS, rt.workload, c.image)
        run.say(
            sb.now, "ERROR", f'startup failed: required environment variable "{key}" is not set'
        )
    elif _config_broken(pod) and sb.profile_for(rt).crash_on_start:
        key = _pick(CONFIG_KEYS, rt.workload)
        config = (pod["metadata"].get("annotations") or {}).get(CONFIG_ANNOTATION, "")
        run.say(
            sb.now,
            "ERROR",
            f'config: required key "{key}" is missing from /etc/{app}/config.yaml '
            f'(config "{config}")',
        )
    else:
        return
    run.say(sb.now, "FATAL", f"{app} {version} exiting with code 1")


def oom_killed(sb, rt, c) -> None:
    """The last lines before the kernel's OOM kill."""
    run = _current(c)
    if run is None:
        return
    limit = run.memory_limit
    used = limit * 0.995 if limit else 0
    run.say(
        sb.now - timedelta(seconds=1),
        "WARN",
        f"memory at {_mib(used)} of the {_mib(limit)} limit (99%): garbage collection frees "
        "nothing",
    )
    run.say(sb.now, "ERROR", f"out of memory: cannot allocate 8 MiB ({_mib(used)} in use)")


def done(sb, c, code: int) -> None:
    """A job's work ended."""
    run = _current(c)
    if run is None:
        return
    app, _ = app_of(c.image)
    seconds = (sb.now - run.started).total_seconds()
    if code:
        run.say(
            sb.now,
            "ERROR",
            f'{app}: export failed: upstream "{app}-db:5432" refused the connection',
        )
        run.say(sb.now, "FATAL", f"{app} exiting with code {code}")
    else:
        run.say(sb.now, "INFO", f"{app}: done in {seconds:.0f}s")


def ended(sb, c) -> None:
    run = _current(c)
    if run is not None:
        run.ended = sb.now


def _current(c) -> Run | None:
    run = c.runs[-1] if c.runs else None
    return run if run is not None and run.ended is None else None


CONFIG_ANNOTATION = "sandbox.zerotouch.dev/config"


def _config_broken(pod: dict) -> bool:
    return CONFIG_ANNOTATION in (pod["metadata"].get("annotations") or {})


def _mib(n: float) -> str:
    return f"{n / MiB:.0f}Mi"


# --- reading ------------------------------------------------------------------------------------


def run_named(c, run_id: str) -> Run | None:
    return next((r for r in c.runs if r.id == run_id), None)


def read(
    sb, rt, run: Run, *, since: datetime | None = None, tail: int | None = None
) -> list[tuple[datetime, str]]:
    """The run's lines from `since` on, the last `tail` of them (at most MAX_LINES), oldest
    first. Steady lines are made minute by minute backwards from the end, only as many as
    needed."""
    want = MAX_LINES if tail is None else min(tail, MAX_LINES)
    end = run.ended or sb.now
    floor = max(run.started, since) if since else run.started
    if want <= 0 or floor > end:
        return []
    chunks, count = [], 0
    minute = end.replace(second=0, microsecond=0)
    lowest = floor
    while minute + MINUTE > floor and count < want:
        chunk = [x for x in _minute(sb, rt, run, minute) if floor <= x[0] <= end]
        chunks.append(chunk)
        count += len(chunk)
        lowest = max(floor, minute)
        minute -= MINUTE
    steady = [x for chunk in reversed(chunks) for x in chunk]
    events = [x for x in run.lines if lowest <= x[0] <= end]
    merged = list(heapq.merge(events, steady, key=lambda x: x[0]))
    return merged[-want:]


def _minute(sb, rt, run: Run, minute: datetime) -> list[tuple[datetime, str]]:
    """The steady lines of one minute of a run: the same every time they are read."""
    rng = Random(f"{rt.uid}|{run.id}|{int(minute.timestamp())}")  # nosec B311: simulation
    profile = sb.profile_for(rt)
    out = []
    if run.serves and run.ready_at is not None:
        rate = RPS_PER_REPLICA * daily(minute, profile.daily_amplitude)
        n = max(0, round(rate * 60 / SAMPLE + rng.uniform(-1.5, 1.5)))
        slow = max(1.0, profile.factor(minute))
        for offset in sorted(rng.random() * 60 for _ in range(n)):
            t = minute + timedelta(seconds=offset)
            if t >= run.ready_at:
                out.append((t, _request(rng, t, slow)))
    if run.memory_limit:
        t = minute + timedelta(seconds=30)
        used = memory_bytes_at(profile, rt.uid, run.started, t, sb.mem_extra.get(rt.uid, 0.0))
        if used >= WARN_SHARE * run.memory_limit:
            share = min(used / run.memory_limit, 0.99)
            text = (
                f"memory at {_mib(used)} of the {_mib(run.memory_limit)} limit ({share:.0%}); "
                "the heap keeps growing"
            )
            out.append((t, _line(t, "WARN", text)))
            out.sort(key=lambda x: x[0])
    return out


def _request(rng: Random, t: datetime, slow: float) -> str:
    method, path = rng.choice(ROUTES)
    path = path.replace("{id}", str(rng.randrange(1000, 99999)))
    status = 201 if method == "POST" else 200
    if rng.random() < 0.02:
        status = 404
    ms = rng.expovariate(1 / (BASE_LATENCY * 1000 * slow))
    return _line(t, "INFO", f"{method} {path} {status} {ms:.0f}ms (sampled 1/{SAMPLE})")
