"""The length of the metrics' cycle (a day, a week), in rows, by autocorrelation. Pure: numpy.

Rows are time steps; a cycle is found only if it repeats at least MIN_CYCLES times in the
training data and stands out clearly, so a trend, a random walk or plain noise has none.
"""

import numpy as np
import pandas as pd

MIN_CYCLES = 2
MIN_LAG = 4
MIN_ACF = 0.3
MIN_PROMINENCE = 0.1  # a peak must rise this far above the lowest autocorrelation before it
PREFER_LONGER = 0.05  # a multiple of the cycle must beat its autocorrelation by this much


def find_period(z: np.ndarray) -> int | None:
    """The cycle length in rows of `z` (rows, metrics; no NaN), or None.

    First the shortest convincing cycle (a day), measured precisely; then a whole multiple of it
    (a week of days) if that repeats clearly better, as when weekends differ from weekdays.
    A multiple of a precise short cycle stays exact, where a long cycle measured directly from
    two or three repeats would not.
    """
    n = z.shape[0]
    if n // MIN_CYCLES < 2 * MIN_LAG:
        return None
    acf = pooled_acf(z, n // MIN_CYCLES + 2)
    candidates = _candidates(acf, n)
    if candidates.size == 0:
        return None
    base = _whole_period(z, refine_period(acf, int(candidates[0])))
    return base * _best_multiple(acf, base)


def pooled_acf(z: np.ndarray, n_lags: int) -> np.ndarray:
    """Autocorrelation per lag, pooled as the upper quartile over the columns that vary.

    The upper quartile rather than the mean: a cycle shared by a quarter of the metrics (the
    traffic-driven ones) should not be drowned by many metrics that have none.
    """
    centred = z - z.mean(axis=0)
    centred = centred[:, centred.std(axis=0) > 1e-12]
    if centred.shape[1] == 0:
        return np.zeros(0)
    n = centred.shape[0]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    cov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n_lags]
    # Divide by the number of pairs (unbiased), so long lags are not shrunk toward zero.
    acf = cov / cov[0] * (n / (n - np.arange(n_lags)))[:, None]
    return np.quantile(acf, 0.75, axis=1)


def _candidates(acf: np.ndarray, n: int) -> np.ndarray:
    """Lags of autocorrelation peaks that rise clearly above the trough before them and clear
    both MIN_ACF and a noise bound for the number of pairs behind them. A trend or a random walk
    has a slowly falling autocorrelation with no such peak."""
    lags = np.arange(MIN_LAG, acf.size - 1)
    if lags.size == 0:
        return lags
    trough = np.minimum.accumulate(acf)[lags]
    peak = (acf[lags] >= acf[lags - 1]) & (acf[lags] >= acf[lags + 1])
    strong = acf[lags] >= np.maximum(MIN_ACF, 3 / np.sqrt(n - lags))
    return lags[peak & strong & (acf[lags] - trough >= MIN_PROMINENCE)]


def refine_period(acf: np.ndarray, lag: int) -> float:
    """The peak position to a fraction of a row, measured on the furthest repeat of the cycle.

    The k-th repeat is about as noisy as the first, so dividing its position by k shrinks the
    error k times; each estimate locates the next repeat.
    """
    reach = max(2, lag // 8)
    period = _peak(acf, lag, reach)
    # Bounded by construction: at most one look per repeat that fits, and a look that strays
    # from the first estimate (a hump lost in noise, a period shrinking toward zero) ends it.
    for repeats in range(2, acf.size // lag + 1):
        near = round(repeats * period)
        if near + reach >= acf.size:
            break
        estimate = _peak(acf, near, reach) / repeats
        if not abs(estimate - lag) <= reach:
            break
        period = estimate
    return period


def _peak(acf: np.ndarray, near: int, reach: int) -> float:
    """The centre of the autocorrelation hump within `reach` of `near`.

    The top of a daily hump is flat, so the single highest lag is mostly noise; a parabola
    fitted by least squares over the whole hump (twice, re-centred) finds its centre instead.
    """
    centre = float(near)
    for _ in range(2):
        lo = max(1, round(centre) - reach)
        hi = min(acf.size, round(centre) + reach + 1)
        if hi - lo < 3:
            return centre
        a, b, _c = np.polyfit(np.arange(lo, hi) - centre, acf[lo:hi], 2)
        if a >= 0:
            return centre
        centre = float(np.clip(centre - b / (2 * a), lo, hi - 1))
    return centre


def _whole_period(z: np.ndarray, estimate: float) -> int:
    """The whole number of rows near `estimate` on which both halves of the training data agree.

    The estimate is off by a fraction of a row, and a period off by one row puts the baseline
    one row further out of phase every cycle, for as long as the detector is used. With the
    right period the per-phase medians of the first and the second half line up; with a wrong
    one they are shifted against each other. Whole rows only: sampling intervals divide a day
    evenly in practice (an odd one such as 7 minutes, 205.7 rows a day, gets 206).
    """
    low = max(MIN_LAG, int(np.floor(estimate)) - 1)
    choices = range(low, max(low, int(np.ceil(estimate)) + 1) + 1)
    half = len(z) // 2
    if half < low:
        return round(estimate)
    return min(choices, key=lambda period: _disagreement(z, half, period))


def _disagreement(z: np.ndarray, half: int, period: int) -> float:
    """Mean gap between the two halves' per-phase medians, weighted toward seasonal columns."""
    rows = np.arange(len(z)) % period
    first = _phase_medians(z[:half], rows[:half], period)
    second = _phase_medians(z[half:], rows[half:], period)
    weight = first.std(axis=0) + second.std(axis=0)
    gap = np.nanmean(np.abs(first - second), axis=0)
    return float(np.nansum(gap * weight) / max(weight.sum(), 1e-12))


def _phase_medians(z: np.ndarray, phase: np.ndarray, period: int) -> np.ndarray:
    medians = pd.DataFrame(z).groupby(phase).median().reindex(range(period))
    smooth = medians.rolling(3, center=True, min_periods=1).median()
    return smooth.interpolate(limit_direction="both").fillna(0.0).to_numpy()


def _best_multiple(acf: np.ndarray, base: int) -> int:
    """k such that k * base repeats clearly better than base (by PREFER_LONGER), else 1; the
    smallest such k among near-equal ones (a week rather than a fortnight)."""
    k_max = (acf.size - 3) // base
    if k_max < 2:
        return 1
    values = np.array([_near_max(acf, k * base) for k in range(1, k_max + 1)])
    if values.max() < values[0] + PREFER_LONGER:
        return 1
    return int(np.flatnonzero(values >= values.max() - PREFER_LONGER / 2)[0]) + 1


def _near_max(acf: np.ndarray, lag: int) -> float:
    return float(acf[max(0, lag - 2) : min(acf.size, lag + 3)].max())
