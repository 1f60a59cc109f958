"""When and from how much history each cluster's anomaly detectors learn. Pure: read by the
services, the tasks that decide a refit, and benchmarks/alarms.py (so the benchmark runs the
product's schedule, not a copy of it)."""

from datetime import timedelta

# "Normal" is what is usual for the entity over days, daily cycle included: detectors that had
# learned from 6 hours raised 8 alarm episodes per entity-day on a healthy simulated day (every
# evening peak looked new), from 48 hours 0.7 (benchmarks/alarms.py).
ANOMALY_TRAIN_HOURS = 48
ANOMALY_REFIT_HOURS = 6
ANOMALY_NEW_ENTITY_REFIT = timedelta(minutes=30)  # sooner, for entities with no detector yet
ANOMALY_WINDOW = 10  # rows (5 minutes at 30 s) for the windowed detectors
ANOMALY_MIN_HISTORY = timedelta(minutes=15)  # before this, no entity has 30 samples
ANOMALY_GAP = timedelta(minutes=2)  # flagged samples closer than this are one anomaly
# Anomalies from detectors that have learned from less than this are shown as "learning" and
# open no incident: with 15 minutes of history a detector raised about 90 episodes per
# entity-day on a healthy simulated day, with 4 hours 12, with 24 hours 2.4, with 48 hours 0.7.
ANOMALY_TRUSTED = timedelta(hours=24)


def refit_due(*, learned: timedelta | None, age: timedelta, uncovered: int) -> bool:
    """Whether the cluster's detectors should learn again. `learned`: the history the serving
    detectors learned from (None: unknown); `age`: cluster time since their data ended.

    Every ANOMALY_REFIT_HOURS; sooner for entities with no detector; and while the detectors
    are young (learned from less than ANOMALY_TRAIN_HOURS) each time the history has doubled,
    so a new cluster's idea of normal grows 15 min -> 30 min -> 1 h -> ... -> 48 h instead of
    staying at its first quarter of an hour for 6 hours.
    """
    if age >= timedelta(hours=ANOMALY_REFIT_HOURS):
        return True
    if uncovered and age >= ANOMALY_NEW_ENTITY_REFIT:
        return True
    young = learned is not None and learned < timedelta(hours=ANOMALY_TRAIN_HOURS)
    return young and age >= max(learned, ANOMALY_MIN_HISTORY)
