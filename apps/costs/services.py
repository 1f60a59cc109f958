"""Writes: a cluster's price sheet, replaced wholesale or reset to the defaults (admin, audited
in the same transaction). Bad input raises PriceSheetInvalid naming every bad row; nothing is
written unless the whole sheet is good."""

import dataclasses
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core.errors import Conflict, ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record

from . import prices
from .models import PriceRow, PriceSheet
from .selectors import prices_for_cluster

Actor = AbstractBaseUser | str


class PriceSheetInvalid(ValidationFailed):
    """The sheet has bad rows; `errors` lists each with its line and column."""

    def __init__(self, errors: list[prices.RowError], *, what: str) -> None:
        self.errors = errors
        n = len(errors)
        self.summary = f"{what}: {n} problem{'s' if n != 1 else ''}"
        listed = "; ".join(str(e) for e in errors)
        super().__init__(f"{self.summary}: {listed}", field="rows")


def _actor_name(actor: Actor) -> str:
    return actor if isinstance(actor, str) else actor.get_username()


def _authorize(actor: Actor, reason: str) -> None:
    if not isinstance(actor, str):
        require(actor, Cap.MANAGE_POLICY)
    if not (reason or "").strip():
        raise ValidationFailed("a reason is required: say why the prices change", field="reason")


def _snapshot(sheet: prices.PriceSheet, *, custom: bool) -> dict:
    return {"custom": custom, **prices.as_dict(sheet)}


@transaction.atomic
def price_sheet_set(
    *,
    actor: Actor,
    cluster: Cluster,
    rows: Sequence[prices.PriceRow],
    source: str,
    reason: str,
    base: str | None = None,
) -> PriceSheet:
    """Replace the cluster's sheet with these rows. `base`, when given, is the fingerprint of
    the sheet the edit started from: a sheet changed since then is refused (409)."""
    _authorize(actor, reason)
    source = (source or "").strip()
    if not source or len(source) > 300:
        raise ValidationFailed("a source of 1 to 300 characters is required", field="source")
    rows = tuple(rows)
    if errors := prices.check_rows(rows):
        raise PriceSheetInvalid(errors, what="The prices were not changed")
    rows = tuple(
        dataclasses.replace(
            r, kind=prices.Kind(r.kind), capacity_type=prices.CapacityType(r.capacity_type)
        )
        for r in rows
    )
    return _replace(actor, cluster, prices.PriceSheet(rows, source), reason, base)


@transaction.atomic
def price_sheet_load_csv(
    *, actor: Actor, cluster: Cluster, text: str, reason: str, base: str | None = None
) -> PriceSheet:
    """Replace the cluster's sheet with a CSV price sheet, or refuse it whole."""
    _authorize(actor, reason)
    parsed = prices.parse_price_sheet(text)
    if isinstance(parsed, list):
        raise PriceSheetInvalid(parsed, what="The CSV price sheet was not loaded")
    sheet = dataclasses.replace(parsed, source=f"CSV upload by {_actor_name(actor)}")
    return _replace(actor, cluster, sheet, reason, base)


def _replace(
    actor: Actor, cluster: Cluster, new: prices.PriceSheet, reason: str, base: str | None
) -> PriceSheet:
    stored = PriceSheet.objects.select_for_update().filter(cluster_id=cluster.pk).first()
    before = prices_for_cluster(cluster)  # read under the lock
    was_custom = stored is not None
    if base and base != prices.fingerprint(before):
        raise Conflict("the prices changed while you edited them; reload the page and try again")
    stored = stored or PriceSheet(cluster=cluster)
    stored.source, stored.updated_by = new.source, _actor_name(actor)
    stored.updated_at = timezone.now()
    try:
        with transaction.atomic():
            stored.save()
    except IntegrityError as exc:  # another admin created this cluster's sheet just now
        raise Conflict("the prices changed while you edited them; try again") from exc
    PriceRow.objects.filter(sheet=stored).delete()
    PriceRow.objects.bulk_create(
        PriceRow(
            sheet=stored,
            position=i,
            kind=r.kind.value,
            selector=r.selector,
            capacity_type=r.capacity_type.value,
            **{c: getattr(r.prices, c) for c in prices.PRICE_COLUMNS},
        )
        for i, r in enumerate(new.rows)
    )
    audit_record(
        actor=actor,
        verb="prices.changed",
        target_type="cluster",
        target_id=str(cluster.pk),
        target_repr=f"prices of cluster {cluster.name}",
        before=_snapshot(before, custom=was_custom),
        after=_snapshot(new, custom=True),
        reason=reason,
    )
    return stored


@transaction.atomic
def price_sheet_reset(*, actor: Actor, cluster: Cluster, reason: str) -> bool:
    """Back to the default prices. False when the cluster already used them (nothing audited)."""
    _authorize(actor, reason)
    stored = PriceSheet.objects.select_for_update().filter(cluster_id=cluster.pk).first()
    if stored is None:
        return False
    before = prices_for_cluster(cluster)
    stored.delete()
    audit_record(
        actor=actor,
        verb="prices.reset",
        target_type="cluster",
        target_id=str(cluster.pk),
        target_repr=f"prices of cluster {cluster.name}",
        before=_snapshot(before, custom=True),
        after=_snapshot(prices.DEFAULT_SHEET, custom=False),
        reason=reason,
    )
    return True
