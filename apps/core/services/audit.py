"""The audit log: append one event to the hash chain and read it back as stored."""

import ipaddress
from datetime import UTC
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from .. import chain, context
from ..errors import ApplicationError, ValidationFailed
from ..models import AuditChainHead, AuditEvent

Actor = AbstractBaseUser | str


def _actor_parts(actor: Actor) -> tuple[str, int | None]:
    if isinstance(actor, str):
        if not actor:
            raise ValidationFailed("an audit event needs an actor", field="actor")
        return actor, None
    return actor.get_username(), actor.pk


class AuditWriteError(ApplicationError):
    status = 500


def _normal_ip(value: str | None) -> str | None:
    """The address as the database will store it (IPv6 compressed), or None if invalid."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value)) if ":" not in value else clean_ipv6_address(value)
    except (ValueError, ValidationError):
        return None


@transaction.atomic
def audit_record(
    *,
    actor: Actor,
    verb: str,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction of the change it records."""
    actor_name, actor_user_id = _actor_parts(actor)
    ctx = context.current()
    # The head row is the chain's lock: writers queue on it, so the chain stays linear.
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(pk=1, seq=0, hash=chain.GENESIS)], ignore_conflicts=True
    )
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    created_at = timezone.now().astimezone(UTC)
    fields = {
        "seq": head.seq + 1,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "actor": actor_name,
        "actor_user_id": actor_user_id,
        "verb": verb,
        "target_type": target_type,
        "target_id": str(target_id),
        "target_repr": target_repr[:300],
        "before": chain.jsonable(before),
        "after": chain.jsonable(after),
        "reason": reason,
        "request_id": ctx.request_id,
        "client_ip": _normal_ip(ctx.client_ip),
    }
    digest = chain.row_hash(head.hash, fields)
    event = AuditEvent.objects.create(
        **{**fields, "created_at": created_at}, prev_hash=head.hash, hash=digest
    )
    AuditChainHead.objects.filter(pk=1).update(seq=fields["seq"], hash=digest)
    # Read the row back: what the database stores must hash to what we chained, or the
    # change is refused now instead of looking like tampering later.
    stored = AuditEvent.objects.get(pk=event.pk)
    if chain.row_hash(head.hash, stored.chain_fields()) != digest:
        raise AuditWriteError(f"audit event {verb} does not read back as written; refused")
    return event
