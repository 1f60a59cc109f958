"""The anomaly detector on real, labelled server metrics: the Application Server Dataset (ASD,
12 servers x 19 metrics at 5-minute steps, expert labels from incident reports; MIT licence;
see ../shared/data/asd/README.md). Nothing is downloaded: the data is read from
ASD_DIR (default ../shared/data/asd beside this checkout).

Each detector learns from a server's train part (30 days, unlabelled, mostly normal) and scores
its test part (15 days, labelled); thresholds come from the train part alone. Counted as the
dataset's README asks:
- PR-AUC over test rows (threshold-free; 4.6% of rows are anomalous, so chance is ~0.05);
- event recall: an event is a maximal run of label-1 rows; caught if any alarm is inside it;
- false alarms per server-day: alarm episodes (flagged rows, gaps under 3 rows joined) that
  overlap no event, per day of test data;
- seconds to fit and score.
Detectors: ZeroTouch's (`anomaly.fit` with the product's defaults, alarms as the product raises
them: `Detector.alarms`), a plain IsolationForest at contamination 0.01, and a standardised
PCA-residual score thresholded at its train 99th percentile. Never accuracy.

Targets on ASD (issue 17): PR-AUC >= 0.40, event recall >= 0.85, <= 3 false alarms per
server-day.
"""

import gzip
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score

from apps.predictions import anomaly

ROOT = Path(__file__).resolve().parent.parent
ASD_DIR = Path(os.environ.get("ASD_DIR", ROOT.parent / "shared" / "data" / "asd"))
ROWS_PER_DAY = 288  # 5-minute rows
EPISODE_GAP = 3  # flagged rows closer than this are one alarm episode
TARGETS = {"pr_auc": 0.40, "event_recall": 0.85, "false_alarms_per_day": 3.0}


def load(server: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, test, labels) of server `omi-<server>`."""

    def read(name: str) -> tuple[list[str], np.ndarray]:
        with gzip.open(ASD_DIR / f"omi-{server}_{name}.csv.gz", "rt") as f:
            header = f.readline().strip().split(",")
            rows = np.loadtxt(f, delimiter=",", ndmin=2)
        return header, rows

    head, train = read("train")
    test_head, test = read("test")
    label = test_head.index("label")
    metrics = [i for i, h in enumerate(test_head) if h.startswith("m")]
    train_metrics = [head.index(test_head[i]) for i in metrics]
    return train[:, train_metrics], test[:, metrics], test[:, label].astype(int)


def events(labels: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], labels, [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def episodes(flags: np.ndarray, gap: int = EPISODE_GAP) -> list[tuple[int, int]]:
    rows = np.flatnonzero(flags)
    if rows.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(rows) >= gap)
    starts = np.concatenate([[rows[0]], rows[cuts + 1]])
    ends = np.concatenate([rows[cuts], [rows[-1]]])
    return list(zip(starts, ends, strict=True))


@dataclass
class Result:
    pr_auc: float
    caught: int
    events: int
    false_alarms: int
    days: float
    seconds: float


@dataclass
class Totals:
    results: list[Result] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)


def judge(scores: np.ndarray, flags: np.ndarray, labels: np.ndarray, seconds: float) -> Result:
    truth = events(labels)
    caught = sum(1 for s, e in truth if flags[s : e + 1].any())
    false = sum(1 for s, e in episodes(flags) if not labels[s : e + 1].any())
    return Result(
        pr_auc=float(average_precision_score(labels, scores)),
        caught=caught,
        events=len(truth),
        false_alarms=false,
        days=len(labels) / ROWS_PER_DAY,
        seconds=seconds,
    )


def zerotouch(train, test) -> tuple[np.ndarray, np.ndarray]:
    detector = anomaly.fit(train)
    return detector.score(test), detector.alarms(test)


def isolation_forest(train, test) -> tuple[np.ndarray, np.ndarray]:
    model = IsolationForest(contamination=0.01, random_state=0).fit(train)
    return -model.score_samples(test), model.predict(test) == -1


def pca_residual(train, test) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-9
    z_train, z_test = (train - mean) / std, (test - mean) / std
    pca = PCA(n_components=0.9, random_state=0).fit(z_train)

    def residual(z):
        return np.square(z - pca.inverse_transform(pca.transform(z))).sum(axis=1)

    threshold = np.quantile(residual(z_train), 0.99)
    scores = residual(z_test)
    return scores, scores >= threshold


DETECTORS = {
    "zerotouch": zerotouch,
    "isolation_forest": isolation_forest,
    "pca_residual": pca_residual,
}


def run(servers: list[int]) -> dict[str, Totals]:
    totals = {name: Totals() for name in DETECTORS}
    for server in servers:
        train, test, labels = load(server)
        for name, detect in DETECTORS.items():
            start = time.perf_counter()
            scores, flags = detect(train, test)
            result = judge(scores, flags, labels, time.perf_counter() - start)
            totals[name].results.append(result)
            totals[name].scores.append(scores)
            totals[name].labels.append(labels)
            print(
                f"omi-{server:<3} {name:<17} PR-AUC {result.pr_auc:5.3f}  events "
                f"{result.caught:>2}/{result.events:<2}  false alarms/day "
                f"{result.false_alarms / result.days:5.2f}  {result.seconds:5.1f} s",
                flush=True,
            )
    return totals


def summary(name: str, t: Totals) -> dict[str, float]:
    caught = sum(r.caught for r in t.results)
    total = sum(r.events for r in t.results)
    return {
        "pr_auc": float(np.mean([r.pr_auc for r in t.results])),
        "pooled_pr_auc": float(
            average_precision_score(np.concatenate(t.labels), np.concatenate(t.scores))
        ),
        "event_recall": caught / max(total, 1),
        "false_alarms_per_day": sum(r.false_alarms for r in t.results)
        / sum(r.days for r in t.results),
        "seconds": sum(r.seconds for r in t.results),
    }


def main() -> int:
    if not ASD_DIR.is_dir():
        print(f"ASD not found at {ASD_DIR} (set ASD_DIR): skipped")
        return 0
    servers = [int(s) for s in sys.argv[1:]] or list(range(1, 13))
    totals = run(servers)
    print("\nOverall (mean of per-server PR-AUC; event recall and false alarms pooled):")
    for name, t in totals.items():
        s = summary(name, t)
        print(
            f"  {name:<17} PR-AUC {s['pr_auc']:.3f} (pooled {s['pooled_pr_auc']:.3f})  "
            f"event recall {s['event_recall']:.2f}  false alarms/server-day "
            f"{s['false_alarms_per_day']:.2f}  {s['seconds']:.0f} s"
        )
    zt = summary("zerotouch", totals["zerotouch"])
    met = [
        zt["pr_auc"] >= TARGETS["pr_auc"],
        zt["event_recall"] >= TARGETS["event_recall"],
        zt["false_alarms_per_day"] <= TARGETS["false_alarms_per_day"],
    ]
    print(
        f"Targets for ZeroTouch: PR-AUC >= {TARGETS['pr_auc']} "
        f"({'met' if met[0] else 'NOT met'}), event recall >= {TARGETS['event_recall']} "
        f"({'met' if met[1] else 'NOT met'}), <= {TARGETS['false_alarms_per_day']:g} false "
        f"alarms per server-day ({'met' if met[2] else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
