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
    fig = entity_timeline(series, metrics, bands)
    shown = [m for m in marks if m.kind in MARK_COLOURS]
    # Steps at the same moment (detected and proposed, often) share one line and one label.
    labels: dict = {}
    for m in shown:
        labels.setdefault(m.at, []).append(m.kind)
    for m in shown:
        if labels[m.at][0] != m.kind:
            continue
        fig.add_shape(
            type="line",
            xref="x",
            yref="paper",
            x0=m.at,
            x1=m.at,
            y0=0,
            y1=1,
            line={"color": MARK_COLOURS[m.kind], "width": 1.5, "dash": "dot"},
        )
        fig.add_annotation(
            x=m.at,
            y=1,
            xref="x",
            yref="paper",
            text=", ".join(labels[m.at]),
            showarrow=False,
            yanchor="bottom",
            font={"size": 10, "color": MARK_COLOURS[m.kind]},
            hovertext=m.text[:200],
        )
    return fig
