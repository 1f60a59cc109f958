"""Figures for the costs page. Pure functions of allocation results: no Django."""

from collections.abc import Sequence

import plotly.graph_objects as go

from .allocation import Cost, Series

IDLE_COLOUR = "#9aa4b2"
ALLOCATED_COLOUR = "#1c64f2"
LAYOUT = {"margin": {"l": 70, "r": 20, "t": 50, "b": 50}, "hovermode": "x unified"}


def _percent(value: float | None) -> str:
    return "no requests" if value is None else f"{value:.0%}"


def cost_by_namespace(series: Series) -> go.Figure:
    """Stacked areas: each namespace's cost rate per bucket (with its idle share when idle is
    shared), and the idle nobody carries on top as its own trace."""
    fig = go.Figure()
    x = list(series.starts)
    ranked = sorted((series.namespaces or {}).items(), key=lambda kv: -sum(kv[1]))
    for name, values in ranked:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=series.per_hour(values),
                name=name,
                mode="lines",
                stackgroup="cost",
                line={"width": 0.5},
                hovertemplate="%{y:$.4f} per hour",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=series.per_hour(series.idle),
            name="idle (not allocated)",
            mode="lines",
            stackgroup="cost",
            line={"width": 0.5, "color": IDLE_COLOUR},
            fillcolor="rgba(154, 164, 178, 0.45)",
            hovertemplate="%{y:$.4f} per hour",
        )
    )
    minutes = series.bucket.total_seconds() / 60
    every = f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"
    xaxis = {"title": {"text": "time (UTC)"}, "tickformat": "%H:%M\n%b %d"}
    if len(x) < 2 and x:  # one bucket: show the hours around it, not its milliseconds
        xaxis["range"] = [x[0] - series.bucket, x[0] + series.bucket]
    stacked = [series.per_hour(v) for _, v in ranked] + [series.per_hour(series.idle)]
    peak = max((sum(bucket) for bucket in zip(*stacked, strict=True)), default=0.0)
    fig.update_layout(
        title={"text": f"Cost by namespace ($ per hour, averaged over {every} buckets, UTC)"},
        xaxis=xaxis,
        yaxis={
            "title": {"text": "$ per hour"},
            "rangemode": "tozero",
            "tickformat": money_ticks(peak),
        },
        height=380,
        **LAYOUT,
    )
    return fig


def money_ticks(largest: float) -> str:
    """A dollar axis's tick format with enough places that its ticks differ ("$0.01 $0.01"
    is no axis): cents from a dollar up, more places below."""
    if largest >= 1:
        return "$,.2f"
    if largest >= 0.1:
        return "$.3f"
    return "$.4f"


def top_workloads(items: Sequence[Cost], n: int = 10) -> go.Figure:
    """The n most expensive workloads as horizontal bars, largest on top; CPU and memory cost
    and efficiency (usage / request) in the hover."""
    top = sorted(items, key=lambda c: -c.total)[:n][::-1]
    hover = [
        f"CPU ${c.cpu:.4f} (efficiency {_percent(c.cpu_efficiency)})<br>"
        f"memory ${c.memory:.4f} (efficiency {_percent(c.memory_efficiency)})"
        for c in top
    ]
    fig = go.Figure(
        go.Bar(
            x=[c.total for c in top],
            y=[c.name for c in top],
            orientation="h",
            marker={"color": ALLOCATED_COLOUR},
            customdata=hover,
            hovertemplate="<b>%{y}</b><br>%{x:$.4f} over the range<br>%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": f"Top {len(top)} workloads ($ over the range)"},
        xaxis={
            "title": {"text": "$ over the range"},
            "tickformat": money_ticks(max((c.total for c in top), default=0)),
        },
        yaxis={"automargin": True},
        height=max(220, 40 + 32 * len(top)),
        margin={"l": 20, "r": 20, "t": 50, "b": 50},
    )
    return fig


def idle_share(allocated: float, idle: float) -> go.Figure:
    """A donut: what containers were billed against what the nodes cost beyond that."""
    fig = go.Figure(
        go.Pie(
            labels=["allocated to containers", "idle"],
            values=[allocated, idle],
            hole=0.55,
            sort=False,
            marker={"colors": [ALLOCATED_COLOUR, IDLE_COLOUR]},
            texttemplate="%{percent:.0%}",
            hovertemplate="%{label}: %{value:$.4f}<extra></extra>",
        )
    )
    total = allocated + idle
    share = idle / total if total else 0.0
    fig.update_layout(
        title={"text": f"Idle share ($ over the range): {share:.0%} of ${total:.2f}"},
        height=320,
        margin={"l": 20, "r": 20, "t": 50, "b": 20},
    )
    return fig


# --- Capacity forecast (issue 7): pure functions of forecast.Forecast results -----------------

BAND_80 = "rgba(28, 100, 242, 0.25)"
BAND_95 = "rgba(28, 100, 242, 0.12)"
CAPACITY_COLOUR = "#c81e1e"
SERIES_COLOURS = {"usage": "#1c64f2", "requests": "#7e3af2"}


def _band(fig: go.Figure, x: list, low, high, name: str, colour: str, group: str) -> None:
    fig.add_trace(
        go.Scatter(
            x=x,
            y=list(high),
            mode="lines",
            line={"width": 0},
            showlegend=False,
            legendgroup=group,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=list(low),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=colour,
            name=name,
            legendgroup=group,
            hoverinfo="skip",
        )
    )


def capacity_forecast(
    title: str,
    history: dict,
    forecasts: dict,
    capacity: float,
    *,
    scale: float = 1.0,
    unit: str = "",
) -> go.Figure:
    """History, forecast mean, 80%/95% bands per series ("usage", "requests"), the capacity
    line and each crossing marked. `history` maps a name to a pd.Series, `forecasts` to a
    forecast.Forecast; values are divided by `scale` (e.g. 1000 for cores from millicores)."""
    fig = go.Figure()
    for name, series in history.items():
        colour = SERIES_COLOURS.get(name, ALLOCATED_COLOUR)
        fig.add_trace(
            go.Scatter(
                x=list(series.index),
                y=list(series.to_numpy() / scale),
                mode="lines",
                name=f"{name} (hourly mean)",
                line={"color": colour},
            )
        )
        f = forecasts.get(name)
        if f is None or not f.ok:
            continue
        x = list(f.timestamps)
        _band(fig, x, f.lower_95 / scale, f.upper_95 / scale, f"{name} 95%", BAND_95, name)
        _band(fig, x, f.lower_80 / scale, f.upper_80 / scale, f"{name} 80%", BAND_80, name)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=list(f.mean / scale),
                mode="lines",
                name=f"{name} forecast",
                line={"color": colour, "dash": "dash"},
            )
        )
        if f.crosses_at is not None:
            fig.add_vline(x=f.crosses_at, line={"color": colour, "dash": "dot"})
            fig.add_annotation(
                x=f.crosses_at,
                y=capacity / scale,
                text=f"{name} reaches capacity",
                showarrow=True,
                arrowhead=2,
            )
    fig.add_hline(
        y=capacity / scale,
        line={"color": CAPACITY_COLOUR},
        annotation_text=f"allocatable {capacity / scale:.3g} {unit}".strip(),
    )
    fig.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "time (UTC)"}},
        yaxis={"title": {"text": unit}, "rangemode": "tozero"},
        height=380,
        **LAYOUT,
    )
    return fig
