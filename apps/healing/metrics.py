"""Healing's part of GET /metrics (apps/core/metrics.py): incidents, MTTD and MTTR."""

from django.db.models import Count, F
from django.db.models.functions import Coalesce
from prometheus_client.core import GaugeMetricFamily

from apps.core.metrics import histogram

from .models import Incident


def prometheus_part() -> list:
    incidents = GaugeMetricFamily(
        "zerotouch_incidents", "Incidents kept, by cause and state.", labels=["cause", "status"]
    )
    rows = Incident.objects.values("cause", "status").annotate(n=Count("pk")).order_by("cause")
    for row in rows:
        incidents.add_metric([row["cause"], row["status"]], row["n"])
    return [
        incidents,
        histogram(
            "zerotouch_incident_detection_seconds",
            "MTTD: from the first sign of a failure to its detection (cluster clock), by cause.",
            "cause",
            Incident.objects.all(),
            "started_at",
            "detected_at",
        ),
        histogram(  # as Incident.mttr_seconds: to the first restore of service
            "zerotouch_incident_recovery_seconds",
            "MTTR: from detection to the first restore of service, by cause.",
            "cause",
            Incident.objects.all(),
            "detected_at",
            Coalesce(F("recovered_at"), F("resolved_at")),
        ),
    ]
