"""Plotly figures for the cluster pages. Pure functions of plain data: no Django."""

import plotly.graph_objects as go


def usage_timeline(points) -> go.Figure:
    """Cluster CPU and memory use against allocatable capacity, per collection."""
    ts = [p.ts for p in points]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=ts,
            y=[p.cpu_m / 1000 for p in points],
            name="CPU used (cores)",
            mode="lines",
            line={"color": "#2457c5"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ts,
            y=[p.allocatable_cpu_m / 1000 for p in points],
            name="CPU allocatable",
            mode="lines",
            line={"color": "#2457c5", "dash": "dot"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ts,
            y=[p.memory / 2**30 for p in points],
            name="Memory used (GiB)",
            mode="lines",
            yaxis="y2",
            line={"color": "#a86200"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ts,
            y=[p.allocatable_memory / 2**30 for p in points],
            name="Memory allocatable",
            mode="lines",
            yaxis="y2",
            line={"color": "#a86200", "dash": "dot"},
        )
    )
    fig.update_layout(
        height=320,
        margin={"l": 50, "r": 50, "t": 20, "b": 40},
        yaxis={"title": "cores", "rangemode": "tozero"},
        yaxis2={"title": "GiB", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2},
        hovermode="x unified",
    )
    return fig
