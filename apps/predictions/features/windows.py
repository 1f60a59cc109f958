"""Window arithmetic: trailing sums, trends and codes over keys of entity * _SPAN + seconds.
Pure: no Django."""

import numpy as np
import pandas as pd

from .catalogue import CAP_MINUTES, SPAN

# --- window arithmetic ----------------------------------------------------------------------


def seconds_of(values) -> np.ndarray:
    ts = pd.to_datetime(pd.Series(values), utc=True)
    return (ts.dt.as_unit("ms").astype("int64") // 1000).to_numpy()


class _Prefix:
    """Cumulative sums and counts of the non-NaN `values` (n, k) along sorted `key`
    (entity * _SPAN + seconds), so that any trailing window is two lookups."""

    def __init__(self, key: np.ndarray, values: np.ndarray):
        valid = ~np.isnan(values)
        self.key = key
        self.cs = np.zeros((len(key) + 1, values.shape[1]))
        self.cn = np.zeros((len(key) + 1, values.shape[1]))
        np.cumsum(np.where(valid, values, 0.0), axis=0, out=self.cs[1:])
        np.cumsum(valid, axis=0, out=self.cn[1:])

    def window(self, query: np.ndarray, lo: int, hi: int = 0):
        """Sums and counts over keys in (query - lo, query - hi]: never another entity's."""
        a = np.searchsorted(self.key, query - lo, side="right")
        b = np.searchsorted(self.key, query - hi, side="right")
        return self.cs[b] - self.cs[a], self.cn[b] - self.cn[a]


def window_sums(key: np.ndarray, values: np.ndarray, query: np.ndarray, lo: int, hi: int = 0):
    return _Prefix(key, values).window(query, lo, hi)


def trends(key, y: np.ndarray, tmin: np.ndarray, query, window: int, since: int | None = None):
    """For each column of y (n, k) at each query: the slope per minute (the difference of the
    means of the window's two halves over the difference of their mean times), the window's
    mean and its std. NaN-aware; NaN where a half is empty. `since`: only rows after this
    time can fall in a window (the latest collection's), so the others are skipped."""
    if since is not None:
        keep = key % SPAN > since - window
        key, y, tmin = key[keep], y[keep], tmin[keep]
    tv = np.where(np.isnan(y), np.nan, tmin[:, None])
    prefix = _Prefix(key, np.hstack([y, y * y, tv]))
    s_new, n_new = prefix.window(query, window // 2)
    s_old, n_old = prefix.window(query, window, window // 2)
    k = y.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        m_new, m_old = s_new[:, :k] / n_new[:, :k], s_old[:, :k] / n_old[:, :k]
        dt = s_new[:, 2 * k :] / n_new[:, 2 * k :] - s_old[:, 2 * k :] / n_old[:, 2 * k :]
        n = n_new[:, :k] + n_old[:, :k]
        mean = (s_new[:, :k] + s_old[:, :k]) / n
        var = (s_new[:, k : 2 * k] + s_old[:, k : 2 * k]) / n - mean * mean
        return (m_new - m_old) / dt, mean, np.sqrt(np.clip(var, 0, None))


def to_limit(ratio: np.ndarray, slope: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(slope > 1e-4, (1 - ratio) / slope, CAP_MINUTES)
    return np.where(np.isnan(ratio), np.nan, np.clip(out, 0, CAP_MINUTES))


def ratio_of(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def codes_of(*columns) -> np.ndarray:
    """One integer code per distinct combination of the columns' values (codes or values)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        codes = col if isinstance(col, np.ndarray) else pd.factorize(col)[0]
        key = key * (int(codes.max(initial=0)) + 2) + codes + 1
    return pd.factorize(key)[0]


def last_true(key: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Per sorted key: the latest key (same entity, at or before) where flag holds, or -1."""
    last = np.maximum.accumulate(np.where(flag, key, -1))
    return np.where(last // SPAN == key // SPAN, last, -1)
