"""Which clock a time is on, and how it is shown.

Wall-clock times (the audit log, actions, approvals, tokens) are shown in the viewer's zone,
which ViewerTimezoneMiddleware activates. Times a cluster recorded (samples, scores,
anomalies, incidents, costs) are on that cluster's clock: a real cluster's clock is wall time
and is shown the same way; the sandbox keeps its own simulated clock, which runs ahead of wall
time, so its times are shown as they are, in UTC, and labelled "sandbox clock"."""

import json
import re
from datetime import UTC, datetime

from django.utils import timezone

SANDBOX_LABEL = "sandbox clock"
SANDBOX_TITLE = "the sandbox's own clock (UTC): simulated time, which runs ahead of wall time"
_ISO = re.compile(r'"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)?"')


def on_sandbox_clock(cluster) -> bool:
    return bool(getattr(cluster, "simulated", False))


def shown(value: datetime, cluster=None) -> datetime:
    """`value` as the page shows it: in UTC on the sandbox's clock, else in the viewer's zone."""
    return value.astimezone(UTC) if on_sandbox_clock(cluster) else timezone.localtime(value)


def axis_title(cluster=None) -> str:
    if on_sandbox_clock(cluster):
        return f"{SANDBOX_LABEL} (UTC)"
    return f"time ({timezone.get_current_timezone_name()})"


def chart_json(fig, cluster=None) -> str:
    """A Plotly figure's JSON with its times on the right clock. Plotly draws a time as the
    wall-clock digits it is given, so wall times are rewritten into the viewer's zone (a time
    with no offset is UTC, as everything is stored); the sandbox's stay in UTC. The x axis
    says which clock it is."""
    axes = [k for k in fig.layout.to_plotly_json() if k.startswith("xaxis")] or ["xaxis"]
    bottom = max(axes, key=lambda k: int(k[5:] or 1))  # stacked panels share the lowest
    fig.layout[bottom].title = {"text": axis_title(cluster), "font": {"size": 10}}
    text = fig.to_json()
    if on_sandbox_clock(cluster):
        return text
    zone = timezone.get_current_timezone()

    def local(m: re.Match) -> str:
        offset = "+00:00" if m[3] in (None, "Z") else m[3]
        at = datetime.fromisoformat(f"{m[1]}T{m[2]}{offset}").astimezone(zone)
        return json.dumps(at.replace(tzinfo=None).isoformat())

    return _ISO.sub(local, text)
