"""The failure predictor: a calibrated RandomForest over feature rows. Pure: no Django.

Training (`train`):
- A held-out slice is set aside first: whole groups (one simulated history, or one cluster,
  per group; every 4th group after sorting by failures, so both sides have some) when there
  are at least 4 groups, else the latest 25% of `times` (time-ordered).
- The forest fits the rest, rebalanced by undersampling: negatives are subsampled to at most
  `negatives_per_positive` (20) per positive; each tree sees at most 100,000 rows. Class
  weights on top ("balanced_subsample") are an option, not the default: on small histories
  they inflated healthy rows' scores (5% alarms on a healthy day against 0.8% without).
- Calibration: isotonic on the held-out slice (sigmoid when it has fewer than 30 positives),
  through CalibratedClassifierCV over the frozen forest.
- Operating threshold: the lowest calibrated probability whose false-positive rate on the
  held-out slice is <= `max_fpr`: 1% by default, a margin under the 5% target (isotonic steps
  often land it lower still). The held-out curve is kept (`heldout_curve`, `threshold_for`).

Prediction (`FailureModel.predict`), per feature row:
- probability (calibrated: the chance of a failure starting within the horizon).
- risk 0-100: the probability on a scale anchored at the operating threshold,
  risk = 100 x p ** (log 0.5 / log threshold): 0 stays 0, 1 stays 100, the threshold is 50.
  A calibrated 12% can be an alarm when failures are rare; "risk 50" says so plainly.
- level, on the risk: "critical" >= 80, "high" >= 50 (= the alarm), "medium" >= 30, "low"
  below; "unknown" for too little history.
- expected_lead_minutes for medium and above: the minutes until memory or CPU reaches its limit
  at the current trend when that is within the horizon (lead_basis "trend"), otherwise the
  median lead of the training positives the model alarmed on (lead_basis "history").
- reasons, for medium and above (a low score has no warning signs to tell): the top 3
  feature groups by importance x how far the row sits from healthy rows (robust z-scores,
  towards the side failures sit on), in words built from the row's values.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sklearn
from joblib import parallel_config
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator

from .features import (
    FEATURE_INFO,
    FEATURE_NAMES,
    META_COLUMNS,
    MIN_HISTORY_MINUTES,
    MIN_SAMPLES,
    enough_history,
    impute,
)

RAISED = ("medium", "high", "critical")  # levels that get a lead time and reasons
NOTABLE = 0.2  # a reason must weigh at least this share of the top reason
# What a raised risk says when no single reading is far enough from normal to name: the model
# rates the combination, and the page must not show a high risk with no reason at all.
PATTERN_ONLY = "no single reading stands out: the combination resembles the run-up to past failures"
MIN_ISOTONIC = 30  # held-out failures needed for isotonic calibration (else sigmoid)
MAX_TREE_ROWS = 100_000  # rows each tree sees (a bootstrap sample): bounds training time
SEQUENTIAL_BELOW = 2_000  # rows scored at once under which the trees run in one thread
GROUPS = {
    "memory": [
        "mem_limit_ratio",
        "mem_slope",
        "mem_slope_10m",
        "mem_volatility",
        "mem_minutes_to_limit",
        "mem_growth",
        "mem_request_ratio",
    ],
    "cpu": [
        "cpu_limit_ratio",
        "cpu_slope",
        "cpu_volatility",
        "cpu_minutes_to_limit",
        "cpu_request_ratio",
    ],
    "restarts": ["restarts_10m", "minutes_since_restart", "youngest_container_minutes"],
    "oom": ["oom_kills_10m", "ev_oom_10m"],
    "readiness": [
        "ready_share",
        "ready_share_10m",
        "replicas_ready_share",
        "waiting_share",
        "unscheduled_share",
    ],
    "node": [
        "node_not_ready_share",
        "node_pressure_share",
        "node_unschedulable_share",
        "node_metrics_missing",
        "node_mem_ratio",
        "node_mem_slope",
        "ev_node_10m",
    ],
    "rollout": ["minutes_since_rollout"],
    **{
        name: [name]
        for name in (
            "ev_backoff_10m",
            "ev_unhealthy_10m",
            "ev_failed_10m",
            "ev_scheduling_10m",
            "ev_eviction_10m",
            "ev_other_warning_10m",
        )
    },
}


# What the phrases read: the grouped features plus the context columns.
PHRASE_COLUMNS = [
    *dict.fromkeys(n for names in GROUPS.values() for n in names),
    "containers",
    "mem_limit_known",
    "cpu_limit_known",
    "node_hint",
    "is_node",
]


class FeatureMismatch(ValueError):
    pass


@dataclass
class FailureModel:
    estimator: CalibratedClassifierCV
    feature_names: list[str]
    horizon_minutes: float
    threshold: float
    max_fpr: float
    calibration: str
    importances: dict[str, float]
    baseline: dict[str, tuple[float, float, float]]  # feature -> (healthy median, scale, sign)
    lead_minutes: float
    sklearn_version: str = sklearn.__version__
    heldout: dict[str, float] = field(default_factory=dict)  # fpr, recall at the threshold
    heldout_curve: list[tuple[float, float, float]] = field(default_factory=list)
    rows: int = 0
    positives: int = 0

    def threshold_for(self, max_fpr: float) -> float:
        """The threshold training would have chosen for another false-positive budget."""
        return _pick(self.heldout_curve, max_fpr)[0]

    # --- scoring -------------------------------------------------------------------------
    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        given = [c for c in features.columns if c not in META_COLUMNS]
        missing = [c for c in self.feature_names if c not in given]
        extra = [c for c in given if c not in self.feature_names]
        if missing or extra:
            raise FeatureMismatch(
                f"feature columns differ from the model's: missing {missing}, unexpected "
                f"{extra}; build the features with the feature list this model was trained "
                "on, or retrain"
            )
        return impute(features[self.feature_names]).to_numpy(np.float32)  # what trees use

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for every row, without the history check or words."""
        return self._proba(self._matrix(features))

    def _proba(self, x: np.ndarray) -> np.ndarray:
        """The forest was fitted on every core; a cluster's scoring (a few dozen rows) runs
        its trees in sequence, where threads would cost more than they save."""
        if len(x) >= SEQUENTIAL_BELOW:
            return self.estimator.predict_proba(x)[:, 1]
        with parallel_config(backend="sequential"):
            return self.estimator.predict_proba(x)[:, 1]

    def predict(self, features: pd.DataFrame, *, explain: bool = True) -> pd.DataFrame:
        """One row per feature row: entity, entity_kind, ts, status ("ok" or "not enough
        data"), probability, risk (0-100), level, alarm, expected_lead_minutes, lead_basis,
        reasons (up to 3 phrases) and missing (what history is lacking)."""
        x = self._matrix(features)
        ok = enough_history(features)
        p = np.full(len(features), np.nan)
        if ok.any():
            p[ok] = self._proba(x[ok])
        out = features[["entity", "entity_kind", "ts"]].reset_index(drop=True)
        out["status"] = np.where(ok, "ok", "not enough data")
        out["probability"] = p
        risk = _risk(p, self.threshold)
        out["risk"] = pd.array(np.floor(risk + 1e-9), dtype="Int64")  # 50 and up: the alarms
        out["level"] = _levels(risk)
        out["alarm"] = ok & (np.nan_to_num(p) >= self.threshold)  # = risk >= 50
        lead, basis = self._lead(features, out["level"].to_numpy())
        out["expected_lead_minutes"], out["lead_basis"] = lead, basis
        out["missing"] = _missing(features, ok)
        raised = np.isin(out["level"].to_numpy(), RAISED)
        out["reasons"] = self.reasons(features, x, raised if explain else np.zeros(len(ok), bool))
        return out

    def _lead(self, features: pd.DataFrame, level: np.ndarray):
        """The expected lead of a raised risk: from the trend when memory or CPU reaches its
        limit within the horizon at a rate both windows agree on (the reasons say the same),
        else the usual lead of past failures (within the horizon by construction)."""
        f = features.fillna({c: 0.0 for c in TREND_COLUMNS})
        mem = np.where(
            f["mem_limit_known"] > 0,
            minutes_to_limit(f["mem_limit_ratio"], f["mem_slope"], f["mem_slope_10m"]),
            np.nan,
        )
        cpu = np.where(
            f["cpu_limit_known"] > 0,
            minutes_to_limit(f["cpu_limit_ratio"], f["cpu_slope"], f["cpu_slope"]),
            np.nan,
        )
        trend = np.fmin(mem, cpu)
        use_trend = trend <= self.horizon_minutes
        raised = np.isin(level, RAISED)
        lead = np.where(use_trend, trend, self.lead_minutes)
        basis = np.where(use_trend, "trend", "history")
        return np.where(raised, lead, np.nan), np.where(raised, basis, "")

    # --- explanations --------------------------------------------------------------------
    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(rows, groups): per reason group, the sum over its features of importance x the
        robust z-score towards the failing side (0 when on the healthy side, at most 10)."""
        base = np.array([self.baseline[n] for n in self.feature_names])
        importance = np.array([self.importances.get(n, 0.0) for n in self.feature_names])
        z = np.clip(base[:, 2] * (x - base[:, 0]) / base[:, 1], 0.0, 10.0)
        member = np.array([[n in names for names in GROUPS.values()] for n in self.feature_names])
        return (z * importance) @ member.astype(float)

    def reasons(self, features: pd.DataFrame, x: np.ndarray, rows: np.ndarray) -> list:
        out: list[list[str]] = [[] for _ in range(len(features))]
        idx = np.flatnonzero(rows)
        if not len(idx):
            return out
        contrib = self.contributions(x[idx])
        order = np.argsort(-contrib, axis=1, kind="stable")
        names = list(GROUPS)
        records = features.iloc[idx][PHRASE_COLUMNS].to_dict("records")
        for k, (i, rec) in enumerate(zip(idx, records, strict=True)):
            floor = NOTABLE * contrib[k, order[k][0]]  # leave out the also-rans
            words = (
                _phrase(names[g], rec, self.horizon_minutes)
                for g in order[k]
                if contrib[k, g] > floor
            )
            out[i] = [w for w in words if w][:3] or [PATTERN_ONLY]
        return out


# --- training ---------------------------------------------------------------------------


def train(
    X: pd.DataFrame,
    y,
    *,
    groups=None,
    times=None,
    minutes_to_failure=None,
    horizon_minutes: float = 15,
    max_fpr: float = 0.01,
    negatives_per_positive: int = 20,
    n_estimators: int = 100,
    min_samples_leaf: int = 20,
    class_weight: str | None = None,
    random_state: int = 0,
) -> FailureModel:
    """Fit on rows that are not already failing (see labels.label). X: FEATURE_NAMES columns
    (extra META columns are ignored); y: 0/1."""
    X = impute(X[FEATURE_NAMES]).to_numpy(np.float32)  # the trees' own dtype: no copies
    y = np.asarray(y, dtype=int)
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError("training needs both failures (y=1) and healthy rows (y=0)")
    held = _heldout(y, groups, times)
    rng = np.random.default_rng(random_state)
    fit = _subsample(np.flatnonzero(~held), y, negatives_per_positive, rng)
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        min_samples_leaf=min_samples_leaf,
        max_features="sqrt",
        class_weight=class_weight,
        max_samples=min(1.0, MAX_TREE_ROWS / len(fit)),
        n_jobs=-1,
        random_state=random_state,
    )
    forest.fit(X[fit], y[fit])
    xh, yh = X[held], y[held]
    method = "isotonic" if yh.sum() >= MIN_ISOTONIC else "sigmoid"
    calibrated = CalibratedClassifierCV(FrozenEstimator(forest), method=method).fit(xh, yh)
    ph = calibrated.predict_proba(xh)[:, 1]
    curve = _curve(ph, yh)
    threshold, fpr, recall = _pick(curve, max_fpr)
    lead = _lead_history(ph, yh, threshold, minutes_to_failure, held, horizon_minutes)
    return FailureModel(
        estimator=calibrated,
        feature_names=list(FEATURE_NAMES),
        horizon_minutes=horizon_minutes,
        threshold=threshold,
        max_fpr=max_fpr,
        calibration=method,
        importances=dict(zip(FEATURE_NAMES, forest.feature_importances_.tolist(), strict=True)),
        baseline=_baseline(pd.DataFrame(X[fit], columns=FEATURE_NAMES), y[fit]),
        lead_minutes=lead,
        heldout={
            "fpr": fpr,
            "recall": recall,
            "rows": float(len(yh)),
            "positives": float(yh.sum()),
        },
        heldout_curve=curve,
        rows=len(y),
        positives=int(y.sum()),
    )


def _heldout(y: np.ndarray, groups, times) -> np.ndarray:
    """Whole groups when there are at least 4 (every 4th after sorting by failures, so both
    sides have some); otherwise the latest 25% of times."""
    if groups is not None and pd.Series(np.asarray(groups, dtype=object)).nunique() >= 4:
        g = pd.Series(np.asarray(groups, dtype=object))
        pos = pd.Series(y).groupby(g).sum().sort_values(kind="stable")
        held = g.isin(set(pos.index[3::4])).to_numpy()
        if y[held].sum() and y[~held].sum():
            return held
    if times is not None:
        t = pd.to_datetime(pd.Series(np.asarray(times)), utc=True)
        held = (t >= t.quantile(0.75)).to_numpy()
        if y[held].sum() and y[~held].sum():
            return held
    raise ValueError(
        "cannot set aside a held-out slice with failures on both sides: give groups (one id "
        "per history, at least 4) or times whose last quarter holds failures"
    )


def _subsample(idx: np.ndarray, y: np.ndarray, ratio: int, rng) -> np.ndarray:
    pos, neg = idx[y[idx] == 1], idx[y[idx] == 0]
    keep = min(len(neg), max(ratio * len(pos), 1000))
    return np.sort(np.r_[pos, rng.choice(neg, size=keep, replace=False)])


def _curve(p: np.ndarray, y: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, false-positive rate, recall) at each distinct probability (at most ~200)."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    fpr = np.cumsum(ys == 0) / max(int((y == 0).sum()), 1)
    recall = np.cumsum(ys == 1) / max(int(y.sum()), 1)
    last = np.flatnonzero(np.r_[ps[1:] != ps[:-1], True])  # each distinct probability
    last = last[np.unique(np.linspace(0, len(last) - 1, 200).astype(int))] if len(last) else last
    return [(float(ps[i]), float(fpr[i]), float(recall[i])) for i in last]


def _pick(curve: list[tuple[float, float, float]], max_fpr: float) -> tuple[float, float, float]:
    """The lowest threshold whose held-out false-positive rate is <= max_fpr."""
    ok = [point for point in curve if point[1] <= max_fpr]
    return ok[-1] if ok else (1.0, 0.0, 0.0)


def _lead_history(p, y, threshold, minutes, held, horizon) -> float:
    if minutes is None:
        return horizon / 2
    m = np.asarray(minutes, dtype=float)[held]
    hit = (p >= threshold) & (y == 1) & ~np.isnan(m)
    return float(np.median(m[hit])) if hit.any() else horizon / 2


def _baseline(X: pd.DataFrame, y: np.ndarray) -> dict[str, tuple[float, float, float]]:
    healthy, failing = X[y == 0], X[y == 1]
    out = {}
    for name in FEATURE_NAMES:
        q1, median, q3 = np.percentile(healthy[name], [25, 50, 75])
        scale = max(q3 - q1, healthy[name].std(), 1e-3 * max(abs(median), 1.0), 1e-6)
        sign = np.sign(failing[name].mean() - median) if len(failing) else 1.0
        out[name] = (float(median), float(scale), float(sign or 1.0))
    return out


LEVELS = [(80, "critical"), (50, "high"), (30, "medium")]  # risk cut points; below: low


def _risk(p: np.ndarray, threshold: float) -> np.ndarray:
    """0-100, monotone in p, with the operating threshold at exactly 50 (NaN stays NaN)."""
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    return 100 * np.power(np.clip(p, 0, 1), math.log(0.5) / math.log(t))


def _levels(risk: np.ndarray) -> np.ndarray:
    r = np.nan_to_num(risk, nan=-1.0)
    names = [name for _, name in LEVELS]
    return np.select([np.isnan(risk)] + [r >= cut for cut, _ in LEVELS], ["unknown", *names], "low")


def _missing(features: pd.DataFrame, ok: np.ndarray) -> list[str]:
    out = []
    for hist, n, good in zip(features["history_minutes"], features["samples"], ok, strict=True):
        if good:
            out.append("")
        elif hist < MIN_HISTORY_MINUTES:
            out.append(f"need {MIN_HISTORY_MINUTES:g} min of samples, have {hist:.1f}")
        else:
            out.append(f"need {MIN_SAMPLES} samples in the last 10 min, have {int(n)}")
    return out


# --- words ------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _phrase(group: str, r: dict, horizon: float = 15) -> str:
    if group == "memory":
        return _resource(
            "memory",
            r["mem_limit_ratio"],
            (r["mem_slope"], r["mem_slope_10m"]),
            r["mem_limit_known"],
            r["mem_request_ratio"],
            r["mem_growth"],
            horizon,
        )
    if group == "cpu":
        return _resource(
            "CPU",
            r["cpu_limit_ratio"],
            (r["cpu_slope"], r["cpu_slope"]),  # already over 10 minutes
            r["cpu_limit_known"],
            r["cpu_request_ratio"],
            None,
            horizon,
        )
    if group == "restarts":
        if r["restarts_10m"] >= 1:
            return f"{r['restarts_10m']:.0f} restarts in the last 10 min"
        if r["youngest_container_minutes"] < 15:
            return f"a container started {r['youngest_container_minutes']:.0f} min ago"
        return ""
    if group == "oom":
        n = max(r["oom_kills_10m"], r["ev_oom_10m"])
        return f"{n:.0f} OOM kills in the last 10 min" if n >= 1 else ""
    if group == "readiness":
        return _readiness(r)
    if group == "node":
        return _node(r)
    if group == "rollout":
        since = r["minutes_since_rollout"]
        return f"rolled out {since:.0f} min ago" if since < 30 else ""
    n = r[group]
    return f"{n:.0f} {FEATURE_INFO[group].description}" if n >= 1 else ""


# "Rising" means the 3-minute and the 10-minute windows agree on a rise of over 0.2% of the
# limit a minute: one window alone is mostly noise (a slope maxed over pods).
RISING = 0.002
TREND_COLUMNS = ["mem_limit_ratio", "mem_slope", "mem_slope_10m", "cpu_limit_ratio", "cpu_slope"]


def rising_rate(short, long):
    """The recent (3-minute) rate where the 10-minute window agrees that it rises, else 0: the
    short window sees a leak that just began, the long one keeps noise from counting."""
    short, long = np.asarray(short, dtype=float), np.asarray(long, dtype=float)
    return np.where((short > RISING) & (long > RISING), short, 0.0)


def minutes_to_limit(ratio, short, long):
    """Minutes until the limit at the rising rate (inf when not rising); the one number the
    reasons and the expected lead both use."""
    rate = rising_rate(short, long)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(
            rate > 0, np.clip(1 - np.asarray(ratio, dtype=float), 0, None) / rate, np.inf
        )
    return out


def _resource(what, ratio, slopes, known, request_ratio, growth, horizon) -> str:
    """Words about a resource only when they explain a failure within the horizon: usage near
    its limit, or rising to it within the horizon. A slow rise far from the limit is said
    nothing about (it contradicted an expected lead of minutes)."""
    if known > 0:
        rate = float(rising_rate(*slopes))
        to_limit = float(minutes_to_limit(ratio, *slopes))
        soon = to_limit <= horizon
        if ratio < 0.8 and not soon:
            return ""
        words = f"{what} at {_pct(ratio)} of limit"
        if rate > 0:
            words += f", rising {100 * rate:.1f}%/min"
        if soon:
            words += f" (limit in ~{max(1, round(to_limit))} min)"
        return words
    words = f"{what} at {_pct(request_ratio)} of request (no limit set)"
    if growth is not None and growth > 0.5:
        words += f", growing {growth:.1f}%/min"
    return words


def _readiness(r: dict) -> str:
    total = int(r["containers"])
    if r["unscheduled_share"] > 0:
        return f"{round(r['unscheduled_share'] * total)} of {total} containers not scheduled"
    if r["waiting_share"] > 0:
        return f"{round(r['waiting_share'] * total)} of {total} containers waiting (back-off)"
    if r["ready_share"] < 1:
        return f"{total - round(r['ready_share'] * total)} of {total} containers not ready"
    if r["replicas_ready_share"] < 1:
        return f"only {_pct(r['replicas_ready_share'])} of replicas ready"
    return ""


def _node(r: dict) -> str:
    name = r.get("node_hint") or ("this node" if r["is_node"] else "a node")
    if r["node_not_ready_share"] > 0:
        return f"node {name} NotReady"
    if r["node_pressure_share"] > 0:
        return f"node {name} under resource pressure"
    if r["node_unschedulable_share"] > 0:
        return "on a cordoned node"
    if r["node_mem_ratio"] > 0.8:
        return f"node memory at {_pct(r['node_mem_ratio'])} of allocatable"
    if r["node_metrics_missing"] > 0:
        return "node usage not reported"
    return ""


def lead_text(minutes: float | None, basis: str) -> str:
    """The expected lead in words, saying where it comes from — the one phrasing the
    Predictions page, the API and an incident all use."""
    if minutes is None or (isinstance(minutes, float) and math.isnan(minutes)):
        return ""
    source = "at the current rate" if basis == "trend" else "the usual lead before such failures"
    return f"expected in ~{max(1, round(minutes))} min ({source})"
