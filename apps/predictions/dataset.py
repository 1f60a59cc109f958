"""Labelled training and evaluation sets, from stored frames or from sandbox simulations.
Pure: the same path serves the learning loop, the base model and the benchmark.

Rows where the entity is already failing are dropped (predicting a failure that is visible
is not prediction). Each set keeps its failure episodes, so evaluation can count events
warned in time and not only rows.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import evaluation, labels
from .features import Frames, build_features

# Histories the cold-start base model learns from: every fault kind the sandbox plays, and
# healthy days, each varied by its seed (start hour, fault timing and strength, rollouts).
BASE_SCENARIOS = [
    "memory-leak",
    "cpu-saturation",
    "node-not-ready",
    "bad-rollout",
    "image-pull-failure",
    "noisy-neighbour",
    "unbound-pvc",
    "busy-day",
    "healthy",
]
BASE_TRAIN_SEEDS = [1, 2, 3]
BASE_HOLDOUT_SEEDS = [101]  # never trained on: the base model's figures come from these
BASE_HOURS = 2.0


@dataclass
class Dataset:
    features: pd.DataFrame  # META + FEATURE columns, rows not failing
    y: np.ndarray
    minutes_to_failure: np.ndarray
    group: np.ndarray  # which history a row came from (time-ordered hold-outs stay apart)
    episodes: pd.DataFrame  # failure episodes: entity, start, kind, group
    days: float  # time covered, for false alarms per day

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    def __len__(self) -> int:
        return len(self.y)


def from_frames(
    frames: Frames, *, horizon_minutes: float, group: str = "", outcomes=None
) -> Dataset:
    """Labelled rows from stored (or simulated) frames; `outcomes` adds the failures that
    action outcomes revealed (labels.outcome_failures)."""
    features = build_features(frames)
    failures = labels.observe_failures(frames)
    if outcomes is not None and len(outcomes):
        failures = pd.concat([failures, outcomes], ignore_index=True).sort_values(
            ["entity", "time"], kind="stable", ignore_index=True
        )
    return _labelled(features, failures, horizon_minutes, group)


def _labelled(features, failures, horizon_minutes, group) -> Dataset:
    lab = labels.label(features, failures, horizon_minutes)
    keep = ~lab["failing"].to_numpy()
    ep = labels.episodes(failures).assign(group=group)
    span = 0.0
    if len(features):
        ts = pd.to_datetime(features["ts"], utc=True)
        span = (ts.max() - ts.min()).total_seconds() / 86_400
    return Dataset(
        features=features[keep].reset_index(drop=True),
        y=lab["y"].to_numpy()[keep],
        minutes_to_failure=lab["minutes_to_failure"].to_numpy()[keep],
        group=np.full(int(keep.sum()), group, dtype=object),
        episodes=ep,
        days=span,
    )


def concat(parts: list[Dataset]) -> Dataset:
    parts = [p for p in parts if len(p)]
    if not parts:
        raise ValueError("no labelled rows: the histories hold no samples")
    return Dataset(
        features=pd.concat([p.features for p in parts], ignore_index=True),
        y=np.concatenate([p.y for p in parts]),
        minutes_to_failure=np.concatenate([p.minutes_to_failure for p in parts]),
        group=np.concatenate([p.group for p in parts]),
        episodes=pd.concat([p.episodes for p in parts], ignore_index=True),
        days=sum(p.days for p in parts),
    )


def split_by_time(ds: Dataset, *, holdout_share: float = 0.3) -> tuple[Dataset, Dataset]:
    """The last `holdout_share` of the time span is the hold-out: the model is judged on
    what came after everything it learned from."""
    ts = pd.to_datetime(ds.features["ts"], utc=True)
    cut = ts.min() + (ts.max() - ts.min()) * (1 - holdout_share)
    before = (ts < cut).to_numpy()
    ep_before = pd.to_datetime(ds.episodes["start"], utc=True) < cut
    return _subset(ds, before, ep_before.to_numpy(), 1 - holdout_share), _subset(
        ds, ~before, ~ep_before.to_numpy(), holdout_share
    )


def _subset(ds: Dataset, rows: np.ndarray, eps: np.ndarray, share: float) -> Dataset:
    return Dataset(
        features=ds.features[rows].reset_index(drop=True),
        y=ds.y[rows],
        minutes_to_failure=ds.minutes_to_failure[rows],
        group=ds.group[rows],
        episodes=ds.episodes[eps].reset_index(drop=True),
        days=ds.days * share,
    )


def score(model, ds: Dataset) -> dict[str, float]:
    """The figures of `model` on `ds`: precision, recall, F1, false-positive rate, PR-AUC,
    event recall (warned >= 5 min ahead), median lead time, false alarms per day."""
    pred = model.predict(ds.features, explain=False)
    scored = pd.DataFrame(
        {
            "entity": ds.group.astype(str) + "|" + ds.features["entity"].astype(str).to_numpy(),
            "ts": pd.to_datetime(ds.features["ts"], utc=True).to_numpy(),
            "y": ds.y,
            "probability": pred["probability"].fillna(0).to_numpy(),
            "alarm": pred["alarm"].to_numpy(),
            "failing": False,
            "status": pred["status"].to_numpy(),
        }
    )
    events = pd.DataFrame(
        {
            "entity": ds.episodes["group"].astype(str) + "|" + ds.episodes["entity"].astype(str),
            "start": pd.to_datetime(ds.episodes["start"], utc=True),
        }
    )
    figures = evaluation.evaluate(
        scored, events, horizon_minutes=model.horizon_minutes, days=max(ds.days, 1e-9)
    )
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in figures.items()}
