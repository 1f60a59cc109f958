"""Capacity forecast: a usage or request series projected forward with intervals, and the
first time it would cross allocatable capacity. Pure (pandas, statsmodels); no Django.

Input is a `pd.Series` of numbers on a `DatetimeIndex` (e.g. hourly means of cluster CPU
millicores used, or requested) and the capacity in the same unit.

Rules and defaults:
- Spacing: the step is the median gap between timestamps. Points more than 10% of a step off
  the grid make the series irregular: it is averaged into buckets of the nearest round step
  (1, 2, 5, 10, 15, 20, 30 min, 1, 2, 3, 6, 12 h, 1 d) and the result says so. Runs of up
  to `max_gap_steps` (default 6) missing points are filled by linear interpolation; a longer
  gap is refused with a message (`SeriesError`). A horizon of over 5,000 steps is refused:
  resample to a coarser step first.
- Model: statsmodels Holt-Winters (`ExponentialSmoothing`, heuristic initialisation), additive
  trend and additive seasonality: weekly with at least 2 full weeks of points, else daily with
  at least 2 full days, else trend only (Holt). Below 12 points there is no forecast and the
  result says how much more history is needed. The trend is fitted both damped and undamped
  and the lower AICc wins: on a steady linear trend the damping parameter sits at its bound
  (0.995) and a damped model projects only a third to a half of the growth over 14 days.
- Intervals (80% and 95%) are simulated, not √h: 500 paths of the fitted state-space model
  driven by normal errors with the in-sample residuals' standard deviation (seeded, so the
  same input gives the same output). Their half-widths are made non-decreasing with the
  horizon (removing Monte Carlo noise) and every band, like the mean, is clipped at 0.
- Crossing: the first forecast time at which the mean (or the upper 95% bound) is at or above
  capacity; None when that does not happen within the horizon (default 14 days).
- statsmodels' ConvergenceWarning is silenced; `converged` reports it instead.
"""

import warnings
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.holtwinters.results import HoltWintersResults

DEFAULT_HORIZON = timedelta(days=14)
MIN_POINTS = 12
MAX_GAP_STEPS = 6
NICE_STEPS = [
    pd.Timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 360, 720, 1440)
]
OFF_GRID_TOLERANCE = 0.1  # share of a step
MAX_HORIZON_STEPS = 5000
SIMULATIONS = 500
SEED = 20240607
QUANTILES = {"80": (0.10, 0.90), "95": (0.025, 0.975)}


class SeriesError(ValueError):
    """The series cannot be forecast as given (a long gap, no time index...)."""


@dataclass(frozen=True)
class Regular:
    series: pd.Series
    step: pd.Timedelta
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Forecast:
    ok: bool
    message: str
    model: str
    capacity: float
    timestamps: pd.DatetimeIndex
    mean: np.ndarray
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    crosses_at: pd.Timestamp | None = None
    upper_95_crosses_at: pd.Timestamp | None = None
    residual_std: float = float("nan")
    converged: bool = True
    more_history_needed: pd.Timedelta | None = None
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Backtest:
    model: str
    train_points: int
    test_points: int
    mae: float
    mape_pct: float
    coverage_80: float
    coverage_95: float


@dataclass(frozen=True)
class _Fit:
    results: HoltWintersResults
    label: str
    converged: bool
    residual_std: float


def _human(delta: pd.Timedelta) -> str:
    """'1 h', '30 min', '2 d 3 h': for messages."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (mins, "min")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or "0 min"


def regularize(series: pd.Series, *, max_gap_steps: int = MAX_GAP_STEPS) -> Regular:
    """Sort, average duplicates, put the points on a regular grid and fill short gaps."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise SeriesError("the series needs a DatetimeIndex (timestamps), not positions")
    s = series.astype(float).dropna().sort_index()
    s = s.groupby(level=0).mean()
    if len(s) < 2:
        return Regular(s, pd.Timedelta(0))
    step = pd.Timedelta(s.index.to_series().diff().median())
    offsets = (s.index - s.index[0]) / step
    off_by = float(np.max(np.abs(offsets - np.round(offsets))))
    notes: list[str] = []
    if off_by > OFF_GRID_TOLERANCE:
        median, step = step, _nice_step(step)
        notes.append(
            f"irregular timestamps (up to {_human(off_by * median)} off a {_human(median)} "
            f"grid): averaged into {_human(step)} buckets"
        )
        grid = s.resample(step, origin=s.index[0]).mean()
    else:
        grid = s.groupby(s.index[0] + np.round(offsets).astype(int) * step).mean()
        grid = grid.reindex(pd.date_range(grid.index[0], grid.index[-1], freq=step))
    return Regular(_fill_gaps(grid, step, max_gap_steps, notes), step, tuple(notes))


def _nice_step(step: pd.Timedelta) -> pd.Timedelta:
    """The bucket for an irregular series: the nearest of 1, 2, 5, 10, 15, 20, 30 min, 1 h..."""
    ratio = [abs(np.log(step / nice)) for nice in NICE_STEPS]
    return NICE_STEPS[int(np.argmin(ratio))]


def _fill_gaps(grid: pd.Series, step: pd.Timedelta, max_steps: int, notes: list[str]) -> pd.Series:
    missing = grid.isna().to_numpy()
    if not missing.any():
        return grid
    run_id = np.cumsum(~missing)
    runs = pd.Series(run_id[missing]).value_counts()
    longest = int(runs.max())
    if longest > max_steps:
        start = grid.index[np.argmax(run_id == runs.idxmax()) + 1]
        prefix = f"{notes[0]}; " if notes else ""
        raise SeriesError(
            f"{prefix}gap of {_human(longest * step)} ({longest} missing points) from {start}: "
            f"only gaps up to {max_steps} points are filled; forecast from the data after it"
        )
    notes.append(
        f"filled {int(missing.sum())} missing points (longest gap {_human(longest * step)}) "
        "by linear interpolation"
    )
    return grid.interpolate(method="linear")


def seasonal_periods(points: int, step: pd.Timedelta) -> tuple[int | None, str]:
    """Season length in steps and its name: weekly, daily or none (trend only)."""
    for name, length in (("weekly", pd.Timedelta(days=7)), ("daily", pd.Timedelta(days=1))):
        per, rest = divmod(length, step)
        if rest == pd.Timedelta(0) and per >= 2 and points >= 2 * per:
            return int(per), name
    return None, ""


def forecast(
    series: pd.Series,
    capacity: float,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
    max_gap_steps: int = MAX_GAP_STEPS,
) -> Forecast:
    """Project `series` `horizon` ahead and find when it would cross `capacity`."""
    try:
        regular = regularize(series, max_gap_steps=max_gap_steps)
    except SeriesError as exc:
        return _no_forecast(str(exc), capacity)
    short = _not_enough(regular, capacity)
    if short:
        return short
    steps = _horizon_steps(horizon, regular.step)
    # A flat series has a zero SSE, whose log (in statsmodels' AIC) is -inf, not an error.
    with np.errstate(divide="ignore"):
        fit = _fit(regular.series.to_numpy(), regular.step)
        bands = _bands(fit, steps)
    timestamps = regular.series.index[-1] + regular.step * np.arange(1, steps + 1)
    return Forecast(
        ok=True,
        message=_summary(fit.label, regular, timestamps, bands, capacity),
        model=fit.label,
        capacity=float(capacity),
        timestamps=pd.DatetimeIndex(timestamps),
        **bands,
        crosses_at=_first_crossing(timestamps, bands["mean"], capacity),
        upper_95_crosses_at=_first_crossing(timestamps, bands["upper_95"], capacity),
        residual_std=fit.residual_std,
        converged=fit.converged,
        notes=regular.notes + (() if fit.converged else ("the optimiser did not converge",)),
    )


def _no_forecast(
    message: str,
    capacity: float,
    *,
    needed: pd.Timedelta | None = None,
    notes: tuple[str, ...] = (),
) -> Forecast:
    empty = np.array([], dtype=float)
    return Forecast(
        ok=False,
        message=message,
        model="none",
        capacity=float(capacity),
        timestamps=pd.DatetimeIndex([]),
        mean=empty,
        lower_80=empty,
        upper_80=empty,
        lower_95=empty,
        upper_95=empty,
        more_history_needed=needed,
        notes=notes,
    )


def _not_enough(regular: Regular, capacity: float) -> Forecast | None:
    have = len(regular.series)
    if have >= MIN_POINTS:
        return None
    more = MIN_POINTS - have
    step = regular.step if regular.step > pd.Timedelta(0) else None
    every = f" {_human(step)}" if step else ""
    needed = more * step if step else None
    span = f" ({_human(needed)})" if needed else ""
    message = (
        f"not enough history: {have} points, a forecast needs at least {MIN_POINTS}; "
        f"{more} more{every} points{span} needed"
    )
    return _no_forecast(message, capacity, needed=needed, notes=regular.notes)


def _horizon_steps(horizon: timedelta, step: pd.Timedelta) -> int:
    steps = int(pd.Timedelta(horizon) // step)
    if steps < 1:
        raise ValueError(f"horizon {horizon} is shorter than the series step {_human(step)}")
    if steps > MAX_HORIZON_STEPS:
        raise ValueError(
            f"horizon {horizon} is {steps} steps of {_human(step)}: resample to a coarser step "
            f"(at most {MAX_HORIZON_STEPS} steps)"
        )
    return steps


def _fit(y: np.ndarray, step: pd.Timedelta) -> _Fit:
    """Fit damped and undamped trend; keep the one with the lower AICc."""
    period, season = seasonal_periods(len(y), step)
    damped_fit, plain_fit = _fit_one(y, period, True), _fit_one(y, period, False)
    damped = bool(damped_fit[0].aicc < plain_fit[0].aicc)
    results, converged = damped_fit if damped else plain_fit
    trend = "additive trend (damped)" if damped else "additive trend"
    if period:
        label = f"Holt-Winters, {trend}, {season} seasonality"
    else:
        label = f"Holt, {trend}, no seasonality"
    resid_std = float(np.std(results.resid, ddof=1))
    return _Fit(results, label, converged, resid_std)


def _fit_one(y: np.ndarray, period: int | None, damped: bool) -> tuple[HoltWintersResults, bool]:
    model = ExponentialSmoothing(
        y,
        trend="add",
        damped_trend=damped,
        seasonal="add" if period else None,
        seasonal_periods=period,
        initialization_method="heuristic",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        results = model.fit(use_brute=False)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    success = bool(getattr(results.mle_retvals, "success", True))
    noisy = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return results, success and not noisy


def _bands(fit: _Fit, steps: int) -> dict[str, np.ndarray]:
    """Mean and simulated 80%/95% bands, widening with the horizon and never negative."""
    mean = np.asarray(fit.results.forecast(steps), dtype=float)
    rng = np.random.default_rng(SEED)
    errors = rng.standard_normal((steps, SIMULATIONS)) * fit.residual_std
    paths = np.asarray(fit.results.simulate(steps, repetitions=SIMULATIONS, random_errors=errors))
    bands = {"mean": np.clip(mean, 0, None)}
    for level, (lo, hi) in QUANTILES.items():
        low, high = np.quantile(paths, [lo, hi], axis=1)
        below = np.maximum.accumulate(np.maximum(mean - low, 0))
        above = np.maximum.accumulate(np.maximum(high - mean, 0))
        bands[f"lower_{level}"] = np.clip(mean - below, 0, None)
        bands[f"upper_{level}"] = np.clip(mean + above, 0, None)
    return bands


def _first_crossing(
    timestamps: pd.DatetimeIndex, values: np.ndarray, capacity: float
) -> pd.Timestamp | None:
    over = np.flatnonzero(values >= capacity)
    return pd.Timestamp(timestamps[over[0]]) if over.size else None


def _summary(
    label: str,
    regular: Regular,
    timestamps: pd.DatetimeIndex,
    bands: dict[str, np.ndarray],
    capacity: float,
) -> str:
    span = _human(timestamps[-1] - regular.series.index[-1])
    mean_at = _first_crossing(timestamps, bands["mean"], capacity)
    upper_at = _first_crossing(timestamps, bands["upper_95"], capacity)
    if mean_at is not None:
        return f"{label}: the forecast reaches capacity at {mean_at}"
    if upper_at is not None:
        return f"{label}: below capacity for {span}; the upper 95% bound reaches it at {upper_at}"
    return f"{label}: stays below capacity for the next {span}, even at the upper 95% bound"


def backtest(series: pd.Series, holdout: float = 0.2) -> Backtest:
    """Fit on the first (1 - holdout) of the series and score the forecast of the rest."""
    if not 0 < holdout < 1:
        raise ValueError("holdout is a share between 0 and 1")
    regular = regularize(series)
    test_points = max(1, round(len(regular.series) * holdout))
    train = regular.series.iloc[:-test_points]
    test = regular.series.iloc[-test_points:].to_numpy()
    result = forecast(train, float("inf"), horizon=test_points * regular.step)
    if not result.ok:
        raise SeriesError(f"cannot backtest: {result.message}")
    error = np.abs(result.mean - test)
    nonzero = test != 0
    mape = np.mean(error[nonzero] / np.abs(test[nonzero])) if nonzero.any() else np.nan
    return Backtest(
        model=result.model,
        train_points=len(train),
        test_points=test_points,
        mae=float(error.mean()),
        mape_pct=float(100 * mape),
        coverage_80=_coverage(test, result.lower_80, result.upper_80),
        coverage_95=_coverage(test, result.lower_95, result.upper_95),
    )


def _coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean((actual >= lower) & (actual <= upper)))
