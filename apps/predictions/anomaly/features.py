"""Per-metric evidence the detectors share. Pure: numpy and pandas.

All functions take deseasonalised residuals `r` (rows, metrics): robust z minus the seasonal
baseline, divided by the residual spread, so 1 is a typical deviation for every metric.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAD_TO_SIGMA = 1.4826
# A quiet window still has this much spread, in residual units (half a typical deviation). A
# smooth metric (memory moving 0.5 MiB a row) would otherwise call a 2% step a 60-sigma spike:
# at 0.1 that was most of a healthy day's alarms; at 0.5 ASD's event recall rose (0.88 -> 0.93)
# at the same false alarms (benchmarks/anomaly_real.py, benchmarks/alarms.py).
LOCAL_FLOOR = 0.5
VOLATILITY_EPS = 0.01  # keeps log(volatility ratio) finite for flat metrics
TAIL_LEVEL = 0.99
WINSOR = 6.0  # PCA is fitted on residuals clipped here so training outliers do not steer it
PCA_VARIANCE = 0.9


def window_evidence(
    r: np.ndarray, window: int, typical: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level, local z, log volatility ratio) per cell, from each row and the rows before it.

    level: the rolling median of the residual over the last window / 2 rows: how far the metric
    sits from its normal value for this time of day, held long enough not to be one noisy row
    (a shift, a drift, a broken daily curve).
    local z: the step from the median of the previous 3 rows (the short-term expectation: load
    wanders, so the last few rows predict the next far better than the day's median does), in
    units of the rolling median of that step's size over the previous `window` rows (a robust,
    MAD-like local spread). Catches what is abrupt for this stretch of time: a spike, the onset
    of a shift, a break in the daily curve.
    log volatility ratio: that rolling step size (the current row included) against its typical
    training value `typical`. Above 0 the metric got noisier; far below 0 it stopped moving.
    """
    steps = innovations(r)
    need = max(3, window // 4)
    size = pd.DataFrame(np.abs(steps)).rolling(window, min_periods=need).median().to_numpy()
    before = np.vstack([np.full((1, r.shape[1]), np.nan), size[:-1]])
    spread = np.maximum(np.nan_to_num(before, nan=1.0) * MAD_TO_SIGMA, LOCAL_FLOOR)
    eps = VOLATILITY_EPS + 0.1 * typical
    volatility = np.log((np.nan_to_num(size, nan=typical) + eps) / (typical + eps))
    level = pd.DataFrame(r).rolling(max(3, window // 2), min_periods=1).median().to_numpy()
    return level, steps / spread, volatility


def innovations(r: np.ndarray) -> np.ndarray:
    """Each row minus the median of the three rows before it (0 for the first row)."""
    a = np.vstack([r[:1], r[:-1]])
    b = np.vstack([r[:1], r[:1], r[:-2]])[: len(r)]
    c = np.vstack([r[:1], r[:1], r[:1], r[:-3]])[: len(r)]
    median3 = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return r - median3


def typical_step(r: np.ndarray) -> np.ndarray:
    """Median size of the innovation per metric over the training residuals."""
    return np.median(np.abs(innovations(r)), axis=0)


@dataclass(frozen=True)
class TailNorm:
    """Divide |feature - typical| by its training 99th percentile, per metric.

    A per-metric evidence only means something against that metric's own history: an error
    counter jumps from 0 to 3 every hour, a CPU series never does. After this every metric's
    99th percentile is 1, so taking the max over metrics is fair to all of them.
    """

    center: np.ndarray
    tail: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, *, centered: bool) -> "TailNorm":
        center = np.median(values, axis=0) if centered else np.zeros(values.shape[1])
        tail = np.quantile(np.abs(values - center), TAIL_LEVEL, axis=0)
        typical = np.median(np.abs(values - center), axis=0)
        return cls(center=center, tail=np.maximum(tail, np.maximum(typical, 1e-3)))

    def apply(self, values: np.ndarray) -> np.ndarray:
        return np.abs(values - self.center) / self.tail


@dataclass(frozen=True)
class PcaResidual:
    """What the main principal components of the training residuals cannot explain.

    Metrics move together (requests drive CPU drive latency); a row where they stop doing so
    (latency up, CPU flat) leaves a large reconstruction error even when every metric alone
    looks ordinary. Components keep PCA_VARIANCE of the variance, at most metrics - 1.
    """

    mean: np.ndarray
    components: np.ndarray  # (k, metrics)
    spread: np.ndarray  # per-metric residual spread on the training data

    @classmethod
    def fit(cls, r: np.ndarray) -> "PcaResidual":
        x = np.clip(r, -WINSOR, WINSOR)
        mean = x.mean(axis=0)
        eigval, eigvec = np.linalg.eigh(_covariance(x - mean))
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = np.clip(eigval[order], 0, None), eigvec[:, order]
        total = eigval.sum()
        share = np.cumsum(eigval) / total if total > 0 else np.ones_like(eigval)
        k = min(int(np.searchsorted(share, PCA_VARIANCE) + 1), r.shape[1] - 1)
        fitted = cls(mean=mean, components=eigvec[:, :k].T, spread=np.ones(r.shape[1]))
        errors = fitted.errors(x)
        spread = np.sqrt(np.mean(errors**2, axis=0))
        return cls(mean=mean, components=fitted.components, spread=np.maximum(spread, 1e-3))

    def errors(self, r: np.ndarray) -> np.ndarray:
        """Per-metric reconstruction error, in units of its typical training error."""
        centred = r - self.mean
        weights = np.einsum("ij,kj->ik", centred, self.components)
        recon = np.einsum("ik,kj->ij", weights, self.components)
        return (centred - recon) / self.spread


def _covariance(centred: np.ndarray) -> np.ndarray:
    """X'X / (n - 1) by einsum rather than BLAS: for a tall, narrow matrix it is as fast, and it
    does not stall when the machine's cores are busy (multi-threaded BLAS can, by 100x)."""
    return np.einsum("ij,ik->jk", centred, centred) / max(len(centred) - 1, 1)
