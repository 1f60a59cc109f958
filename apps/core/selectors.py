"""Reads for pages and the API: the safety state, the audit log, tokens, workers and health.
Expired modes and switches read as fallen back even before the beat task has written the
fallback ("checked on read")."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import chain
from .models import (
    MODE_STRICTNESS,
    SWITCH_HELP,
    ApiToken,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    Mode,
    Preference,
    SafetyMode,
    SafetySwitch,
    Switch,
    WorkerHeartbeat,
)
from .services import GLOBAL, api_token_touch, initial_mode, token_digest

WORKER_FRESH = timedelta(minutes=1)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwitchState:
    name: str
    label: str
    help: str
    enabled: bool
    expires_at: datetime | None
    reason: str
    changed_by: str
    changed_at: datetime | None


@dataclass(frozen=True)
class SafetyState:
    scope: str
    mode: str
    expires_at: datetime | None
    fallback_mode: str
    reason: str
    changed_by: str
    changed_at: datetime | None
    switches: list[SwitchState] = field(default_factory=list)

    @property
    def mode_label(self) -> str:
        return Mode(self.mode).label

    @property
    def strictness(self) -> int:
        return MODE_STRICTNESS[Mode(self.mode)]

    def switch(self, name: str) -> SwitchState:
        return next(s for s in self.switches if s.name == name)


def safety_state_get(*, scope: str = GLOBAL, now: datetime | None = None) -> SafetyState:
    now = now or timezone.now()
    row = SafetyMode.objects.filter(scope=scope).first()
    if row is None:
        mode, expires, fallback, reason, by, at = initial_mode(scope), None, "", "", "", None
    elif row.expires_at and row.expires_at <= now:
        mode, expires, fallback = row.fallback_mode or initial_mode(scope), None, ""
        reason, by, at = f"expired: {row.reason}", "system:expiry", row.expires_at
    else:
        mode, expires, fallback = row.mode, row.expires_at, row.fallback_mode
        reason, by, at = row.reason, row.changed_by, row.changed_at
    rows = {s.name: s for s in SafetySwitch.objects.filter(scope=scope)}
    switches = []
    for sw in Switch:
        r = rows.get(sw.value)
        live = bool(r and r.enabled and (r.expires_at is None or r.expires_at > now))
        switches.append(
            SwitchState(
                name=sw.value,
                label=sw.label,
                help=SWITCH_HELP[sw],
                enabled=live,
                expires_at=r.expires_at if live else None,
                reason=r.reason if r else "",
                changed_by=r.changed_by if r else "",
                changed_at=r.changed_at if r else None,
            )
        )
    return SafetyState(scope, mode, expires, fallback, reason, by, at, switches)


# --- Audit ----------------------------------------------------------------------------------


def audit_event_list(
    *,
    actor: str = "",
    verb: str = "",
    target: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    if actor:
        qs = qs.filter(actor__icontains=actor)
    if verb:
        qs = qs.filter(verb__istartswith=verb)
    if target:
        qs = qs.filter(
            Q(target_repr__icontains=target) | Q(target_id=target) | Q(target_type=target)
        )
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-seq")


def audit_verbs() -> list[str]:
    return list(AuditEvent.objects.order_by("verb").values_list("verb", flat=True).distinct())


def audit_chain_rows(chunk_size: int = 2000) -> Iterator[chain.ChainRow]:
    for ev in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        yield chain.ChainRow(ev.pk, ev.seq, ev.prev_hash, ev.hash, ev.chain_fields())


def audit_chain_problems(*, first_only: bool = False) -> list[chain.ChainProblem]:
    """Verify the whole chain in one consistent snapshot, so writes landing meanwhile are
    never mistaken for tampering."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
        problems = []
        for problem in chain.verify(audit_chain_rows(), tuple(head) if head else None):
            problems.append(problem)
            if first_only:
                break
        return problems


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-pk").first()


# --- Tokens and workers ---------------------------------------------------------------------


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_authenticate(raw: str):
    """The active user behind a bearer token, or None. Records the use."""
    if not raw or not raw.startswith("zt_") or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(raw)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    api_token_touch(token=token)
    return token.user


def worker_lost_after() -> timedelta:
    """A worker silent this long has stopped: three missed heartbeats, and at least 10 s."""
    return max(timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS), timedelta(seconds=10))


def worker_beats(holders: set[str]) -> dict:
    """hostname -> (last_seen, started_at) for the workers named that were ever seen."""
    rows = WorkerHeartbeat.objects.filter(hostname__in=holders)
    return {
        h: (last, started)
        for h, last, started in rows.values_list("hostname", "last_seen", "started_at")
    }


def worker_last_seen(*, now: datetime | None = None) -> dict:
    """For the banner: whether any worker was seen lately, and when one was last seen."""
    now = now or timezone.now()
    last = WorkerHeartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True)
    last = last.first()
    return {"ok": bool(last and last >= now - WORKER_FRESH), "last": last}


def worker_list_recent(*, now: datetime | None = None) -> list[WorkerHeartbeat]:
    now = now or timezone.now()
    return list(
        WorkerHeartbeat.objects.filter(last_seen__gte=now - WORKER_FRESH).order_by("hostname")
    )


def database_healthy() -> tuple[bool, str]:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return True, connection.vendor
    except Exception as exc:  # any driver error means unhealthy; details go to the log only
        log.warning("database health check failed: %s", exc)
        return False, f"unreachable ({type(exc).__name__}; see the server log)"


def broker_healthy(timeout: float = 2.0) -> tuple[bool, str]:
    from aiops_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            return True, conn.transport_cls if isinstance(conn.transport_cls, str) else "ok"
    except Exception as exc:  # the broker library raises many kinds; report, don't crash
        log.warning("broker health check failed: %s", exc)
        return False, f"unreachable ({type(exc).__name__}; see the server log)"


def preference_zone(user) -> str:
    """The time zone `user` chose on the Account page ("": the browser's)."""
    return Preference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
