"""MTTD, MTTR and the auto-resolution rate, overall and by cause and severity, for the pages
and the API. Read-only; times are cluster times, so simulated and real clusters compare."""

import statistics
from collections import defaultdict
from datetime import datetime

from .models import Incident, Status


def _median(values: list[float | None]) -> float | None:
    """The median of the known values (an incident resolved by hand may lack a time)."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def _block(incidents: list[Incident]) -> dict:
    failures = [i for i in incidents if not i.preventive]
    resolved = [i for i in incidents if i.status == Status.RESOLVED]
    fixable = [i for i in resolved if i.action_id is not None or i.healed_by_zerotouch]
    auto = [i for i in fixable if i.healed_by_zerotouch and not i.human_involved]
    return {
        "incidents": len(incidents),
        "open": sum(1 for i in incidents if i.status != Status.RESOLVED),
        "resolved": len(resolved),
        "mttd_seconds": _median([i.mttd_seconds for i in failures]),
        "mttr_seconds": _median([i.mttr_seconds for i in resolved]),
        "auto_resolved": len(auto),
        "auto_resolution_rate": round(len(auto) / len(fixable), 3) if fixable else None,
        "escalated": sum(1 for i in incidents if i.status == Status.ESCALATED),
    }


def summary(*, cluster=None, since: datetime | None = None) -> dict:
    """Overall figures, then by cause, by severity and by day (of detection)."""
    qs = Incident.objects.all()
    if cluster is not None:
        qs = qs.filter(cluster=cluster)
    if since is not None:
        qs = qs.filter(detected_at__gte=since)
    incidents = list(qs.order_by("detected_at")[:5000])
    groups: dict[str, dict[str, list[Incident]]] = {
        "by_cause": defaultdict(list),
        "by_severity": defaultdict(list),
        "by_day": defaultdict(list),
    }
    for i in incidents:
        groups["by_cause"][i.cause].append(i)
        groups["by_severity"][i.severity].append(i)
        groups["by_day"][i.detected_at.date().isoformat()].append(i)
    return {
        **_block(incidents),
        **{name: {k: _block(v) for k, v in sorted(g.items())} for name, g in groups.items()},
    }
