"""Charts of the Chaos pages. Pure: readings and grades in, Plotly figures out.

- a run's probes over time, one panel per probe, with the fault's start and end marked;
- the resilience history: each graded run's score over time, one line per workload.
"""

from datetime import datetime

import plotly.graph_objects as go
from plotly.subplots import make_subplots

OK, BROKEN = "#2e7d32", "#b42318"


def run_probes(
    readings: list[dict], *, fault_start: datetime | None, fault_end: datetime | None
) -> go.Figure | None:
    names = list(dict.fromkeys(r["probe"] for reading in readings for r in reading["results"]))
    if not names:
        return None
    fig = make_subplots(
        rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.08
    )
    for row, name in enumerate(names, start=1):
        points = [
            (datetime.fromisoformat(reading["at"]), r)
            for reading in readings
            for r in reading["results"]
            if r["probe"] == name
        ]
        fig.add_trace(
            go.Scatter(
                x=[at for at, _ in points],
                y=[r["value"] for _, r in points],
                mode="lines+markers",
                name=name,
                marker={"color": [OK if r["ok"] else BROKEN for _, r in points]},
                line={"color": "#1c64f2"},
                showlegend=False,
            ),
            row=row,
            col=1,
        )
    for at, text in ((fault_start, "fault in"), (fault_end, "fault out")):
        if at is None:
            continue
        fig.add_vline(x=at, line={"color": "#6b21a8", "dash": "dot", "width": 1.5})
        fig.add_annotation(
            x=at, y=1, xref="x", yref="paper", text=text, showarrow=False, yanchor="bottom"
        )
    fig.update_layout(
        height=max(260, 180 * len(names)),
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
        hovermode="x unified",
    )
    return fig


def resilience_history(points: list[tuple[str, datetime, int]]) -> go.Figure | None:
    """points: (workload, when the run ended, score)."""
    if not points:
        return None
    fig = go.Figure()
    for workload in sorted({w for w, _, _ in points}):
        mine = sorted((at, score) for w, at, score in points if w == workload)
        fig.add_trace(
            go.Scatter(
                x=[at for at, _ in mine],
                y=[score for _, score in mine],
                mode="lines+markers",
                name=workload,
            )
        )
    fig.update_layout(
        height=300,
        margin={"l": 50, "r": 20, "t": 20, "b": 30},
        yaxis={"range": [0, 105], "title": "score"},
    )
    return fig
