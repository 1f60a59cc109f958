"""The incident chart's steps: a line and a marker each, named in the legend and the hover,
never as text printed on the plot (steps seconds apart would print over each other). Pure."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from apps.healing.charts import Mark, incident_timeline

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_it_names_steps_in_the_legend_and_hover_never_in_labels_that_overlap():
    series = pd.DataFrame(
        {
            "ts": [T + timedelta(seconds=30 * i) for i in range(20)],
            "mem_limit_ratio": [0.5 + i * 0.01 for i in range(20)],
            "cpu_limit_ratio": [0.2] * 20,
        }
    )
    marks = [
        Mark(T + timedelta(minutes=2), "detected", "memory rises to its limit"),
        Mark(T + timedelta(minutes=2), "proposed", "raise the memory limit"),
        Mark(T + timedelta(minutes=2, seconds=20), "approved", "alice: ok"),
        Mark(T + timedelta(minutes=8), "resolved", "held for its window"),
        Mark(T, "comment", "not a step the chart draws"),
    ]
    fig = incident_timeline(series, ["mem_limit_ratio", "cpu_limit_ratio"], [], marks)
    assert fig.layout.annotations == ()  # nothing printed on the plot
    steps = {t.name: t for t in fig.data if t.showlegend}
    assert list(steps) == ["detected", "proposed", "approved", "resolved"]
    assert list(steps["approved"].text) == ["alice: ok"]
    assert fig.layout.showlegend is True
    # One dotted line per moment; two steps at one moment stack instead of overlapping.
    assert len(fig.layout.shapes) == 3
    assert steps["detected"].y[0] != steps["proposed"].y[0]
    assert all(not t.showlegend for t in fig.data if t.mode == "lines")


def test_it_draws_no_legend_without_steps():
    series = pd.DataFrame({"ts": [T, T + timedelta(seconds=30)], "mem_limit_ratio": [0.5, 0.6]})
    fig = incident_timeline(series, ["mem_limit_ratio"], [], [])
    assert fig.layout.showlegend is False and len(fig.data) == 1
