"""Governance's part of GET /metrics (apps/core/metrics.py): actions and approval waits."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from apps.core.metrics import histogram

from .action_models import Action


def prometheus_part() -> list:
    actions = GaugeMetricFamily(
        "zerotouch_actions",
        "Actions kept, by kind and state (final states: succeeded, failed, rolled_back, "
        "rejected, expired, blocked, cancelled).",
        labels=["kind", "status"],
    )
    rows = Action.objects.values("kind", "status").annotate(n=Count("pk")).order_by("kind")
    for row in rows:
        actions.add_metric([row["kind"], row["status"]], row["n"])
    wait = histogram(
        "zerotouch_action_approval_wait_seconds",
        "From proposal to approval (by a person or by policy), per kind of action.",
        "kind",
        Action.objects.all(),
        "created_at",
        "approved_at",
    )
    return [actions, wait]
