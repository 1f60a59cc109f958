"""The combined detector: fit on mostly normal history, score new rows, explain one.

Five detectors look at the same residuals: robust z-scores minus the seasonal baseline
(seasonal.py), over their out-of-fold spread, so 1 is a typical deviation for every metric:
- level: the rolling median residual over the last window / 2 rows, largest over metrics (held
  away from normal for this time of day: shifts, drifts, broken daily curves);
- local: the windowed robust z of each row's step, largest over metrics (spikes, onsets);
- volatility: the change in short-term noise, largest over metrics (noisier, or stuck flat);
- pca: the PCA reconstruction error (metrics that usually move together no longer do);
- iforest: an Isolation Forest (rows unlike any combination seen in training).
Per-metric evidence is divided by its own training 99th percentile (features.TailNorm) so an
error counter and a CPU series weigh the same. Each raw score is calibrated against its own
training distribution (calibrate.py), and `combine` turns the calibrated scores into one.
The baseline, PCA and the forest are scored out of fold on the training data, so calibration
and threshold do not learn from rows a model was fitted on. Pure: numpy, pandas, scikit-learn.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import IsolationForest

from .calibrate import Calibrator
from .features import PcaResidual, TailNorm, typical_step, window_evidence
from .forest import anomaly_scores
from .prep import CLIP, RobustScale, as_matrix, check_train, nan_median, robust_spread
from .seasonal import Profile, fit_profile

DEFAULT_CONTAMINATION = 0.03  # of training rows past the threshold: tuned on ASD (benchmarks)
DEFAULT_WINDOW = 16
SMOOTH = 3  # rows in the trailing mean of the combined score: anomalies last, noise does not
# Alarms: raised where the score is at the threshold in at least RAISE_K of the last RAISE_N
# rows; an alarm lasts while the score stays above the threshold's CLEAR_SHARE (hysteresis).
RAISE_K, RAISE_N = 2, 3
CLEAR_SHARE = 0.8
CONSENSUS = ("level", "local", "pca", "iforest")  # volatility votes only among the top two
TOP_WEIGHT = 0.3
# The product's budget: how many rows a day of a normal entity may read past the threshold
# (with persistence that is about one alarm episode a day at most; benchmarks/alarms.py).
ALARM_ROWS_PER_DAY = 4.0


def contamination_for(step_seconds: float, rows_per_day: float = ALARM_ROWS_PER_DAY) -> float:
    """The share of training rows past the threshold that spends the alarm budget at this
    sampling interval: rare for the entity over days, whatever the number of entities."""
    return min(DEFAULT_CONTAMINATION, rows_per_day * step_seconds / 86_400)


FOLDS = 3
TREES = 50  # the forest is the weakest detector here; 50 trees halve its scoring time
PER_METRIC = ("level", "local", "volatility", "pca")
COMPONENTS = (*PER_METRIC, "iforest")

Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Evidence:
    """Per-metric evidence for each row (normalised so 1 is a training 99th percentile)."""

    metrics: dict[str, np.ndarray]  # component -> (rows, metrics)
    forest: np.ndarray | None  # (rows,) Isolation Forest anomaly score

    def raw_scores(self) -> dict[str, np.ndarray]:
        """Per detector, one raw score per row: the strongest metric's evidence (a single
        metric going wrong is the common case, and a mean over 100 metrics would hide it)."""
        raw = {name: values.max(axis=1) for name, values in self.metrics.items()}
        if self.forest is not None:
            raw["iforest"] = self.forest
        return raw


@dataclass(frozen=True)
class Detector:
    """A fitted detector. Row positions count from the first training row (see `score`)."""

    n_metrics: int
    n_train: int
    window: int
    contamination: float
    scale: RobustScale
    profile: Profile
    residual_scale: np.ndarray
    context: np.ndarray  # the last rows of the training residuals, for windows over a test
    steps: np.ndarray  # typical short-term noise per metric
    norms: dict[str, TailNorm]
    pca: PcaResidual | None
    forest: IsolationForest | None
    calibrators: dict[str, Calibrator]
    threshold: float
    # The last combined training scores, for the smoothing window (older pickles lack it).
    context_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def period(self) -> int | None:
        """The seasonal period in rows learned from training data, if any."""
        return self.profile.period

    def score(self, data: object, *, start: int | None = None) -> np.ndarray:
        """One finite anomaly score per row of `data`; `score >= threshold` flags it.

        `data` is time-ordered. By default it is taken to follow the training data directly, so
        the seasonal clock continues and the windows start from the tail of the training data.
        `start` places its first row elsewhere on the training timeline (0: re-scoring the
        training rows themselves); the windows then warm up on `data` alone.
        """
        combined = combine(self.component_scores(data, start=start))
        start = self.n_train if start is None else int(start)
        tail = getattr(self, "context_scores", combined[:0])
        context = tail if start == self.n_train else combined[:0]
        return smooth(np.concatenate([context, combined]))[len(context) :]

    def alarms(self, data: object, *, start: int | None = None) -> np.ndarray:
        """Which rows are in an alarm: raised where at least RAISE_K of the last RAISE_N
        scores reach the threshold (a lone row is not enough), held while the score stays
        above CLEAR_SHARE of it (no flapping around the line)."""
        return self.alarms_of(self.score(data, start=start))

    def alarms_of(self, scores: np.ndarray) -> np.ndarray:
        """`alarms` for scores `score` already returned: one scoring instead of two."""
        return hysteresis(scores, self.threshold)

    def component_scores(self, data: object, *, start: int | None = None) -> dict[str, np.ndarray]:
        """Each detector's calibrated score (surprise) per row; `score` combines them."""
        raw = self._evidence(data, start).raw_scores()
        return {name: self.calibrators[name].surprise(raw[name]) for name in raw}

    def explain(
        self, data: object, row: int, *, start: int | None = None
    ) -> list[tuple[int, float]]:
        """(metric index, share of the row's evidence) for every metric, largest first.

        For each per-metric detector, a metric's share of that detector's squared evidence on
        the row, weighted by how surprised the detector is (its calibrated score); the weighted
        shares are normalised to sum to 1. The forest has no per-metric view and does not
        vote. So "0.8 for metric 3" reads: 80% of what makes this row unusual is metric 3.
        """
        evidence = self._evidence(data, start)
        n = len(evidence.metrics["level"])
        if not -n <= row < n:
            raise IndexError(f"row {row} is out of range for {n} rows")
        raw = evidence.raw_scores()
        total = np.zeros(self.n_metrics)
        for name, values in evidence.metrics.items():
            weight = max(float(self.calibrators[name].surprise(raw[name][[row]])[0]), 0.0)
            squared = values[row] ** 2
            if squared.sum() > 0:
                total += weight * squared / squared.sum()
        shares = (
            total / total.sum() if total.sum() > 0 else np.full(self.n_metrics, 1 / self.n_metrics)
        )
        order = np.argsort(-shares, kind="stable")
        return [(int(j), float(shares[j])) for j in order]

    def _residuals(self, data: object, start: int) -> np.ndarray:
        x = as_matrix(data, what="data")
        if x.shape[0] == 0:
            raise ValueError("data has no rows")
        if x.shape[1] != self.n_metrics:
            raise ValueError(
                f"data has {x.shape[1]} metrics, the detector was fitted on {self.n_metrics}"
            )
        return residuals(self.scale, self.profile, self.residual_scale, x, start)

    def _evidence(self, data: object, start: int | None) -> Evidence:
        start = self.n_train if start is None else int(start)
        if start < 0:
            raise ValueError(f"start must be 0 or more, got {start}")
        r = self._residuals(data, start)
        context = self.context if start == self.n_train else r[:0]
        level, local, volatility = window_evidence(np.vstack([context, r]), self.window, self.steps)
        skip = len(context)
        metrics = {
            "level": self.norms["level"].apply(level[skip:]),
            "local": self.norms["local"].apply(local[skip:]),
            "volatility": self.norms["volatility"].apply(volatility[skip:]),
        }
        if self.pca is not None:
            metrics["pca"] = self.norms["pca"].apply(self.pca.errors(r))
        forest = anomaly_scores(self.forest, r) if self.forest is not None else None
        return Evidence(metrics=metrics, forest=forest)


def combine(surprises: dict[str, np.ndarray]) -> np.ndarray:
    """The row's score: TOP_WEIGHT x the mean of its two largest calibrated scores, plus the
    rest x the mean of the level, local, PCA and forest detectors (those fitted).

    A real anomaly usually shows in more than one detector, a false alarm usually in one: the
    top two give a second opinion (and let volatility — noisier, or stuck flat — speak), the
    consensus of the four keeps a lone detector's noise down. Weighted so on the real server
    metrics of ASD (benchmarks/anomaly_real.py) and the synthetic set (benchmarks/anomaly.py)
    both rank anomalies better than either part alone would on the other.
    """
    top = np.sort(np.vstack(list(surprises.values())), axis=0)[-2:].mean(axis=0)
    consensus = np.mean([surprises[k] for k in CONSENSUS if k in surprises], axis=0)
    return TOP_WEIGHT * top + (1 - TOP_WEIGHT) * consensus


def smooth(scores: np.ndarray, rows: int = SMOOTH) -> np.ndarray:
    """Trailing mean over `rows` (fewer at the start): causal, so a row never sees the future."""
    if rows <= 1 or scores.size == 0:
        return scores
    c = np.cumsum(np.concatenate([[0.0], scores]))
    i = np.arange(1, scores.size + 1)
    lo = np.maximum(i - rows, 0)
    return (c[i] - c[lo]) / (i - lo)


def hysteresis(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Alarm rows: raised where RAISE_K of the last RAISE_N rows reach `threshold`, kept while
    the score stays at or above CLEAR_SHARE x threshold. One pass, bounded by the rows."""
    hit = scores >= threshold
    recent = np.convolve(hit.astype(int), np.ones(RAISE_N, dtype=int))[: scores.size]
    raise_ = recent >= RAISE_K
    keep = scores >= threshold * CLEAR_SHARE if threshold > 0 else scores >= threshold
    out = np.zeros(scores.size, dtype=bool)
    on = False
    for i in range(scores.size):
        on = raise_[i] or (on and keep[i])
        out[i] = on
    return out


def residuals(
    scale: RobustScale, profile: Profile, spread: np.ndarray, x: np.ndarray, start: int
) -> np.ndarray:
    """Robust z minus the seasonal baseline, over the residual spread; a gap becomes 0 (the
    training median for that time of day), so a row with NaN still scores."""
    res = (scale.transform(x) - profile.expected(start, len(x))) / spread
    return np.clip(np.nan_to_num(res, nan=0.0), -CLIP, CLIP)


def fit(
    train: object,
    *,
    contamination: float = DEFAULT_CONTAMINATION,
    window: int = DEFAULT_WINDOW,
    random_state: int = 0,
) -> Detector:
    """Learn normal behaviour from `train` (rows, metrics), time-ordered and mostly normal.

    `window` is the number of past rows the windowed statistics look at (16 five-minute rows:
    80 minutes). The threshold is the (1 - contamination) quantile of the training rows' scores,
    learned without labels.
    """
    if not 0 < contamination < 0.5:
        raise ValueError(f"contamination must be between 0 and 0.5, got {contamination}")
    if int(window) != window or window < 3:
        raise ValueError(f"window must be a whole number of rows, 3 or more, got {window}")
    x = as_matrix(train, what="train")
    check_train(x)
    scale, profile, spread, r = _residual_model(x)
    norms, pca, forest, evidence = _learn_evidence(r, int(window), random_state)
    raw = evidence.raw_scores()
    calibrators = {name: Calibrator.fit(values) for name, values in raw.items()}
    combined = combine({name: calibrators[name].surprise(raw[name]) for name in raw})
    scores = smooth(combined)
    return Detector(
        n_metrics=x.shape[1],
        n_train=x.shape[0],
        window=int(window),
        contamination=float(contamination),
        scale=scale,
        profile=profile,
        residual_scale=spread,
        context=r[-(int(window) + 3) :],  # 3 more: each step compares with the 3 rows before
        steps=typical_step(r),
        norms=norms,
        pca=pca,
        forest=forest,
        calibrators=calibrators,
        threshold=tail_threshold(scores, contamination),
        context_scores=combined[-(SMOOTH - 1) :] if SMOOTH > 1 else combined[:0],
    )


def tail_threshold(scores: np.ndarray, rate: float) -> float:
    """The score a training row exceeds with probability `rate`: the empirical quantile while
    the training data holds enough rows beyond it, else extrapolated along the tail fitted to
    the top of the training scores (peaks over threshold, calibrate.py) — so a budget of one
    alarm a day at 30-second rows (rate 1/2880) is meaningful from 6 hours of history."""
    if rate * len(scores) >= 10:
        return float(np.quantile(scores, 1 - rate))
    tail = Calibrator.fit(scores)
    return float(tail.value_at(-np.log10(rate)))


def _residual_model(x: np.ndarray) -> tuple[RobustScale, Profile, np.ndarray, np.ndarray]:
    """(scaler, seasonal baseline, residual spread, out-of-fold training residuals)."""
    scale = RobustScale.fit(x)
    z = scale.transform(x)
    profile, held_out = fit_profile(z)
    res = z - held_out
    ones = np.ones(x.shape[1])
    spread = np.maximum(robust_spread(res, nan_median(res), 1e-9 * ones, ones), 0.01)
    return scale, profile, spread, np.clip(np.nan_to_num(res / spread, nan=0.0), -CLIP, CLIP)


def _learn_evidence(
    r: np.ndarray, window: int, random_state: int
) -> tuple[dict[str, TailNorm], PcaResidual | None, IsolationForest, Evidence]:
    """Fit the per-metric norms, PCA and the forest on training residuals `r`, and return the
    training rows' evidence (PCA and forest out of fold) for calibration."""
    level, local, volatility = window_evidence(r, window, typical_step(r))
    values = {"level": level, "local": local, "volatility": volatility}
    pca = None
    if r.shape[1] > 1:
        values["pca"] = _out_of_fold(r, lambda part: PcaResidual.fit(part).errors)
        pca = PcaResidual.fit(r)
    # Volatility is a log ratio whose typical value need not be 0; the others centre on 0.
    norms = {name: TailNorm.fit(v, centered=name == "volatility") for name, v in values.items()}
    metrics = {name: norms[name].apply(v) for name, v in values.items()}
    forest_oof = _out_of_fold(r, lambda part: _forest_scorer(_forest(part, random_state)))
    evidence = Evidence(metrics=metrics, forest=forest_oof)
    return norms, pca, _forest(r, random_state), evidence


def _forest(r: np.ndarray, random_state: int) -> IsolationForest:
    model = IsolationForest(
        n_estimators=TREES, max_samples=min(256, len(r)), random_state=random_state
    )
    return model.fit(r)


def _forest_scorer(forest: IsolationForest) -> Scorer:
    return lambda rows: anomaly_scores(forest, rows)


def _out_of_fold(r: np.ndarray, fit_on: Callable[[np.ndarray], Scorer]) -> np.ndarray:
    """Score each of FOLDS contiguous blocks with a model fitted on the other blocks."""
    parts = np.array_split(np.arange(len(r)), FOLDS)
    scored = [fit_on(np.delete(r, part, axis=0))(r[part]) for part in parts]
    return np.concatenate(scored, axis=0)
