"""Input checks and robust scaling. Pure: numpy only.

Metrics arrive in wildly different units (bytes, cores, milliseconds, counts), some are constant
and some have gaps, so everything downstream works on robust z-scores: (x - median) / spread,
where the spread falls back from MAD to IQR to standard deviation and finally to a small
relative floor, so a constant column never divides by zero.
"""

from dataclasses import dataclass

import numpy as np

MIN_TRAIN_ROWS = 30
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
IQR_TO_SIGMA = 1 / 1.349
CLIP = 1e4  # robust z beyond this carries no more information, and stays finite


def as_matrix(data: object, *, what: str) -> np.ndarray:
    """A float copy of `data` as (rows, metrics), with inf turned into NaN (a missing value)."""
    try:
        x = np.array(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numeric: {exc}") from exc
    if x.ndim != 2:
        raise ValueError(
            f"{what} must be a 2-D array (rows, metrics), got {x.ndim}-D; "
            "for one metric use values.reshape(-1, 1)"
        )
    if x.shape[1] == 0:
        raise ValueError(f"{what} has no metric columns")
    x[~np.isfinite(x)] = np.nan
    return x


def check_train(x: np.ndarray) -> None:
    """Raise if the training matrix is too short to learn anything robust from."""
    usable = int(np.any(np.isfinite(x), axis=1).sum())
    if usable < MIN_TRAIN_ROWS:
        raise ValueError(
            f"need at least {MIN_TRAIN_ROWS} rows of training data, got {usable}"
            + (f" ({x.shape[0]} rows, the rest entirely missing)" if usable != x.shape[0] else "")
        )


def nan_median(x: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN; 0 for a column with no value at all (no warning)."""
    out = np.zeros(x.shape[1])
    seen = np.any(np.isfinite(x), axis=0)
    if seen.any():
        out[seen] = np.nanmedian(x[:, seen], axis=0)
    return out


def robust_spread(
    x: np.ndarray, center: np.ndarray, tiny: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Per column, a standard-deviation-like spread that ignores outliers when it can.

    MAD first; where over half the values are equal (counters that are mostly 0) MAD is 0, so the
    IQR, then the standard deviation. A column whose spread is still not above `tiny` is constant
    and gets `fallback`.
    """
    filled = np.where(np.isfinite(x), x, center)
    spread = MAD_TO_SIGMA * np.median(np.abs(filled - center), axis=0)
    q75, q25 = np.percentile(filled, [75, 25], axis=0)
    spread = np.where(spread > tiny, spread, (q75 - q25) * IQR_TO_SIGMA)
    spread = np.where(spread > tiny, spread, filled.std(axis=0))
    return np.where(spread > tiny, spread, fallback)


@dataclass(frozen=True)
class RobustScale:
    """(x - median) / spread per column, learned from training data."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "RobustScale":
        center = nan_median(x)
        magnitude = np.abs(center)
        tiny = 1e-9 * np.maximum(magnitude, 1e-12)
        # A constant column gets a spread of 0.1% of its magnitude (0.001 around zero): any real
        # change then stands out (a metric that never moved now moves), rounding noise does not.
        fallback = np.where(magnitude > 0, 1e-3 * magnitude, 1e-3)
        return cls(center=center, scale=robust_spread(x, center, tiny, fallback))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Robust z-scores; NaN stays NaN (imputed later, where the expected value is known)."""
        return np.clip((x - self.center) / self.scale, -CLIP, CLIP)
