"""A person's own display settings."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..errors import ValidationFailed
from ..models import Preference
from ..roles import Cap, require
from ..timezones import zone_named
from .audit import audit_record


@transaction.atomic
def preference_time_zone_set(*, user: AbstractBaseUser, time_zone: str) -> Preference:
    """Choose the zone `user`'s pages show times in ("" follows the browser). Audited."""
    require(user, Cap.VIEW)
    time_zone = time_zone.strip()
    if time_zone and zone_named(time_zone) is None:
        raise ValidationFailed(
            f"{time_zone!r} is not an IANA time zone (for example Europe/Paris)",
            field="time_zone",
        )
    pref, _ = Preference.objects.select_for_update().get_or_create(user=user)
    before = pref.time_zone
    pref.time_zone, pref.updated_at = time_zone, timezone.now()
    pref.save(update_fields=["time_zone", "updated_at"])
    audit_record(
        actor=user,
        verb="account.time_zone",
        target_type="user",
        target_id=str(user.pk),
        target_repr=f"user {user.get_username()}",
        before={"time_zone": before or "browser"},
        after={"time_zone": time_zone or "browser"},
    )
    return pref
