"""One-click approval links: one row per link sent in an "action waiting for approval"
notification. The link's token is signed; this row makes it single-use and binds it to what the
action was when the link was sent (its fingerprint) and to the action's expiry."""

from django.db import models
from django.utils import timezone

from .action_models import Action


class ApprovalLink(models.Model):
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="approval_links")
    nonce = models.CharField(max_length=32, unique=True)
    fingerprint = models.CharField(max_length=64)  # the action's when the link was sent
    expires_at = models.DateTimeField()  # the action's expiry when the link was sent
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return f"link for #{self.action_id} ({'used' if self.used_at else 'unused'})"
