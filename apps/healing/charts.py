"""The incident's correlated timeline: the affected workload's or node's metric lines with its
anomalies (the predictions chart), and the incident's own steps as marked lines. Pure."""

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from apps.predictions.charts import Band, entity_timeline

MARK_COLOURS = {
    "started": "#b42318",
    "detected": "#d9480f",
    "proposed": "#1c64f2",
    "approved": "#1c64f2",
    "verifying": "#2e7d32",
    "resolved": "#2e7d32",
    "escalated": "#6b21a8",
    "reopened": "#b42318",
}


@dataclass(frozen=True)
class Mark:
    at: datetime
    kind: str
    text: str


def incident_timeline(
    series: pd.DataFrame, metrics: list[str], bands: list[Band], marks: list[Mark]
) -> go.Figure:
    """The entity's timeline with the incident's steps: a dotted line across every panel at
    each step, and a marker at its top whose kind is in the legend and whose words are in the
    hover. No text is printed on the plot, so steps a few seconds apart never overlap."""
    fig = entity_timeline(series, metrics, bands)
    shown = [m for m in marks if m.kind in MARK_COLOURS]
    for at in sorted({m.at for m in shown}):
        first = next(m for m in shown if m.at == at)
        fig.add_shape(
            type="line",
            xref="x",
            yref="paper",
            x0=at,
            x1=at,
            y0=0,
            y1=1,
            line={"color": MARK_COLOURS[first.kind], "width": 1.5, "dash": "dot"},
        )
    steps = f"y{max(len(metrics), 1) + 1}"  # an invisible axis over the whole height
    fig.layout[f"yaxis{steps[1:]}"] = {
        "domain": [0, 1],
        "range": [0, 1],
        "anchor": "x",
        "visible": False,
        "fixedrange": True,
    }
    # Steps at the same moment (detected and proposed, often) stack downwards.
    row = {id(m): [n for n in shown if n.at == m.at].index(m) for m in shown}
    for kind in MARK_COLOURS:  # the legend in the order an incident runs
        mine = [m for m in shown if m.kind == kind]
        if not mine:
            continue
        fig.add_trace(
            go.Scatter(
                x=[m.at for m in mine],
                y=[0.98 - 0.06 * row[id(m)] for m in mine],
                yaxis=steps,
                mode="markers",
                name=kind,
                marker={"symbol": "triangle-down", "size": 11, "color": MARK_COLOURS[kind]},
                text=[m.text[:200] for m in mine],
                hovertemplate="%{text}<extra>" + kind + "</extra>",
                showlegend=True,
            )
        )
    fig.update_traces(selector={"mode": "lines"}, showlegend=False)
    fig.update_layout(
        showlegend=bool(shown),
        legend={"orientation": "h", "y": -0.12, "x": 0, "title": {"text": "Steps: "}},
        margin={"b": 70},
    )
    return fig
