"""The approval policy: the active version, its rules, and new versions (admin)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.core.errors import Conflict, ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record

from .. import policy as rules_mod
from ..action_models import Policy


def policy_active() -> Policy:
    row = Policy.objects.filter(active=True).order_by("-version").first()
    if row is None:
        Policy.objects.bulk_create(
            [Policy(name="default", version=1, active=True, rules=rules_mod.DEFAULT_RULES)],
            ignore_conflicts=True,
        )
        row = Policy.objects.filter(active=True).order_by("-version").first()
    return row


def rules() -> dict:
    """The active rules; a stored policy that no longer fits the schema runs as the safe
    defaults with auto-approval off (the Policy page says so) instead of breaking anything."""
    return rules_mod.validate_or_safe(policy_active().rules)[0]


@transaction.atomic
def policy_update(
    *, actor: AbstractBaseUser, rules: dict, reason: str, base_version: int | None = None
) -> Policy:
    """A new policy version (admin); the old one stays for the record. `base_version` is the
    version the editor started from: if someone changed the policy since, nothing is written."""
    require(actor, Cap.MANAGE_POLICY)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required", field="reason")
    try:
        clean = rules_mod.validate(rules)
    except rules_mod.RulesError as exc:
        raise ValidationFailed(str(exc), field=exc.field) from exc
    current = policy_active()
    stale = base_version is not None and base_version != current.version
    if stale or Policy.objects.filter(pk=current.pk, active=True).update(active=False) != 1:
        raise Conflict(
            f"the policy changed while you edited it (now version {current.version}); "
            "reload and apply your change again"
        )
    new = Policy.objects.create(
        name=current.name,
        version=current.version + 1,
        active=True,
        rules=clean,
        created_by=actor.get_username(),
    )
    audit_record(
        actor=actor,
        verb="policy.changed",
        target_type="policy",
        target_id=new.name,
        target_repr=f"policy {new.name}",
        before={"version": current.version, "rules": current.rules},
        after={"version": new.version, "rules": clean},
        reason=reason,
    )
    return new
