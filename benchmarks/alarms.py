"""Alarms as a budget: how often ZeroTouch would call a person about nothing, per simulated day,
in the sandbox's healthy and busy-day scenarios (seeds never tuned on), with the product's own
defaults. Pure simulation and the product's pure code: no database, no worker.

- Anomaly episodes per entity-day: each workload's and node's detector learns from the
  previous 6 hours and is refitted every 6 hours (as the product does); alarms are
  `Detector.alarms` (persistence and hysteresis); flagged samples within 2 minutes are one
  episode (the product's merge). Target on a healthy day: at most 1 per entity-day.
- Failure-risk alarms: the product's base failure model (trained as on first start) scores
  every 30 s; a forecast reaches a person when it persists (high or critical in 2 of the last
  3 runs) and lasts until the risk falls below medium; episodes of one entity within 18 minutes
  are one incident (cleared after 3 min, reopened within 15). Target: at most 3 false-alarm
  incidents per cluster-day, while failures with a precursor (memory leak, CPU saturation)
  keep event recall >= 90% with median lead >= 5 min.
A false alarm is one with no failure of that entity from its start to 20 minutes after its end
(the 15-minute horizon plus 5). Run: .venv/bin/python -m benchmarks.alarms
"""

import os
import sys
import time
from datetime import timedelta

import numpy as np
import pandas as pd

from apps.predictions import anomaly, labels
from apps.predictions.series import all_series, metrics_for
from apps.predictions.simulate import simulate

SEEDS = [int(s) for s in os.environ.get("BENCH_ALARM_SEEDS", "301,302").split(",")]
HOURS = float(os.environ.get("BENCH_ALARM_HOURS", "24"))
TRAIN_HOURS, REFIT_HOURS, WINDOW, STEP = 6, 6, 10, 30  # as apps/predictions/services.py
MERGE = timedelta(minutes=2)
GRACE = timedelta(minutes=20)
TARGET_EPISODES = 1.0


def _failures(sim) -> pd.DataFrame:
    both = pd.concat(
        [labels.ground_truth(sim.failures), labels.observe_failures(sim.frames)],
        ignore_index=True,
    )
    return both[["entity", "time"]]


def _episodes(ts: pd.Series, flags: np.ndarray) -> list[tuple]:
    out: list[list] = []
    for t in ts[flags]:
        if out and t - out[-1][1] <= MERGE:
            out[-1][1] = t
        else:
            out.append([t, t])
    return [tuple(e) for e in out]


def _entity_episodes(table: pd.DataFrame, metrics: list[str]) -> list[tuple]:
    rows = table.sort_values("ts")
    ts = pd.to_datetime(rows["ts"], utc=True).reset_index(drop=True)
    x = rows[metrics].to_numpy(float)
    learn, per = int(TRAIN_HOURS * 3600 / STEP), int(REFIT_HOURS * 3600 / STEP)
    found = []
    for begin in range(learn, len(x), per):
        train, test = x[begin - learn : begin], x[begin : begin + per]
        try:
            det = anomaly.fit(train, window=WINDOW, contamination=anomaly.contamination_for(STEP))
        except ValueError:
            continue
        found += _episodes(ts.iloc[begin : begin + len(test)], det.alarms(test))
    return found


def anomalies(scenario: str, seed: int) -> dict:
    sim = simulate(scenario, seed=seed, hours=HOURS, vary=True)
    failures = _failures(sim)
    entities = false = total = 0
    for kind, table in all_series(sim.frames).items():
        for entity, rows in table.groupby("entity", sort=False):
            entities += 1
            mine = failures[failures["entity"] == entity]["time"]
            for start, end in _entity_episodes(rows, metrics_for(kind)):
                total += 1
                false += not ((mine >= start) & (mine <= end + GRACE)).any()
    days = (HOURS - TRAIN_HOURS) / 24
    return {"entities": entities, "episodes": total, "false": false, "days": days}


def main() -> int:
    print(
        f"Anomaly alarms, {HOURS:g} simulated hours per run (the first {TRAIN_HOURS} h only "
        f"learn), product defaults: contamination {anomaly.contamination_for(STEP):.5f} at "
        f"{STEP}-s rows"
    )
    for scenario in ("healthy", "busy-day"):
        runs = []
        for seed in SEEDS:
            t = time.perf_counter()
            r = anomalies(scenario, seed)
            runs.append(r)
            took = time.perf_counter() - t
            print(
                f"  {scenario:<8} seed {seed}: {r['episodes']} episodes ({r['false']} false) "
                f"over {r['entities']} entities x {r['days']:.2f} days  ({took:.0f} s)",
                flush=True,
            )
        entity_days = sum(r["entities"] * r["days"] for r in runs)
        per = sum(r["episodes"] for r in runs) / entity_days
        fper = sum(r["false"] for r in runs) / entity_days
        met = "met" if scenario != "healthy" or per <= TARGET_EPISODES else "NOT met"
        print(
            f"  {scenario:<8} episodes per entity-day {per:.2f} (false {fper:.2f})"
            + (
                f"; target <= {TARGET_EPISODES:g} on a healthy day: {met}"
                if scenario == "healthy"
                else ""
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
