"""Failure prediction on sandbox histories, judged on seeds it never saw.

- Train: every scenario (one per fault kind, plus a busy day and a healthy day) under seeds A,
  `vary=True` (start hour, fault timing and strength, workload demand, healthy rollouts), labelled
  only with what the samples show (labels.observe_failures), as production must.
- Test: the same scenarios under seeds B. Features are causal (trailing windows only), the
  threshold was chosen on a held-out slice of A. Failure events are the sandbox's ground truth
  together with the observed failures; each event is attributed to the fault that caused it.
- Figures: precision, recall, F1, false-positive rate, PR-AUC (rows), event recall (warned
  >= 5 min ahead), median lead time, false alarms per day; overall, per scenario and per fault
  kind. Some kinds have no precursor in the sandbox (a broken image crashes 8 s after start, a
  node stops reporting at once): they are reported, not hidden.
- Speed: scoring 5,000 workloads (features + model), training on 1 M rows, peak memory.

Run: .venv/bin/python -m benchmarks.failure
"""

import math
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.support import crash_loop_scenario

HORIZON = 15.0
TRAIN_SEEDS = list(range(1, 9))
# Seeds 101-106 guided the model's defaults while it was built; the README's figures come from
# seeds nobody looked at: BENCH_TEST_SEEDS=301-306 (the default below).
_first, _last = os.environ.get("BENCH_TEST_SEEDS", "301-306").split("-")
TEST_SEEDS = list(range(int(_first), int(_last) + 1))
SCENARIOS = {  # scenario -> simulated hours
    "healthy": 4.0,
    "memory-leak": 1.5,
    "cpu-saturation": 2.0,
    "node-not-ready": 2.0,
    "bad-rollout": 1.5,
    "image-pull-failure": 1.5,
    "noisy-neighbour": 1.5,
    "unbound-pvc": 1.5,
    "crash-loop": 1.5,
    "busy-day": 7.0,
}
PRECURSOR = {"memory_leak", "cpu_saturation"}  # kinds whose failure the samples foreshadow


def simulate_histories(seeds: list[int], scenarios: dict[str, float] = SCENARIOS) -> list[dict]:
    from apps.predictions import labels
    from apps.predictions.features import build_features
    from apps.predictions.simulate import simulate

    out = []
    for name, hours in scenarios.items():
        sc = crash_loop_scenario() if name == "crash-loop" else name
        for seed in seeds:
            sim = simulate(sc, seed=seed, hours=hours, vary=True)
            out.append(
                {
                    "name": name,
                    "run": f"{name}#{seed}",
                    "sim": sim,
                    "features": build_features(sim.frames),
                    "observed": labels.observe_failures(sim.frames),
                    "truth": labels.ground_truth(sim.failures),
                }
            )
    return out


def labelled_rows(histories: list[dict], *, truth: bool) -> pd.DataFrame:
    from apps.predictions import labels

    parts = []
    for h in histories:
        failures = pd.concat([h["observed"], h["truth"]]) if truth else h["observed"]
        lab = labels.label(h["features"], failures, HORIZON)
        d = pd.concat([h["features"], lab], axis=1)
        parts.append(d.assign(run=h["run"], scenario=h["name"]))
    return pd.concat(parts, ignore_index=True)


def event_table(histories: list[dict]) -> pd.DataFrame:
    from apps.predictions import labels
    from apps.predictions.simulate import fault_kind_of

    parts = []
    for h in histories:
        ep = labels.episodes(pd.concat([h["observed"], h["truth"]]))
        kinds = fault_kind_of(ep, h["sim"].faults)
        onset = [_onset(h["sim"].faults, k, s) for k, s in zip(kinds, ep["start"], strict=True)]
        ep = ep.assign(fault=kinds, onset_minutes=onset, scenario=h["name"])
        parts.append(ep.assign(entity=h["run"] + ":" + ep["entity"].astype(str)))
    return pd.concat(parts, ignore_index=True)


def _onset(faults: list[dict], kind: str, start) -> float:
    """Minutes from the fault's injection to the failure (how much warning was possible)."""
    times = [f["time"] for f in faults if f["kind"] == kind and f["time"] <= start]
    return (start - max(times)).total_seconds() / 60 if times else math.nan


def _fmt(x: float, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "   -  "
    return f"{100 * x:5.1f}%" if pct else f"{x:6.2f}"


def _line(label: str, r: dict) -> str:
    return (
        f"{label:20s} {int(r['rows']):7d} {int(r['positives']):5d} {_fmt(r['precision'], 1)} "
        f"{_fmt(r['recall'], 1)} {_fmt(r['f1'])} {_fmt(r['fpr'], 1)} {_fmt(r['pr_auc'])} "
        f"{int(r['events']):4d} {_fmt(r['event_recall'], 1)} {_fmt(r['median_lead'])} "
        f"{r['false_alarms_per_day']:7.1f}"
    )


def _quality(model, test: pd.DataFrame, events: pd.DataFrame, histories: list[dict]) -> None:
    from apps.predictions import evaluation
    from apps.predictions.features import FEATURE_NAMES, META_COLUMNS

    pred = model.predict(test[META_COLUMNS + FEATURE_NAMES], explain=False)
    scored = test.assign(
        entity=test["run"] + ":" + test["entity"].astype(str),
        probability=pred["probability"].to_numpy(),
        alarm=pred["alarm"].to_numpy(),
        status=pred["status"].to_numpy(),
    )
    days = {h["run"]: (h["sim"].end - h["sim"].start).total_seconds() / 86400 for h in histories}
    total_days = sum(days.values())
    print(
        f"\n{'':20s} {'rows':>7s} {'pos':>5s} {'prec':>6s} {'recall':>6s} {'F1':>6s} "
        f"{'FPR':>6s} {'PR-AUC':>6s} {'evts':>4s} {'ER>=5m':>6s} {'lead':>6s} {'FA/day':>7s}"
    )
    overall = evaluation.evaluate(scored, events, horizon_minutes=HORIZON, days=total_days)
    print(_line("all test histories", overall))
    for name in SCENARIOS:
        d = sum(v for k, v in days.items() if k.startswith(name + "#"))
        r = evaluation.evaluate(
            scored[scored["scenario"] == name],
            events[events["scenario"] == name],
            horizon_minutes=HORIZON,
            days=d,
        )
        print(_line(f"  {name}", r))
    _operating_points(model, scored, events, total_days)
    _per_kind(scored, events)


def _operating_points(model, scored: pd.DataFrame, events: pd.DataFrame, days: float) -> None:
    """The same model at the thresholds other false-positive budgets would have chosen on the
    held-out slice (for reading the trade-off; the model's own is marked *)."""
    from apps.predictions import evaluation

    print("\noperating point (budget: held-out FPR the threshold was picked for)")
    for budget in (0.005, 0.01, 0.02, 0.05):
        threshold = model.threshold_for(budget)
        alarm = (scored["probability"].fillna(0) >= threshold) & scored["status"].eq("ok")
        s = scored.assign(alarm=alarm)
        r = evaluation.evaluate(s, events, horizon_minutes=HORIZON, days=days)
        pre = evaluation.evaluate(s, precursor_events(events), horizon_minutes=HORIZON, days=days)
        mark = "*" if threshold == model.threshold else " "
        print(
            f" {mark}budget {100 * budget:3.1f}%: threshold {threshold:.3f}, test FPR "
            f"{_fmt(r['fpr'], 1)}, precision {_fmt(r['precision'], 1)}, false alarms/day "
            f"{r['false_alarms_per_day']:5.1f}; precursor kinds: event recall >= 5 min "
            f"{_fmt(pre['event_recall'], 1)}, median lead {_fmt(pre['median_lead'])} min"
        )


def _example(model, histories: list[dict]) -> None:
    """The first warning on a memory-leak test history, as the console would show it."""
    h = next(h for h in histories if h["name"] == "memory-leak")
    pred = model.predict(h["features"])
    oom = h["truth"]["time"].min()
    hit = pred[pred["alarm"] & (pred["ts"] < oom)]
    if hit.empty:
        print(f"\nexample ({h['run']}): no warning before the OOM kill at {oom:%H:%M:%S}")
        return
    r = hit.iloc[0]
    print(
        f"\nexample ({h['run']}, {r['entity']}): {(oom - r['ts']).total_seconds() / 60:.1f} min "
        f"before the OOM kill: risk {r['risk']} ({r['level']}), expected lead "
        f"{r['expected_lead_minutes']:.1f} min ({r['lead_basis']}); " + "; ".join(r["reasons"])
    )


def _per_kind(scored: pd.DataFrame, events: pd.DataFrame) -> None:
    from apps.predictions import evaluation

    live = scored[~scored["failing"]]
    events = events.assign(lead=evaluation.lead_times(events, live, horizon_minutes=HORIZON))
    print(
        "\nper fault kind (events from every test history; onset = minutes from the fault's "
        "injection to the failure,\nthe most warning physics allows; forecastable = onset >= 6 "
        "min, i.e. a 5-min warning with a minute to notice)"
    )
    print(
        f"{'fault kind':20s} {'events':>6s} {'ER>=5m':>7s} {'warned':>7s} {'lead':>6s} "
        f"{'onset':>6s} {'forecastable':>12s} {'ER>=5m of those':>15s}"
    )
    for kind, g in [*events.groupby("fault"), ("precursor kinds", precursor_events(events))]:
        ok = g["onset_minutes"] >= 6
        er = (g["lead"] >= 5).mean() if len(g) else math.nan
        er_ok = (g.loc[ok, "lead"] >= 5).mean() if ok.any() else math.nan
        lead = g["lead"].dropna()
        print(
            f"{kind:20s} {len(g):6d} {_fmt(er, 1):>7s} {_fmt(g['lead'].notna().mean(), 1):>7s} "
            f"{_fmt(lead.median() if len(lead) else math.nan)} "
            f"{_fmt(g['onset_minutes'].median())} {int(ok.sum()):12d} {_fmt(er_ok, 1):>15s}"
        )


def precursor_events(events: pd.DataFrame) -> pd.DataFrame:
    return events[events["fault"].isin(PRECURSOR)]


def _label_check(histories: list[dict]) -> None:
    """How many ground-truth failures the observer finds in the samples (labels.py)."""
    found: dict[str, list[int]] = {}
    for h in histories:
        obs, truth = h["observed"], h["truth"]
        for kind, entity, t in zip(truth["kind"], truth["entity"], truth["time"], strict=True):
            near = pd.to_datetime(obs.loc[obs["entity"] == entity, "time"], utc=True)
            delta = (near - t).dt.total_seconds()
            hit = bool(((delta >= -60) & (delta <= 300)).any())
            found.setdefault(kind, [0, 0])[0] += hit
            found[kind][1] += 1
    words = ", ".join(f"{k} {a}/{n}" for k, (a, n) in sorted(found.items()))
    print(f"observed in the samples (within -1..+5 min) / ground truth: {words}")


def training_set(train: pd.DataFrame) -> pd.DataFrame:
    from apps.predictions.features import enough_history

    return train[enough_history(train) & ~train["failing"].to_numpy()].reset_index(drop=True)


def train_model(rows: pd.DataFrame):
    from apps.predictions import failure

    return failure.train(
        rows,
        rows["y"],
        groups=rows["run"],
        times=rows["ts"],
        minutes_to_failure=rows["minutes_to_failure"],
        horizon_minutes=HORIZON,
    )


def _synthetic_frames(workloads: int = 5000, pods: int = 3, nodes: int = 100, minutes: int = 10):
    """A cluster of `workloads` deployments with `pods` single-container pods each, sampled
    every 30 s for `minutes`: each pod steady around a random level with a little noise
    (synthetic, for timing only)."""
    from apps.predictions.features import Frames

    rng = np.random.default_rng(0)
    n_t = minutes * 2 + 1
    stamps = pd.Timestamp("2026-01-05T12:00:00Z") + pd.to_timedelta(np.arange(n_t) * 30, "s")
    k = workloads * pods
    pod, t = np.repeat(np.arange(k), n_t), np.tile(stamps.to_numpy(), k)
    wl = pod // pods
    limit = np.repeat(rng.choice([512, 768, 1024], size=k) * 2**20, n_t).astype(float)
    wl_pod = zip(wl, pod, strict=True)
    level_cpu = np.repeat(rng.gamma(4, 30, k), n_t)  # each pod steady around its own level
    level_mem = np.repeat(rng.uniform(0.3, 0.6, k), n_t)
    containers = pd.DataFrame(
        {
            "ts": pd.to_datetime(t, utc=True),
            "namespace": [f"team-{i % 50}" for i in wl],
            "workload": [f"svc-{i}" for i in wl],
            "pod": [f"svc-{i}-{j:06d}" for i, j in wl_pod],
            "container": "app",
            "node": [f"node-{i % nodes}" for i in pod],
            "cpu_m": level_cpu * rng.normal(1, 0.08, len(t)),
            "memory": limit * level_mem * rng.normal(1, 0.02, len(t)),
            "request_cpu_m": 200.0,
            "limit_cpu_m": 1000.0,
            "request_memory": 256.0 * 2**20,
            "limit_memory": limit,
            "restarts": 0,
            "ready": True,
            "state": "running",
            "waiting_reason": "",
            "last_terminated_reason": "",
            "oom_killed": False,
        }
    )
    node_rows = pd.DataFrame(
        {
            "ts": pd.to_datetime(np.tile(stamps.to_numpy(), nodes), utc=True),
            "node": np.repeat([f"node-{i}" for i in range(nodes)], n_t),
            "cpu_m": 4000.0,
            "memory": 8e9,
            "allocatable_cpu_m": 16000,
            "allocatable_memory": 64e9,
            "ready": True,
            "memory_pressure": False,
            "disk_pressure": False,
            "pid_pressure": False,
            "unschedulable": False,
        }
    )
    some = rng.choice(k, 200, replace=False)  # 200 warnings on random pods
    events = pd.DataFrame(
        {
            "uid": [f"e{i}" for i in range(200)],
            "namespace": "",
            "type": "Warning",
            "reason": rng.choice(["BackOff", "Unhealthy"], 200),
            "message": "",
            "count": 2,
            "object_kind": "Pod",
            "object_name": [f"svc-{i // pods}-{i:06d}" for i in some],
            "object_namespace": [f"team-{(i // pods) % 50}" for i in some],
            "first_seen": stamps[0],
            "last_seen": stamps[-1],
        }
    )
    deployments = pd.DataFrame(
        {
            "ts": pd.to_datetime(np.tile(stamps.to_numpy(), workloads), utc=True),
            "namespace": np.repeat([f"team-{i % 50}" for i in range(workloads)], n_t),
            "name": np.repeat([f"svc-{i}" for i in range(workloads)], n_t),
            "replicas": pods,
            "ready_replicas": pods,
            "available_replicas": pods,
            "updated_replicas": pods,
            "revision": 1,
            "last_rollout_at": pd.Timestamp("2026-01-01T00:00:00Z"),
        }
    )
    return Frames(containers, node_rows, events, deployments)


def _speed(model, rows: pd.DataFrame) -> None:
    from apps.predictions import failure
    from apps.predictions.features import FRESH_S, build_features

    frames = _synthetic_frames()
    times, split = [], []
    for _ in range(5):
        t = time.perf_counter()
        latest = build_features(frames, latest_within=FRESH_S)
        mid = time.perf_counter()
        pred = model.predict(latest)
        times.append(time.perf_counter() - t)
        split.append((mid - t, time.perf_counter() - mid))
    feat, score = np.median(split, axis=0)
    print(
        f"\nscoring 5,000 workloads (+100 nodes; {len(frames.containers):,} container samples "
        f"of the last 10 min, synthetic): features + model + reasons, median "
        f"{np.median(times):.2f} s of 5 (features {feat:.2f} + model {score:.2f}; best "
        f"{min(times):.2f}, worst {max(times):.2f}; {len(pred)} entities; target < 1 s)"
    )
    big = _million(rows)
    t = time.perf_counter()
    failure.train(big, big["y"], groups=big["run"], horizon_minutes=HORIZON)
    took = time.perf_counter() - t
    print(
        f"training on {len(big):,} rows ({int(big['y'].sum()):,} positives; the sandbox rows "
        f"repeated with 2% noise, synthetic): {took:.1f} s (target < 2 min on 2 cores)"
    )


def _million(rows: pd.DataFrame, n: int = 1_000_000) -> pd.DataFrame:
    from apps.predictions.features import FEATURE_NAMES

    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(rows), n)
    big = rows.iloc[idx].reset_index(drop=True)
    noise = rng.normal(1.0, 0.02, (n, len(FEATURE_NAMES)))
    big[FEATURE_NAMES] = big[FEATURE_NAMES].to_numpy(np.float64) * noise
    return big.assign(run=big["run"] + "/" + (np.arange(n) % 3).astype(str))


def run() -> None:
    t = time.perf_counter()
    train_h, test_h = simulate_histories(TRAIN_SEEDS), simulate_histories(TEST_SEEDS)
    hours = sum(SCENARIOS.values()) * (len(TRAIN_SEEDS) + len(TEST_SEEDS))
    print(
        f"simulated + featurised {hours:.0f} h of sandbox history ({len(SCENARIOS)} scenarios x "
        f"{len(TRAIN_SEEDS)} train + {len(TEST_SEEDS)} test seeds): {time.perf_counter() - t:.1f} s"
    )
    train = training_set(labelled_rows(train_h, truth=False))
    t = time.perf_counter()
    model = train_model(train)
    print(
        f"trained on {len(train):,} rows ({int(train['y'].sum()):,} before a failure) in "
        f"{time.perf_counter() - t:.1f} s; threshold {model.threshold:.3f} ({model.calibration} "
        f"calibration; held-out FPR {100 * model.heldout['fpr']:.2f}%, recall "
        f"{100 * model.heldout['recall']:.1f}%); horizon {HORIZON:g} min"
    )
    top = sorted(model.importances.items(), key=lambda kv: -kv[1])[:8]
    print("top features: " + ", ".join(f"{k} {v:.3f}" for k, v in top))
    _label_check(test_h)
    test, events = labelled_rows(test_h, truth=True), event_table(test_h)
    _quality(model, test, events, test_h)
    _example(model, test_h)
    _speed(model, train)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS (ru_maxrss): {peak:.0f} MB")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    run()
