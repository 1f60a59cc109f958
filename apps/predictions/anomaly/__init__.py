"""Anomaly detection on server metrics: a plain module, no Django.

    from apps.predictions import anomaly
    detector = anomaly.fit(train)          # (rows, metrics), time-ordered, mostly normal
    scores = detector.score(test)          # one score per row, higher = more anomalous
    flags = scores >= detector.threshold   # learned from train alone, no labels
    detector.explain(test, row)            # [(metric index, share of evidence), ...]

Five detectors (seasonal level, windowed robust z, volatility, PCA reconstruction error,
Isolation Forest) each give a surprise: -log10 of the share of training rows that read as high
on that detector (2: one in 100, 3: one in 1,000). A row's score is the mean of its two largest
surprises. See detector.py. The detector pickles (it is a model artifact), and `score` of the
same data with the same `random_state` is identical.
"""

from .detector import (
    COMPONENTS,
    DEFAULT_CONTAMINATION,
    DEFAULT_WINDOW,
    Detector,
    contamination_for,
    fit,
)
from .prep import MIN_TRAIN_ROWS

__all__ = [
    "COMPONENTS",
    "DEFAULT_CONTAMINATION",
    "DEFAULT_WINDOW",
    "MIN_TRAIN_ROWS",
    "Detector",
    "contamination_for",
    "fit",
]
