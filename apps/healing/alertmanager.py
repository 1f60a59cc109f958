"""Alertmanager in: receivers (an admin makes one; its bearer token is shown once and stored as
a digest, the way API tokens are; revoked, never deleted) and the webhook's alerts, stored one
row per fingerprint and read by the next healing cycle as signals (alerts.py).

A webhook call is one transaction: a malformed payload stores nothing (a 400 names the field);
an alert the receiver may not change (another cluster, another receiver's, older than what is
stored) is skipped and reported in the 200, and the others are stored. The healing cycle it
triggers runs on a worker after the commit, never in the request.
"""

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record, token_digest

from .alert_models import Alert, AlertReceiver, AlertStatus
from .alerts import kind_for

log = logging.getLogger(__name__)
RECEIVER_PREFIX = "ztam_"  # how a receiver's token begins
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")  # Prometheus's label names
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,58}[a-z0-9])?$")
LABEL_FIELDS = ("cluster_label", "namespace_label", "pod_label", "workload_label", "node_label")
NO_END = datetime(1971, 1, 1, tzinfo=UTC)  # Alertmanager sends year 1 for "no end yet"


# --- receivers ---------------------------------------------------------------------------------


@transaction.atomic
def alert_receiver_create(
    *,
    actor: AbstractBaseUser,
    name: str,
    cluster: Cluster | None = None,
    clusters: list[Cluster] | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[AlertReceiver, str]:
    """A receiver for one Alertmanager: bound to one `cluster`, or to the `clusters` its
    alerts' cluster label may name (a label naming any other is refused for that alert).
    `labels` may rename the labels that name an alert's cluster, namespace, pod, workload and
    node (keys as in LABEL_FIELDS). The raw token is returned once and never stored."""
    require(actor, Cap.MANAGE_POLICY)
    name = (name or "").strip()
    if not NAME.match(name):
        raise ValidationFailed(
            "a receiver needs a name of 1 to 60 lowercase letters, digits and dashes", field="name"
        )
    allowed = sorted({c.pk: c for c in clusters or []}.values(), key=lambda c: c.name)
    if cluster is None and not allowed:
        raise ValidationFailed(
            "name the receiver's cluster, or the clusters its alerts' cluster label may name",
            field="clusters",
        )
    if cluster is not None and allowed:
        raise ValidationFailed(
            "a receiver bound to one cluster takes no list of clusters", field="clusters"
        )
    chosen = {k: v.strip() for k, v in (labels or {}).items() if v and v.strip()}
    for key, value in chosen.items():
        if key not in LABEL_FIELDS:
            raise ValidationFailed(f"no such label setting: {key}", field=key)
        if not LABEL_NAME.match(value):
            raise ValidationFailed(f"{value!r} is not a Prometheus label name", field=key)
    if AlertReceiver.objects.filter(name=name).exists():
        raise Conflict(f"a receiver named {name} exists already", field="name")
    raw = RECEIVER_PREFIX + secrets.token_urlsafe(32)
    receiver = AlertReceiver.objects.create(
        name=name,
        cluster=cluster,
        prefix=raw[:10],
        digest=token_digest(raw),
        created_by=actor.get_username(),
        **chosen,
    )
    receiver.clusters.set(allowed)
    audit_record(
        actor=actor,
        verb="alert_receiver.created",
        target_type="alert_receiver",
        target_id=str(receiver.pk),
        target_repr=f"Alertmanager receiver {receiver}",
        after={
            "name": name,
            "cluster": cluster.name if cluster else None,
            "clusters": [c.name for c in allowed],
            "prefix": receiver.prefix,
            "labels": receiver.labels(),
        },
    )
    return receiver, raw


@transaction.atomic
def alert_receiver_revoke(
    *, actor: AbstractBaseUser, receiver_id: int, reason: str = ""
) -> AlertReceiver:
    """Its token stops working at once; its alerts stay, as history."""
    require(actor, Cap.MANAGE_POLICY)
    receiver = AlertReceiver.objects.filter(pk=receiver_id).first()
    if receiver is None:
        raise NotFound("no such receiver")
    now = timezone.now()
    n = AlertReceiver.objects.filter(pk=receiver.pk, revoked_at__isnull=True).update(revoked_at=now)
    if n != 1:
        raise Conflict("the receiver is already revoked")
    receiver.refresh_from_db()
    audit_record(
        actor=actor,
        verb="alert_receiver.revoked",
        target_type="alert_receiver",
        target_id=str(receiver.pk),
        target_repr=f"Alertmanager receiver {receiver}",
        before={"revoked_at": None},
        after={"revoked_at": now.isoformat()},
        reason=reason,
    )
    return receiver


def alert_receiver_authenticate(raw: str) -> AlertReceiver | None:
    """The active receiver behind a bearer token, or None. Records the use (at most once a
    minute; not an audited change)."""
    if not raw or not raw.startswith(RECEIVER_PREFIX) or len(raw) > 100:
        return None
    receiver = AlertReceiver.objects.filter(digest=token_digest(raw)).first()
    if receiver is None or not receiver.is_active:
        return None
    now = timezone.now()
    AlertReceiver.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1)),
        pk=receiver.pk,
    ).update(last_used_at=now)
    return receiver


# --- the webhook -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertIn:
    """One alert of a webhook call, as Alertmanager sends it (version 4)."""

    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str


@dataclass
class Received:
    alerts: int = 0
    accepted: int = 0  # stored (or already stored as sent)
    firing: list[str] = field(default_factory=list)  # newly firing (or firing again)
    resolved: list[str] = field(default_factory=list)  # newly resolved
    skipped: list[dict] = field(default_factory=list)  # {fingerprint, alertname, reason}
    clusters: set[int] = field(default_factory=set)


def alerts_receive(
    *, receiver: AlertReceiver, alerts: list[AlertIn], group_key: str = ""
) -> Received:
    """Store a webhook call's alerts, one row per (cluster, fingerprint): a firing alert sent
    again updates its row, `resolved` ends it. An alert whose cluster the receiver may not
    speak for, whose row another active receiver owns, or that is older than its row (an HA
    pair's late delivery) is skipped and reported; the rest are stored. One transaction,
    audited when an alert starts, ends or is refused; a healing cycle for each cluster
    concerned is queued after the commit."""
    _check(alerts)
    clusters = _clusters(receiver, alerts)
    out = Received(alerts=len(alerts))
    with transaction.atomic():
        for a, (cluster, why) in zip(alerts, clusters, strict=True):
            changed, why = _store(receiver, cluster, a, group_key) if cluster else (False, why)
            if why:
                name = a.labels["alertname"].strip()
                out.skipped.append({"fingerprint": a.fingerprint, "alertname": name, "reason": why})
                continue
            out.accepted += 1
            if changed:
                getattr(out, a.status).append(f"{a.labels['alertname']} ({a.fingerprint})")
            out.clusters.add(cluster.pk)
        if out.skipped:
            log.warning(
                "alertmanager receiver %s: %d of %d alerts skipped, first: %s",
                receiver.name,
                len(out.skipped),
                len(alerts),
                out.skipped[0],
            )
        if out.firing or out.resolved or out.skipped:
            audit_record(
                actor=f"alertmanager:{receiver.name}",
                verb="alerts.received",
                target_type="alert_receiver",
                target_id=str(receiver.pk),
                target_repr=f"Alertmanager receiver {receiver}",
                after={
                    "firing": out.firing[:50],
                    "resolved": out.resolved[:50],
                    "skipped": out.skipped[:50],
                },
                reason=f"group {group_key}"[:1000],
            )
        for cluster_id in sorted(out.clusters):
            transaction.on_commit(lambda c=cluster_id: _heal_soon(c))
    return out


def _check(alerts: list[AlertIn]) -> None:
    """The payload's shape: a 400 naming the field, before anything is written."""
    for i, a in enumerate(alerts):
        name = (a.labels.get("alertname") or "").strip()
        if not name or len(name) > 200:
            raise ValidationFailed(
                "every alert needs an alertname label of 1 to 200 characters",
                field=f"alerts[{i}].labels.alertname",
            )


def _clusters(receiver: AlertReceiver, alerts: list[AlertIn]) -> list[tuple[Cluster | None, str]]:
    """Each alert's cluster: the receiver's, or the one its cluster label names among the
    clusters the receiver may speak for; (None, why) for an alert with no such cluster."""
    if receiver.cluster_id is not None:
        return [(receiver.cluster, "")] * len(alerts)
    allowed = {c.name: c for c in receiver.clusters.all()}
    label = receiver.cluster_label
    out: list[tuple[Cluster | None, str]] = []
    for a in alerts:
        value = a.labels.get(label, "")
        if value in allowed:
            out.append((allowed[value], ""))
        elif not value:
            out.append((None, f"no {label} label: the receiver has no cluster of its own"))
        else:
            out.append(
                (
                    None,
                    f"the label {label}={value[:100]!r} names no cluster this receiver may speak "
                    f"for ({', '.join(sorted(allowed)) or 'none'})",
                )
            )
    return out


def _store(
    receiver: AlertReceiver, cluster: Cluster, a: AlertIn, group_key: str
) -> tuple[bool, str]:
    """Insert or update the alert's row: (True when it started or ended firing, "") or
    (False, why it was skipped). Two calls inserting the same new fingerprint at once (an HA
    pair) both succeed: the second updates the row the first made."""
    labels, names = a.labels, receiver.labels()
    alertname = labels["alertname"].strip()
    now = timezone.now()
    values = {
        "receiver": receiver,
        "alertname": alertname,
        "status": a.status,
        "kind": kind_for(alertname, labels),
        "severity": labels.get("severity", "")[:40],
        "namespace": labels.get(names["namespace"], "")[:253],
        "pod": labels.get(names["pod"], "")[:253],
        "workload": labels.get(names["workload"], "")[:253],
        "node": labels.get(names["node"], "")[:253],
        "container": labels.get("container", "")[:253],
        "pvc": labels.get("persistentvolumeclaim", "")[:253],
        "labels": labels,
        "annotations": a.annotations,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at if a.ends_at and a.ends_at > NO_END else None,
        "generator_url": a.generator_url[:2000],
        "group_key": group_key[:2000],
        "updated_at": now,
    }
    resolved = a.status == AlertStatus.RESOLVED
    rows = Alert.objects.select_for_update()
    row = rows.filter(cluster=cluster, fingerprint=a.fingerprint).first()
    if row is None:
        try:
            with transaction.atomic():  # a savepoint: a concurrent insert loses only this
                Alert.objects.create(
                    cluster=cluster,
                    fingerprint=a.fingerprint,
                    received_at=now,
                    resolved_at=now if resolved else None,
                    **values,
                )
            return True, ""
        except IntegrityError:  # inserted (and committed) by a concurrent call meanwhile
            row = rows.get(cluster=cluster, fingerprint=a.fingerprint)
    why = _not_ours(receiver, row, a)
    if why:
        return False, why
    changed = row.status != a.status
    if changed:
        values["resolved_at"] = now if resolved else None
    for key, value in values.items():
        setattr(row, key, value)
    row.save()
    return changed, ""


def _not_ours(receiver: AlertReceiver, row: Alert, a: AlertIn) -> str:
    """Why a call may not change the stored row ("" when it may): another receiver's row
    (unless that receiver was revoked, or the alert ended: then the row is free to take), or
    an older state than the stored one (Alertmanager's HA pairs deliver out of order)."""
    owner = row.receiver
    firing = row.status == AlertStatus.FIRING
    if owner is not None and owner.pk != receiver.pk and owner.is_active and firing:
        return f"the alert belongs to the receiver {owner.name}"
    if a.starts_at < row.starts_at:
        return "older than the stored alert (it started later)"
    if not firing and a.starts_at == row.starts_at and a.status == AlertStatus.FIRING:
        return "older than the stored alert (it already ended)"
    return ""


def _heal_soon(cluster_id: int) -> None:
    """A healing cycle for the cluster on a worker (by name: the task lives in tasks.py). A
    broker that is down costs the alert nothing: the next scoring runs a cycle anyway."""
    try:
        current_app.send_task("healing.cycle", args=(cluster_id,), expires=60, retry=False)
    except Exception:  # the alerts are stored; the cycle after the next scoring reads them
        log.exception("could not queue a healing cycle for cluster %s", cluster_id)


def alerts_prune(cutoff: datetime) -> int:
    """Alerts Alertmanager last sent before the cutoff (resolved, or long stale)."""
    n, _ = Alert.objects.filter(updated_at__lt=cutoff).delete()
    return n
