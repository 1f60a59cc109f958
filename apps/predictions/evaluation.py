"""How good are the failure predictions? Pure metrics; never plain accuracy (a model that never
alarms is 99% "accurate" on a healthy cluster).

Row metrics compare per-row alarms with labels (labels.label): precision, recall, F1, the
false-positive rate and PR-AUC (average precision of the probabilities). Rows where the entity is
already failing, or that have too little history to be scored, are left out of them.

Event metrics look at failure events (episode starts, labels.episodes):
- event recall: the share of events with an alarm on that entity in [start - H, start - 5 min],
  i.e. warned at least `min_lead_minutes` ahead;
- lead time of an event: start minus its earliest alarm in [start - H, start); the median is over
  the events warned at all (NaN when none was);
- false alarms per day: alarm episodes (an entity's consecutive alarmed rows, gaps of up to
  `gap_minutes`) with no failure of that entity starting from the episode's first alarm to H
  after its last, per day of observed history. Alarms while the entity is failing are not counted.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score


def confusion(y, alarm) -> dict[str, int]:
    y, a = np.asarray(y, dtype=bool), np.asarray(alarm, dtype=bool)
    return {
        "tp": int((y & a).sum()),
        "fp": int((~y & a).sum()),
        "tn": int((~y & ~a).sum()),
        "fn": int((y & ~a).sum()),
    }


def _div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def precision_recall_f1(y, alarm) -> tuple[float, float, float]:
    c = confusion(y, alarm)
    precision = _div(c["tp"], c["tp"] + c["fp"])
    recall = _div(c["tp"], c["tp"] + c["fn"])
    f1 = _div(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"])
    return precision, recall, f1


def false_positive_rate(y, alarm) -> float:
    c = confusion(y, alarm)
    return _div(c["fp"], c["fp"] + c["tn"])


def pr_auc(y, probability) -> float:
    y = np.asarray(y, dtype=int)
    if y.sum() == 0:
        return float("nan")
    return float(average_precision_score(y, np.asarray(probability, dtype=float)))


def _event_alarms(events: pd.DataFrame, scored: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Each event with the minutes before its start of every alarm in [start - H, start)."""
    ev = events[["entity", "start"]].reset_index(drop=True).rename_axis("event").reset_index()
    alarms = scored.loc[scored["alarm"].astype(bool), ["entity", "ts"]]
    m = ev.merge(alarms, on="entity", how="inner")
    start, ts = pd.to_datetime(m["start"], utc=True), pd.to_datetime(m["ts"], utc=True)
    m["before"] = (start - ts).dt.total_seconds() / 60.0
    return m[(m["before"] > 0) & (m["before"] <= horizon)]


def lead_times(
    events: pd.DataFrame, scored: pd.DataFrame, *, horizon_minutes: float = 15
) -> np.ndarray:
    """Per event (in order): minutes from the earliest alarm in [start - H, start) to the
    start; NaN when there was none."""
    m = _event_alarms(events, scored, horizon_minutes)
    lead = m.groupby("event")["before"].max()
    return lead.reindex(range(len(events))).to_numpy(dtype=float)


def event_recall(
    events: pd.DataFrame,
    scored: pd.DataFrame,
    *,
    horizon_minutes: float = 15,
    min_lead_minutes: float = 5,
) -> float:
    if len(events) == 0:
        return float("nan")
    m = _event_alarms(events, scored, horizon_minutes)
    warned = m.loc[m["before"] >= min_lead_minutes, "event"].nunique()
    return warned / len(events)


def alarm_episodes(scored: pd.DataFrame, *, gap_minutes: float = 1.5) -> pd.DataFrame:
    a = scored.loc[scored["alarm"].astype(bool), ["entity", "ts"]].sort_values(["entity", "ts"])
    if a.empty:
        return pd.DataFrame(columns=["entity", "start", "end", "rows"])
    same = a["entity"].eq(a["entity"].shift())
    gap = a["ts"].diff().dt.total_seconds().div(60).fillna(np.inf)
    episode = (~(same & (gap <= gap_minutes))).cumsum()
    out = a.groupby(episode.to_numpy()).agg(
        entity=("entity", "first"), start=("ts", "min"), end=("ts", "max"), rows=("ts", "size")
    )
    return out.reset_index(drop=True)


def false_alarms(
    scored: pd.DataFrame, events: pd.DataFrame, *, horizon_minutes: float = 15
) -> pd.DataFrame:
    """Alarm episodes followed by no failure of their entity within the horizon."""
    ep = alarm_episodes(scored).reset_index(names="episode")
    if ep.empty:
        return ep
    m = ep.merge(events[["entity", "start"]].rename(columns={"start": "failure"}), on="entity")
    m["failure"] = pd.to_datetime(m["failure"], utc=True)
    until = m["end"] + pd.Timedelta(minutes=horizon_minutes)
    true = m.loc[(m["failure"] >= m["start"]) & (m["failure"] <= until), "episode"].unique()
    return ep[~ep["episode"].isin(true)].reset_index(drop=True)


def evaluate(
    scored: pd.DataFrame,
    events: pd.DataFrame,
    *,
    horizon_minutes: float = 15,
    days: float,
    min_lead_minutes: float = 5,
) -> dict[str, float]:
    """scored: entity, ts, y, probability, alarm, failing, status ("ok" / "not enough data");
    events: entity, start. `days`: how much history `scored` covers, in days."""
    live = scored[~scored["failing"].astype(bool)]
    rows = live[live["status"].eq("ok")]
    precision, recall, f1 = precision_recall_f1(rows["y"], rows["alarm"])
    leads = lead_times(events, live, horizon_minutes=horizon_minutes)
    warned = leads[~np.isnan(leads)]
    return {
        "rows": float(len(rows)),
        "positives": float(rows["y"].sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": false_positive_rate(rows["y"], rows["alarm"]),
        "pr_auc": pr_auc(rows["y"], rows["probability"]),
        "events": float(len(events)),
        "event_recall": event_recall(
            events, live, horizon_minutes=horizon_minutes, min_lead_minutes=min_lead_minutes
        ),
        "warned_any": _div(len(warned), len(events)),
        "median_lead": float(np.median(warned)) if len(warned) else float("nan"),
        "false_alarms_per_day": _div(
            len(false_alarms(live, events, horizon_minutes=horizon_minutes)), days
        ),
    }
