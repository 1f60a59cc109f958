"""Reads for alerts from Alertmanager: the firing alerts a healing cycle reads as signals, an
incident's alerts, and the receivers' page."""

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.clusters.models import Cluster

from .alert_models import Alert, AlertReceiver, AlertStatus
from .models import Incident
from .state import AlertState


def alerts_firing(cluster: Cluster) -> QuerySet[Alert]:
    """Firing alerts Alertmanager has sent (again) recently enough: one it stopped sending
    (Alertmanager gone, the receiver removed) stops counting after
    ALERTMANAGER_ALERT_TTL_MINUTES."""
    fresh = timezone.now() - timedelta(minutes=settings.ALERTMANAGER_ALERT_TTL_MINUTES)
    return Alert.objects.filter(cluster=cluster, status=AlertStatus.FIRING, updated_at__gte=fresh)


def alert_states(cluster: Cluster) -> list[AlertState]:
    return [
        AlertState(
            fingerprint=a.fingerprint,
            alertname=a.alertname,
            kind=a.kind,
            since=a.starts_at,
            namespace=a.namespace,
            pod=a.pod,
            workload=a.workload,
            node=a.node,
            container=a.container,
            pvc=a.pvc,
            severity=a.severity,
            summary=a.summary,
            generator_url=a.generator_url,
        )
        for a in alerts_firing(cluster).order_by("fingerprint")
    ]


def incident_alerts(incident: Incident) -> list[Alert]:
    return list(Alert.objects.filter(incident=incident).order_by("alertname", "fingerprint"))


def alert_receiver_list() -> QuerySet[AlertReceiver]:
    return (
        AlertReceiver.objects.select_related("cluster")
        .prefetch_related("clusters")
        .order_by("revoked_at", "name")
    )


def alert_list_recent(*, limit: int = 50) -> list[Alert]:
    return list(
        Alert.objects.select_related("cluster", "receiver", "incident").order_by("-updated_at")[
            :limit
        ]
    )
