"""Reads for the Notifications page."""

from django.db.models import QuerySet

from .models import Delivery, NotificationChannel, NotificationRule


def notification_channel_list() -> QuerySet[NotificationChannel]:
    return NotificationChannel.objects.order_by("name")


def notification_rule_list() -> QuerySet[NotificationRule]:
    return NotificationRule.objects.select_related("channel").order_by("channel__name", "name")


def delivery_list_recent(*, limit: int = 50) -> list[Delivery]:
    return list(
        Delivery.objects.select_related("channel", "notification").order_by("-created_at")[:limit]
    )
