"""A seasonal baseline learned from the training data alone. Pure: numpy and pandas.

Server metrics follow the clock (daily traffic, weekly dips), so "normal" depends on the time of
day: 80% CPU at noon is fine, at 4 a.m. it is not. The baseline is the per-phase median over
the training cycles (period.py finds the cycle), smoothed across neighbouring phases; a metric
only uses it when it clearly explains that metric on rows it was not fitted on. Rows are
positions in the training timeline (row 0 = first training row), so a test matrix that follows
the training data continues the same clock.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .period import find_period

MAX_BINS = 2048
SAMPLES_PER_PHASE = 15  # smooth across neighbouring phases until a phase has this many samples
MIN_GAIN = 0.9  # a metric uses the baseline if it cuts its robust spread to 90% or less
MAX_FOLDS = 4


@dataclass(frozen=True)
class Profile:
    """Expected robust z per (phase bin, metric); zeros for metrics without a usable cycle."""

    period: int | None
    values: np.ndarray  # (bins, metrics)

    def expected(self, start: int, n: int) -> np.ndarray:
        """The baseline for rows start .. start + n - 1 of the training timeline."""
        if self.period is None:
            return np.zeros((1, self.values.shape[1]))
        return self.values[_bins(np.arange(start, start + n), self.period, len(self.values))]


def fit_profile(z: np.ndarray) -> tuple[Profile, np.ndarray]:
    """(baseline, its out-of-fold value on every training row) for `z` (robust z, NaN allowed).

    The out-of-fold values come from baselines fitted on the other cycles (up to MAX_FOLDS
    contiguous blocks). Fitted on few cycles, a baseline partly memorises the training noise:
    residuals against it look smaller than residuals on new data will be, and every threshold
    downstream would be too tight. Out-of-fold residuals are honest.
    """
    filled = np.nan_to_num(z)  # robust z: 0 is the column median
    flat = (Profile(period=None, values=np.zeros((1, z.shape[1]))), np.zeros_like(filled))
    period = find_period(filled)
    if period is None:
        return flat
    rows = np.arange(len(z))
    held_out = _out_of_fold(z, rows, period)
    useful = _mad(filled - held_out) < MIN_GAIN * _mad(filled)
    if not useful.any():
        return flat
    values = _fit_values(z, rows, period) * useful
    return Profile(period=period, values=values), held_out * useful


def _bins(rows: np.ndarray, period: int, n_bins: int) -> np.ndarray:
    return (rows % period) * n_bins // period


def _fit_values(z: np.ndarray, rows: np.ndarray, period: int) -> np.ndarray:
    """Per-phase medians over the cycles in `z`, smoothed across neighbouring phases."""
    n_bins = min(period, MAX_BINS)
    medians = pd.DataFrame(z).groupby(_bins(rows, period, n_bins)).median()
    cycles = max(len(z) / period, 1.0)
    width = max(3, int(np.ceil(SAMPLES_PER_PHASE / cycles)) | 1)
    return _circular_median(medians.reindex(range(n_bins)), width)


def _circular_median(medians: pd.DataFrame, width: int) -> np.ndarray:
    """A centred rolling median that wraps around the cycle; empty phases borrow neighbours."""
    half = width // 2
    n = len(medians)
    padded = pd.concat([medians.iloc[n - half :], medians, medians.iloc[:half]])
    smooth = padded.rolling(width, center=True, min_periods=1).median().iloc[half : half + n]
    return smooth.interpolate(limit_direction="both").fillna(0.0).to_numpy()


def _out_of_fold(z: np.ndarray, rows: np.ndarray, period: int) -> np.ndarray:
    folds = int(min(MAX_FOLDS, max(2, len(z) // period)))
    out = np.zeros((len(z), z.shape[1]))
    for part in np.array_split(rows, folds):
        rest = np.ones(len(z), dtype=bool)
        rest[part] = False
        values = _fit_values(z[rest], rows[rest], period)
        out[part] = values[_bins(rows[part], period, len(values))]
    return out


def _mad(x: np.ndarray) -> np.ndarray:
    return np.median(np.abs(x - np.median(x, axis=0)), axis=0)
