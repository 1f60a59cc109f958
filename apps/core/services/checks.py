"""Input checks shared by the safety, token and user services."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from ..errors import ValidationFailed

MAX_REASON = 2000


MAX_EXPIRY = timedelta(days=90)


def clean_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("a reason is required", field="reason")
    if "\x00" in reason:
        raise ValidationFailed("reason contains a NUL character", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"reason is longer than {MAX_REASON} characters", field="reason")
    return reason


def clean_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if timezone.is_naive(expires_at):
        raise ValidationFailed("expires_at needs a time zone (e.g. ...Z)", field="expires_at")
    if expires_at <= now:
        raise ValidationFailed("expires_at is in the past", field="expires_at")
    if expires_at - now > MAX_EXPIRY:
        raise ValidationFailed("expires_at is more than 90 days away", field="expires_at")
    return expires_at


def iso_text(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None
