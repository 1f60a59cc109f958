"""Figures for the prediction pages. Pure functions of plain data: no Django."""

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from .series import METRIC_LABELS

LEVEL_COLOURS = {"low": "#2e7d32", "medium": "#b58900", "high": "#d9480f", "critical": "#b42318"}
BAND = "rgba(180, 35, 24, 0.14)"


@dataclass(frozen=True)
class Band:
    start: datetime
    end: datetime
    label: str  # entity
    score: float
    metrics: str  # "memory (MiB), restarts"
    open: bool = False


def anomaly_bands(anomalies) -> list[Band]:
    """Bands from stored anomalies (anything with start, end, label, peak_score, metrics, open)."""
    return [
        Band(
            a.start, a.end, a.label, a.peak_score, ", ".join(m["metric"] for m in a.metrics), a.open
        )
        for a in anomalies
    ]


def entity_timeline(series: pd.DataFrame, metrics: list[str], bands: list[Band]) -> go.Figure:
    """One line per metric (each on its own small panel, so scales do not fight), with the
    entity's anomalies as shaded bands across every panel. Zoom is Plotly's own."""
    n = max(len(metrics), 1)
    fig = go.Figure()
    gap = 0.04
    height = (1 - gap * (n - 1)) / n
    for i, metric in enumerate(metrics):
        axis = "" if i == 0 else str(i + 1)
        fig.add_trace(
            go.Scatter(
                x=series["ts"],
                y=series[metric],
                name=METRIC_LABELS.get(metric, metric),
                mode="lines",
                xaxis="x",
                yaxis=f"y{axis}",
                line={"width": 1.5},
            )
        )
        top = 1 - i * (height + gap)
        fig.layout[f"yaxis{axis}"] = {
            "domain": [max(top - height, 0), top],
            "title": {"text": METRIC_LABELS.get(metric, metric), "font": {"size": 10}},
            "rangemode": "tozero",
        }
    for b in bands:
        fig.add_shape(  # across every panel: yref paper
            type="rect",
            xref="x",
            yref="paper",
            x0=b.start,
            x1=b.end,
            y0=0,
            y1=1,
            fillcolor=BAND,
            line_width=0,
            layer="below",
        )
    fig.update_layout(
        height=140 * n + 80,
        margin={"l": 70, "r": 20, "t": 20, "b": 40},
        showlegend=False,
        hovermode="x unified",
        xaxis={"anchor": f"y{n if n > 1 else ''}", "rangeslider": {"visible": False}},
    )
    return fig


def cluster_timeline(bands: list[Band], since: datetime, until: datetime) -> go.Figure:
    """Every anomaly in the range as a bar on its entity's row: what went strange, when."""
    rows = sorted({b.label for b in bands})
    fig = go.Figure()
    for b in bands:
        span_ms = max((b.end - b.start).total_seconds() * 1000, 30_000)
        fig.add_trace(
            go.Bar(
                x=[span_ms],
                base=[b.start],
                y=[b.label],
                orientation="h",
                marker={"color": "#b42318" if b.open else "#d9480f"},
                hovertext=f"{b.label}<br>peak {b.score:.1f}<br>{b.metrics}",
                hoverinfo="text",
                showlegend=False,
            )
        )
    fig.update_layout(
        height=max(220, 28 * len(rows) + 90),
        margin={"l": 220, "r": 20, "t": 20, "b": 40},
        xaxis={"type": "date", "range": [since, until]},
        yaxis={"categoryorder": "array", "categoryarray": rows[::-1], "automargin": True},
        barmode="overlay",
    )
    return fig


def sparkline_points(values: list[int], *, width: int = 120, height: int = 24) -> str:
    """An SVG polyline's points for risk 0-100 (inline SVG: no script, CSP-safe)."""
    if not values:
        return ""
    if len(values) == 1:
        values = values * 2
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v or 0) / 100 * height:.1f}" for i, v in enumerate(values)
    )
