"""Costs: waste found, recommendations replayed against later usage, the capacity forecast's
error, and planning time at scale.

1. The `overprovisioned` sandbox scenario (waste planted on purpose: web, search and an idle
   reporter request far more than they use; a worker uses more than it requests) runs 14
   simulated days in this process, sampled every 60 s as metrics-server reports usage.
   Rightsizing sees the first 7 days; its recommendations are replayed on the last 7:
   - planted waste: per workload, the monthly cost of its requests minus the cost of its mean
     usage over the whole run (what over-requesting wastes); found: the positive savings of
     the recommendations. Target: >= 30% of the planted waste found.
   - replay: a recommendation whose new memory limit the later usage exceeds would have been
     OOM-killed; one whose CPU limit it exceeds would have been throttled. Target: zero OOMs.
2. The capacity forecast (Holt-Winters) on the run's hourly cluster CPU and memory usage:
   MAE, MAPE and interval coverage on the last 20%.
3. Planning 2,000 workloads x 14 days of 30-s samples (synthetic arrays with daily cycles,
   start-up spikes and OOM kills): seconds and peak memory of the pure rightsizing, in memory.
4. The same end to end from PostgreSQL, as the plan page and /ai/optimize run it: 14 days of
   30-s samples of 2,000 single-container Deployments, every complete hour rolled up by the
   product's own `rollups.aggregate` into the rows a 14-day read takes: day rows for the whole
   UTC days (each day aggregated at once, which gives what merging its 24 hours gives, in a
   fraction of the time) and hour rows around them; the last hour (plus the look-back) kept as
   raw samples; then `plan_build`, which also runs the 7-day idle check. Target: < 10 s. Also:
   the time to roll up one hour of 2,000 pods, and cost allocation over the same 14 days
   (`allocation_for`: the cost rollups, billed by the product's own `allocation.bill` per
   hour, day rows summed as `billing.compact_day` sums them, and the raw last hour).

Run: .venv/bin/python -m benchmarks.costs
"""

import os
import resource
import time

import numpy as np
import pandas as pd

DAYS, STEP = 14, 60  # simulated days, seconds between samples
TRAIN_DAYS = 7
PRICES_NOTE = "default on-demand prices (GCP us-central1 N2)"


def _simulate() -> tuple[dict, dict]:
    """Per (namespace, workload, container): timestamps, cpu, memory; and the pod specs."""
    from apps.clusters.sandbox import scenario
    from apps.clusters.sandbox.metrics import container_usage
    from apps.clusters.sandbox.sim import Sandbox

    sb = Sandbox(scenario.load("overprovisioned"), seed=7)
    sb.advance(60)
    series: dict[tuple, list[tuple[float, float, float]]] = {}
    specs: dict[tuple, dict] = {}
    for _ in range(DAYS * 86400 // STEP):
        sb.advance(STEP)
        t = sb.now.timestamp()
        for pod in sb.store.list("pods"):
            meta = pod["metadata"]
            workload = meta.get("labels", {}).get("app", meta["name"])
            for name, cpu, mem in container_usage(sb, pod):
                key = (meta["namespace"], workload, name)
                series.setdefault(key, []).append((t, cpu, mem))
                specs.setdefault(key, {"pods": set(), "spec": pod["spec"]})["pods"].add(
                    meta["name"]
                )
    return series, specs


def _usage(key, rows, spec, until: float | None = None):
    from apps.clusters.quantity import cpu_millis, memory_bytes
    from apps.costs.rightsizing import ContainerUsage, Resources

    arr = np.array(rows)
    if until is not None:
        arr = arr[arr[:, 0] < until]
    c = next(c for c in spec["spec"]["containers"] if c["name"] == key[2])
    res = c.get("resources", {})

    def get(kind, what, parse):
        value = res.get(kind, {}).get(what)
        return parse(value) if value is not None else None

    current = Resources(
        get("requests", "cpu", cpu_millis),
        get("limits", "cpu", cpu_millis),
        get("requests", "memory", memory_bytes),
        get("limits", "memory", memory_bytes),
    )
    replicas = len(spec["pods"])
    return ContainerUsage(*key, arr[:, 0], arr[:, 1], arr[:, 2], current, replicas=replicas)


def waste_and_replay() -> None:
    from apps.costs.prices import DEFAULT_ON_DEMAND as prices
    from apps.costs.rightsizing import NotEnoughHistory, recommend, replay

    t0 = time.perf_counter()
    series, specs = _simulate()
    sim_s = time.perf_counter() - t0
    start = min(r[0][0] for r in series.values())
    cut = start + TRAIN_DAYS * 86400
    planted = found = spend = 0.0
    ooms = throttled = recs = 0
    rows = []
    for key, samples in sorted(series.items()):
        full = _usage(key, samples, specs[key])
        req, arr = full.current, np.array(samples)
        requested = (req.cpu_request_millis or 0, req.memory_request_bytes or 0)
        cost_req = full.replicas * prices.compute_month(*requested)
        cost_use = full.replicas * prices.compute_month(arr[:, 1].mean(), arr[:, 2].mean())
        spend += cost_req
        planted += max(0.0, cost_req - cost_use)
        rec = recommend(_usage(key, samples, specs[key], until=cut), prices=prices)
        if isinstance(rec, NotEnoughHistory):
            rows.append(f"  {key[0]}/{key[1]}: {rec.message}")
            continue
        recs += 1
        later = arr[arr[:, 0] >= cut]
        risk = replay(rec, later[:, 1], later[:, 2])
        ooms += risk.memory > 0
        throttled += bool(risk.cpu_limit)
        found += max(0.0, rec.savings_per_month)
        rows.append(
            f"  {key[0]}/{key[1]}: cpu {req.cpu_request} -> {rec.recommended.cpu_request}, "
            f"memory {req.memory_limit or req.memory_request} -> {rec.recommended.memory_limit}"
            f", ${rec.savings_per_month:+.2f}/month; later usage above the new memory limit "
            f"{risk.memory:.2%}, above the CPU limit "
            f"{'—' if risk.cpu_limit is None else f'{risk.cpu_limit:.2%}'}"
        )
    print(
        f"simulated {DAYS} days of `overprovisioned` at {STEP} s in {sim_s:.1f} s; "
        f"rightsized on the first {TRAIN_DAYS}, replayed on the last {DAYS - TRAIN_DAYS}; "
        f"{PRICES_NOTE}"
    )
    print("\n".join(rows))
    print(
        f"spend (requests) ${spend:,.2f}/month; planted waste ${planted:,.2f}/month; found "
        f"${found:,.2f}/month = {found / planted:.0%} of the planted waste (target >= 30%), "
        f"{found / spend:.0%} of spend"
    )
    print(
        f"replay: {ooms} of {recs} recommendations would have been OOM-killed (target 0); "
        f"{throttled} would have been throttled at a CPU limit"
    )
    _forecast(series)


def _forecast(series: dict) -> None:
    from apps.costs.forecast import backtest

    frames = [pd.DataFrame(rows, columns=["t", "cpu", "mem"]) for rows in series.values()]
    total = pd.concat(frames).groupby("t").sum()
    total.index = pd.to_datetime(total.index, unit="s", utc=True)
    hourly = total.resample("1h").mean()
    for what, col, unit, scale in (("CPU", "cpu", "m", 1), ("memory", "mem", "MiB", 2**20)):
        t0 = time.perf_counter()
        bt = backtest(hourly[col] / scale, holdout=0.2)
        print(
            f"forecast of cluster {what} usage ({bt.model}; {bt.train_points} hourly points "
            f"fitted, {bt.test_points} held out): MAE {bt.mae:.1f} {unit}, MAPE "
            f"{bt.mape_pct:.1f}%, inside the 80% band {bt.coverage_80:.0%}, inside the 95% "
            f"band {bt.coverage_95:.0%} ({time.perf_counter() - t0:.2f} s)"
        )


def planning_at_scale(workloads: int = 2000, days: int = 14, step: int = 30) -> None:
    from apps.costs.prices import DEFAULT_ON_DEMAND as prices
    from apps.costs.rightsizing import ContainerUsage, OomKill, Resources, recommend_many

    n = days * 86400 // step
    rng = np.random.default_rng(7)
    ts = np.arange(n, dtype=np.float64) * step + 1.7e9
    cycle = 1 + 0.4 * np.sin(ts / 86400 * 2 * np.pi)
    containers = []
    for i in range(workloads):
        base_cpu, base_mem = rng.uniform(20, 800), rng.uniform(64, 2048) * 2**20
        cpu = base_cpu * cycle * rng.lognormal(0, 0.1, n)
        mem = base_mem * (1 + 0.05 * rng.standard_normal(n))
        starts = [float(ts[0]), float(ts[n // 2])]
        ooms = [OomKill(float(ts[n // 3]), int(base_mem))] if i % 50 == 0 else []
        containers.append(
            ContainerUsage(
                "ns",
                f"w{i}",
                "app",
                ts,
                cpu,
                mem,
                Resources(int(base_cpu * 2), None, int(base_mem * 2), int(base_mem * 2)),
                replicas=3,
                oom_kills=ooms,
                starts=starts,
            )
        )
    t0 = time.perf_counter()
    out = recommend_many(containers, prices=prices)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"planning {workloads:,} workloads x {days} days of {step}-s samples "
        f"({n:,} each): {took:.1f} s (target < 10 s), {len(out):,} recommendations; "
        f"peak RSS of this process {peak:,.0f} MB (the samples alone are "
        f"{workloads * n * 3 * 8 / 2**30:.1f} GiB as float64)"
    )


def _synthetic_hour(hour, workloads: int, step: int, rng) -> pd.DataFrame:
    """An hour of samples of `workloads` one-pod Deployments: daily cycles and noise."""
    n = 3600 // step
    ts = pd.date_range(hour, periods=n, freq=f"{step}s")
    day = (ts.hour.to_numpy() + ts.minute.to_numpy() / 60) / 24
    cycle = np.tile(1 + 0.4 * np.sin(day * 2 * np.pi), workloads)
    base = np.repeat(np.linspace(20, 800, workloads), n)
    names = np.array([f"w{i}" for i in range(workloads)], dtype=object)
    return pd.DataFrame(
        {
            "ts": np.tile(ts, workloads),
            "namespace": "bench",
            "workload": np.repeat(names, n),
            "pod": np.repeat(names + "-6d4cf56db6-x2x9z", n),
            "container": "app",
            "node": np.repeat([f"node-{i % 50}" for i in range(workloads)], n),
            "cpu_m": base * cycle * rng.lognormal(0, 0.1, base.size),
            "memory": (base * 2**20 * (1 + 0.05 * rng.standard_normal(base.size))).astype(np.int64),
            "request_cpu_m": np.repeat(np.linspace(40, 1600, workloads).astype(int), n),
            "limit_cpu_m": None,
            "request_memory": 2**31,
            "limit_memory": 2**31,
            "restarts": 0,
            "oom_killed": False,
        }
    )


NODES = 50


def _synthetic_nodes(hour, step: int) -> pd.DataFrame:
    """An hour of samples of the NODES nodes the synthetic pods run on (48 vCPU, 192 GiB)."""
    ts = pd.date_range(hour, periods=3600 // step, freq=f"{step}s")
    return pd.DataFrame(
        {
            "ts": np.repeat(ts, NODES),
            "node": np.tile([f"node-{i}" for i in range(NODES)], len(ts)),
            "allocatable_cpu_m": 48_000,
            "allocatable_memory": 192 * 2**30,
        }
    )


def _bill_hour(hour, frame: pd.DataFrame, step: int):
    """The product's own hourly bill (allocation.bill), as rollup_cluster makes it; the next
    collection is the next hour's first, at its start."""
    from apps.costs import allocation, hours

    return allocation.bill(
        frame,
        _synthetic_nodes(hour, step),
        slot=hours.HOUR,
        end=hour + hours.HOUR,
        after=hour + hours.HOUR,
        interval=pd.Timedelta(seconds=step).to_pytimedelta(),
    )


def planning_from_the_database(workloads: int = 2000, days: int = 14, step: int = 30) -> None:
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from apps.clusters.models import Cluster, ContainerSample, NodeSample, Workload
    from apps.costs import billing, hours, rollups
    from apps.costs.models import CostRollup, RollupMark, UsageRollup
    from apps.costs.plans import plan_build
    from apps.costs.selectors import allocation_for, allocation_samples_estimate

    until = datetime(2026, 11, 20, 12, 59, 30, tzinfo=UTC)  # last collection: a full raw hour
    cut = hours.floor_hour(until)
    cluster = Cluster.objects.create(
        name="bench",
        connection="kubeconfig",
        kubeconfig_path="/nonexistent/kubeconfig",
        last_cluster_time=until,
    )
    Workload.objects.bulk_create(
        Workload(cluster=cluster, namespace="bench", name=f"w{i}", replicas=1)
        for i in range(workloads)
    )
    rng = np.random.default_rng(11)
    start = hours.ceil_hour(until - timedelta(days=days))
    first_day, last_day = hours.ceil_day(start), cut.replace(hour=0)
    edges = [start + hours.HOUR * i for i in range(int((first_day - start) / hours.HOUR))]
    edges += [last_day + hours.HOUR * i for i in range(int((cut - last_day) / hours.HOUR))]
    rolled, took, took_bill = 0, [], []
    for hour in edges:  # the hour rows a 14-day read takes around its whole days
        frame = _synthetic_hour(hour, workloads, step, rng)
        t0 = time.perf_counter()
        rows = rollups.aggregate(frame, hour)
        took.append(time.perf_counter() - t0)
        UsageRollup.objects.bulk_create((UsageRollup(cluster=cluster, **r) for r in rows), 2000)
        t0 = time.perf_counter()
        costs = billing.rows(cluster, hour, _bill_hour(hour, frame, step))
        took_bill.append(time.perf_counter() - t0)
        billing.save(*costs)
        rolled += len(rows) + len(costs[0])
    day = first_day
    while day < last_day:  # whole days, aggregated a day at a time (what merging 24 gives)
        day_hours = [_synthetic_hour(day + hours.HOUR * h, workloads, step, rng) for h in range(24)]
        rows = rollups.aggregate(pd.concat(day_hours, ignore_index=True), day)
        UsageRollup.objects.bulk_create(
            (UsageRollup(cluster=cluster, hours=24, **r) for r in rows), 2000
        )
        bills = [_bill_hour(day + hours.HOUR * h, f, step) for h, f in enumerate(day_hours)]
        for h, b in enumerate(bills):  # each hour's summary, and the day's containers summed
            billing.save([], billing.rows(cluster, day + hours.HOUR * h, b)[1])
        sums = pd.concat([b.containers for b in bills]).groupby(billing.KEYS, as_index=False).sum()
        CostRollup.objects.bulk_create(
            (
                CostRollup(cluster=cluster, hour=day, hours=24, billed_hours=r.pop("hours"), **r)
                for r in sums.to_dict("records")
            ),
            batch_size=2000,
        )
        rolled += len(rows) + len(sums)
        day += hours.DAY
    RollupMark.objects.create(cluster=cluster, rolled_until=cut)
    tail = pd.concat(
        [
            _synthetic_hour(cut - hours.HOUR, workloads, step, rng),
            _synthetic_hour(cut, workloads, step, rng),
        ]
    )
    tail = tail[(tail["ts"] > cut - hours.lookback(cluster)) & (tail["ts"] <= until)]
    ContainerSample.objects.bulk_create(
        (
            ContainerSample(
                cluster=cluster,
                **{k: v for k, v in r.items() if k != "oom_killed"},
                oom_killed=False,
                ready=True,
                state="running",
            )
            for r in tail.to_dict("records")
        ),
        batch_size=5000,
    )
    nodes = _synthetic_nodes(cut - hours.HOUR, step)
    nodes = pd.concat([nodes, _synthetic_nodes(cut, step)])
    nodes = nodes[(nodes["ts"] > cut - hours.lookback(cluster)) & (nodes["ts"] <= until)]
    NodeSample.objects.bulk_create(
        (NodeSample(cluster=cluster, **r) for r in nodes.to_dict("records")), batch_size=5000
    )
    with connection.cursor() as c:
        c.execute("ANALYZE")
    print(
        f"rolling up one hour of {workloads:,} pods ({3600 // step * workloads:,} samples): "
        f"median {np.median(took):.2f} s usage + {np.median(took_bill):.2f} s cost "
        "(beat runs it once per hour and cluster); "
        f"{rolled:,} rollup rows for {days} days, {len(tail):,} raw samples after "
        "the mark"
    )
    for attempt in (1, 2):
        t0 = time.perf_counter()
        plan = plan_build(cluster=cluster)
        took_plan = time.perf_counter() - t0
        print(
            f"plan_build from {connection.vendor} ({attempt}): {took_plan:.1f} s "
            f"(target < 10 s) for {len(plan.items):,} workloads, "
            f"{plan.containers:,} containers; saves ${plan.total_savings:,.2f} "
            "a month"
        )
    since = until - timedelta(days=days)
    print(
        f"allocation over {days} days reads about "
        f"{allocation_samples_estimate(cluster, since, until):,} raw samples "
        "(the rest from cost rollups)"
    )
    for attempt in (1, 2):
        t0 = time.perf_counter()
        a = allocation_for(cluster, since=since, until=until, idle="weighted")
        took_alloc = time.perf_counter() - t0
        print(
            f"allocation_for {days} days from {connection.vendor} ({attempt}): "
            f"{took_alloc:.1f} s for {len(a.workloads):,} workloads on {len(a.nodes)} nodes; "
            f"${a.total:,.2f}, idle {a.idle_share:.1%}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process {peak:,.0f} MB")


if __name__ == "__main__":
    from benchmarks.support import drop_database, use_scratch_database

    url = use_scratch_database("zt_bench_costs")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        waste_and_replay()
        planning_at_scale()
        planning_from_the_database(
            int(os.environ.get("BENCH_WORKLOADS", 2000)), int(os.environ.get("BENCH_DAYS", 14))
        )
    finally:
        if url:
            from django.db import connections

            connections.close_all()
            drop_database(url)
