"""Synthetic server metrics shaped like the real thing, with labelled anomalies.

The recipe (everything drawn from `numpy.random.default_rng(seed)`, so a seed is a dataset):

Sampling: one row every 5 minutes (288 rows a day); row 0 is midnight on a random weekday.

Metrics come in services of eight, cycled until `n_metrics` is reached (a ninth metric starts a
second service with fresh parameters):
  0 requests/s   base 200-2,000 x daily curve x weekly factor x exp(AR(1) noise)
  1 cpu cores    idle 0.2-0.5 + 1-3 cores per unit of load, Student-t (df 3) noise
  2 latency ms   20-80 ms x (1 + 0.6 utilisation^3), heavy-tailed multiplicative noise
  3 memory bytes 0.5-2 GB + load-driven part + a slow climb that a deploy or a full GC resets
  4 errors/5 min Poisson(requests x 300 s x 5e-6): small counts, mostly 0 to 5
  5 net bytes/s  requests x 20-60 kB x lognormal noise
  6 disk IOPS    independent of load: a base rate and heavy-tailed (Pareto) benign bursts
  7 replicas     constant (a column the detector must survive, not flag)
The daily curve is a raised cosine peaking at a random hour between 13:00 and 16:00 plus a
second harmonic (a lunch dip), amplitude 40-80% of the base. Saturday and Sunday run at
75-90% of weekday load. AR(1) load noise: phi 0.9, innovation 0.04 (Student-t, df 4).

Benign events (not labelled, in training and test alike): each service deploys on about 70% of
weekdays at a random working hour; for 3-6 rows CPU rises 25%, latency 20%, errors double, and
memory returns to its base. Scrape gaps: 0.1% of cells are NaN, and 1 row in 2,000 is NaN
entirely.

Injected anomalies, only after `train_rows` (so the training prefix is anomaly-free), at random
non-overlapping places at least 12 rows apart, `events_per_kind` of each kind. Each event hits
one root metric (never a constant one); spikes and level shifts also hit the root's partner in
the same service (requests<->net, cpu<->latency) at half the size, half of the time. Sizes are in
units of the metric's noise around its daily pattern, `sigma`: the robust spread (1.4826 x MAD)
of x[t] - x[t - 288] over the training prefix, divided by sqrt 2:
  spike              1-3 rows, +4 to +8 sigma (a quarter of them downward)
  level_shift        24-96 rows, +-2.5 to +5 sigma
  drift              48-144 rows, a ramp from 0 to +4-8 sigma (a leak until a restart)
  variance           36-96 rows, noise x 2-4 (Gaussian noise of sigma x sqrt(f^2 - 1) added)
  stuck              36-96 rows, the value frozen at the event's first row (exporter stuck)
  seasonality_break  96-192 rows, the metric's clean signal shifted 6-12 hours in phase (a
                     batch job or a timezone change moves the daily peak)
Every row inside an event is labelled anomalous; `events` lists them as (start, end, kind,
metrics) with `end` exclusive.
"""

from dataclasses import dataclass

import numpy as np

ROWS_PER_DAY = 288
SERVICE = ("requests", "cpu", "latency", "memory", "errors", "net", "disk", "replicas")
PARTNER = {0: 5, 5: 0, 1: 2, 2: 1}
KINDS = ("spike", "level_shift", "drift", "variance", "stuck", "seasonality_break")
DURATION = {
    "spike": (1, 3),
    "level_shift": (24, 96),
    "drift": (48, 144),
    "variance": (36, 96),
    "stuck": (36, 96),
    "seasonality_break": (96, 192),
}
SEASONAL = (0, 1, 2, 5)  # roots a seasonality break can hit: the load-driven metrics
GAP = 12


@dataclass(frozen=True)
class Event:
    start: int
    end: int  # exclusive
    kind: str
    metrics: tuple[int, ...]  # the root metric first


def metric_names(n_metrics: int) -> list[str]:
    return [f"{SERVICE[j % 8]}_{j // 8}" for j in range(n_metrics)]


def make_dataset(
    seed: int,
    n_rows: int = 28 * ROWS_PER_DAY,
    n_metrics: int = 8,
    *,
    train_rows: int | None = None,
    events_per_kind: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[Event]]:
    """(matrix (n_rows, n_metrics), labels (n_rows,) bool, events) for one seed.

    Rows before `train_rows` (default: half) carry no injected anomaly.
    """
    rng = np.random.default_rng(seed)
    train_rows = n_rows // 2 if train_rows is None else train_rows
    clean = _clean(rng, n_rows, n_metrics)
    matrix = clean.copy()
    sigma = _noise_sigma(clean[:train_rows])
    events = _place_events(rng, n_rows, n_metrics, train_rows, events_per_kind)
    labels = np.zeros(n_rows, dtype=bool)
    for event in events:
        _inject(rng, matrix, clean, sigma, event)
        labels[event.start : event.end] = True
    _gaps(rng, matrix)
    return matrix, labels, events


def _clean(rng: np.random.Generator, n_rows: int, n_metrics: int) -> np.ndarray:
    t = np.arange(n_rows)
    first_day = int(rng.integers(0, 7))
    weekday = (t // ROWS_PER_DAY + first_day) % 7
    columns = []
    for _service_index in range((n_metrics + 7) // 8):
        columns.extend(_service(rng, t, weekday))
    return np.column_stack(columns[:n_metrics])


def _service(rng: np.random.Generator, t: np.ndarray, weekday: np.ndarray) -> list[np.ndarray]:
    n = len(t)
    hour = (t % ROWS_PER_DAY) / ROWS_PER_DAY * 24
    peak = rng.uniform(13, 16)
    daily = 0.5 + 0.5 * np.cos(2 * np.pi * (hour - peak) / 24)
    daily += 0.15 * np.cos(4 * np.pi * (hour - 12.5) / 24)
    weekend = np.where(weekday >= 5, rng.uniform(0.75, 0.9), 1.0)
    load = (1 + rng.uniform(0.4, 0.8) * (daily - daily.mean())) * weekend
    load = load * np.exp(_ar1(rng, n, 0.9, 0.04))
    deploy = _deploys(rng, t, weekday)
    base = rng.uniform(200, 2000)
    requests = base * load
    cores = rng.uniform(1, 3)
    cpu = rng.uniform(0.2, 0.5) + cores * load
    cpu = cpu * (1 + 0.25 * deploy) + 0.03 * cores * rng.standard_t(3, n)
    util = np.clip(cpu / (cores * 2.2), 0, 1.5)
    latency = rng.uniform(20, 80) * (1 + 0.6 * util**3) * (1 + 0.2 * deploy)
    latency = latency * np.exp(0.05 * np.clip(rng.standard_t(3, n), -20, 20))
    memory = _memory(rng, load, deploy)
    errors = rng.poisson(requests * 300 * 5e-6 * (1 + deploy)).astype(float)
    net = requests * rng.uniform(20e3, 60e3) * rng.lognormal(0, 0.05, n)
    disk = rng.uniform(50, 300) * (1 + 0.1 * daily) + (rng.pareto(2.5, n) * 10)
    replicas = np.full(n, float(rng.integers(2, 6)))
    return [requests, cpu, latency, memory, errors, net, disk, replicas]


def _ar1(rng: np.random.Generator, n: int, phi: float, scale: float) -> np.ndarray:
    shocks = scale * np.clip(rng.standard_t(4, n), -10, 10) * np.sqrt(1 - phi**2)
    out = np.empty(n)
    out[0] = shocks[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def _deploys(rng: np.random.Generator, t: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """1.0 during a deploy's rollout rows, else 0: weekdays, working hours, ~70% of days."""
    bump = np.zeros(len(t))
    for day in range(len(t) // ROWS_PER_DAY + 1):
        start = day * ROWS_PER_DAY + int(rng.integers(9 * 12, 17 * 12))
        length = int(rng.integers(3, 7))
        if start < len(t) and weekday[start] < 5 and rng.random() < 0.7:
            bump[start : start + length] = 1.0
    return bump


def _memory(rng: np.random.Generator, load: np.ndarray, deploy: np.ndarray) -> np.ndarray:
    """Heap-like: a base, a load-driven part and a slow climb that a deploy or a full GC (when
    the climb reaches 60-120 MB) resets."""
    base = rng.uniform(0.5e9, 2e9)
    climb = np.zeros(len(load))
    limit = rng.uniform(60e6, 120e6)
    for i in range(1, len(load)):
        reset = (deploy[i] and not deploy[i - 1]) or climb[i - 1] >= limit
        climb[i] = 0.0 if reset else climb[i - 1] + 2e5
    noise = rng.normal(0, 0.01 * base, len(load))
    return base + 0.15e9 * load + climb + noise


def _noise_sigma(train: np.ndarray) -> np.ndarray:
    """Noise around the daily pattern: robust spread of x[t] - x[t - 1 day], over sqrt 2 (of
    x[t] - x[t - 1] if the prefix is shorter than two days)."""
    lag = ROWS_PER_DAY if len(train) >= 2 * ROWS_PER_DAY else 1
    if len(train) <= lag:
        return np.ones(train.shape[1])
    change = train[lag:] - train[:-lag]
    sigma = 1.4826 * np.median(np.abs(change), axis=0) / np.sqrt(2)
    fallback = np.std(change, axis=0) / np.sqrt(2)
    return np.where(sigma > 0, sigma, np.maximum(fallback, 1e-9))


def _roots(n_metrics: int, kind: str) -> list[int]:
    allowed = SEASONAL if kind == "seasonality_break" else tuple(range(7))
    return [j for j in range(n_metrics) if j % 8 in allowed]


def _place_events(
    rng: np.random.Generator, n_rows: int, n_metrics: int, train_rows: int, per_kind: int
) -> list[Event]:
    wanted = [kind for kind in KINDS for _ in range(per_kind) if _roots(n_metrics, kind)]
    rng.shuffle(wanted)
    events: list[Event] = []
    taken = np.zeros(n_rows, dtype=bool)
    for kind in wanted:
        low, high = DURATION[kind]
        for _attempt in range(200):
            length = int(rng.integers(low, high + 1))
            if n_rows - length - GAP <= train_rows + GAP:
                break  # no room after the training prefix
            start = int(rng.integers(train_rows + GAP, n_rows - length - GAP))
            if not taken[start - GAP : start + length + GAP].any():
                taken[start : start + length] = True
                events.append(_event(rng, n_metrics, kind, start, start + length))
                break
    return sorted(events, key=lambda e: e.start)


def _event(rng: np.random.Generator, n_metrics: int, kind: str, start: int, end: int) -> Event:
    root = int(rng.choice(_roots(n_metrics, kind)))
    partner = root - root % 8 + PARTNER.get(root % 8, -99)
    spread = kind in ("spike", "level_shift") and 0 <= partner < n_metrics and rng.random() < 0.5
    return Event(start, end, kind, (root, partner) if spread else (root,))


def _inject(
    rng: np.random.Generator,
    matrix: np.ndarray,
    clean: np.ndarray,
    sigma: np.ndarray,
    event: Event,
) -> None:
    rows = slice(event.start, event.end)
    n = event.end - event.start
    for rank, j in enumerate(event.metrics):
        share = 1.0 if rank == 0 else 0.5
        s = sigma[j] * share
        if event.kind == "spike":
            sign = -1.0 if rng.random() < 0.25 else 1.0
            matrix[rows, j] += sign * rng.uniform(4, 8) * s
        elif event.kind == "level_shift":
            matrix[rows, j] += rng.choice([-1.0, 1.0]) * rng.uniform(2.5, 5) * s
        elif event.kind == "drift":
            matrix[rows, j] += np.linspace(0, rng.uniform(4, 8) * s, n)
        elif event.kind == "variance":
            matrix[rows, j] += rng.normal(0, s * np.sqrt(rng.uniform(2, 4) ** 2 - 1), n)
        elif event.kind == "stuck":
            matrix[rows, j] = matrix[event.start, j]
        else:
            shift = int(rng.integers(72, 145))
            matrix[rows, j] = clean[event.start - shift : event.end - shift, j]
    np.maximum(matrix[rows], 0.0, out=matrix[rows])


def _gaps(rng: np.random.Generator, matrix: np.ndarray) -> None:
    cells = rng.random(matrix.shape) < 0.001
    matrix[cells] = np.nan
    matrix[rng.random(len(matrix)) < 0.0005] = np.nan
