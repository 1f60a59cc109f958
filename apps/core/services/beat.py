"""The beat lease: at most one Celery beat schedules periodic tasks at a time."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now

from ..models import BeatLease
from .audit import audit_record

LEASE = "beat"


def beat_lease_hold(*, holder: str, seconds: int) -> bool:
    """Renew the lease for `holder`, or take it when it is free or has lapsed; False while
    another holder's lease runs. Renewal is liveness and not audited; a takeover is. Times are
    the database's own, so beats on hosts whose clocks disagree still see one lease."""
    until = ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())
    if BeatLease.objects.filter(name=LEASE, holder=holder).update(expires_at=until):
        return True
    with transaction.atomic():
        lease = BeatLease.objects.select_for_update().filter(name=LEASE).first()
        if lease is None:
            try:
                with transaction.atomic():
                    lease = BeatLease.objects.create(name=LEASE, holder=holder)
            except IntegrityError:  # another beat created it first
                return False
            previous = ""
        elif BeatLease.objects.filter(pk=lease.pk, expires_at__gt=Now()).exists():
            return False
        else:
            previous = lease.holder
        BeatLease.objects.filter(pk=lease.pk).update(
            holder=holder, acquired_at=Now(), expires_at=until
        )
        audit_record(
            actor="system:beat",
            verb="beat.lease_taken",
            target_type="beat",
            target_id=LEASE,
            target_repr=holder,
            before={"holder": previous} if previous else None,
            after={"holder": holder, "lease_seconds": seconds},
            reason=f"{previous}'s lease lapsed" if previous else "first beat",
        )
    return True


def beat_lease_release(*, holder: str) -> None:
    """A beat that stops lets its lease lapse at once, so a standby takes over without waiting."""
    BeatLease.objects.filter(name=LEASE, holder=holder).update(expires_at=Now())
