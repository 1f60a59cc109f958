"""Retention: what is older than SAMPLE_RETENTION_DAYS and finished goes, hourly (core.prune).
Housekeeping of rows nobody needs any more, like the samples' pruning: not audited."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import Delivery, Notification
from ..registry import PRUNERS


def notifications_prune(*, cutoff) -> int:
    """Notifications older than the cutoff whose deliveries are all sent or failed."""
    unfinished = Delivery.objects.filter(
        notification=OuterRef("pk"), status__in=["pending", "sending"]
    )
    old = Notification.objects.filter(created_at__lt=cutoff).exclude(Exists(unfinished))
    _, deleted = old.delete()  # their deliveries go with them
    return deleted.get(Notification._meta.label, 0)


def retention_prune(*, now=None) -> dict[str, int]:
    """Prune every kind of row past retention; the count per kind."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SAMPLE_RETENTION_DAYS)
    counts = {"core.notifications": notifications_prune(cutoff=cutoff)}
    for name, pruner in PRUNERS.items():
        counts[name] = pruner(cutoff)
    return counts
