"""Raw detector scores onto one scale: surprise = -log10(chance a training row scores higher).

An Isolation Forest score of 0.62, a reconstruction error of 40 and a robust z of 7 mean nothing
side by side. Each becomes the tail probability of its own training distribution, written as a
surprise: 1 = one training row in 10 scores higher, 2 = one in 100, 3 = one in 1,000. Within the
training range this is the empirical CDF; beyond its top 5% the tail is extrapolated as an
exponential (peaks over threshold, shape 0), so a row far past anything seen in training keeps
climbing instead of tying with the training maximum, and ranking among extremes is preserved.
Pure: numpy only.
"""

from dataclasses import dataclass

import numpy as np

TAIL_START = 0.95
MAX_SURPRISE = 100.0  # one in 10^100: past this, "impossible under normal behaviour" is all
LEVELS = np.linspace(0.0, TAIL_START, 191)


@dataclass(frozen=True)
class Calibrator:
    quantiles: np.ndarray  # training scores at LEVELS, strictly increasing
    threshold: float  # where the exponential tail starts (the TAIL_START quantile)
    beta: float  # mean excess of training scores over `threshold`

    @classmethod
    def fit(cls, raw: np.ndarray) -> "Calibrator":
        q = np.quantile(raw, LEVELS)
        # Ties (a score that is often exactly 0) would break interpolation: nudge them apart.
        q = q + np.arange(q.size) * 1e-12 * (1.0 + np.abs(q).max())
        u = float(q[-1])
        excess = raw[raw > u] - u
        floor = max(0.05 * (u - float(np.median(raw))), 1e-6)
        beta = max(float(excess.mean()) if excess.size else 0.0, floor)
        return cls(quantiles=q, threshold=u, beta=beta)

    def value_at(self, surprise: float) -> float:
        """The raw score with this surprise (the inverse of `surprise`)."""
        start = -np.log10(1.0 - TAIL_START)
        if surprise > start:
            return self.threshold + (surprise - start) * self.beta * np.log(10)
        level = 1.0 - 10.0 ** (-surprise)
        return float(np.interp(level, LEVELS, self.quantiles))

    def surprise(self, raw: np.ndarray) -> np.ndarray:
        """-log10 of the estimated share of training rows scoring above each value."""
        level = np.interp(raw, self.quantiles, LEVELS)
        inside = -np.log10(1.0 - level)
        beyond = -np.log10(1.0 - TAIL_START) + (raw - self.threshold) / (self.beta * np.log(10))
        return np.minimum(np.where(raw > self.threshold, beyond, inside), MAX_SURPRISE)
