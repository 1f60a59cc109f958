"""Audit checkpoints: the chain's head, signed with the audit key and written to sinks outside
the database (anchor.py, sinks.py), and the check of the chain against them."""

import logging
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import anchor, sinks
from ..models import AuditChainHead, AuditCheckpoint, AuditEvent

log = logging.getLogger(__name__)


def audit_key() -> bytes:
    return settings.AUDIT_KEY.encode()


def audit_sinks() -> list[sinks.Sink]:
    return sinks.parse_sinks(settings.AUDIT_CHECKPOINT_SINKS)


def audit_checkpoint_write(*, force: bool = False) -> AuditCheckpoint | None:
    """Sign the chain's head and deliver it to every sink; None when nothing was added since
    the last checkpoint (unless `force`). A sink that fails is recorded on the row and retried
    with the next checkpoint; the others still get it."""
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (0, "")
    last = AuditCheckpoint.objects.order_by("-pk").first()
    if not force and last is not None and last.seq == head[0] and not last.failed:
        return None
    at = timezone.now().astimezone(UTC).isoformat(timespec="seconds")
    cp = anchor.sign(audit_key(), seq=head[0], head_hash=head[1], at=at)
    failed = []
    for sink in audit_sinks():
        try:
            sinks.write(sink, cp)
        except sinks.SinkError as exc:
            log.error("audit checkpoint not delivered: %s", exc)
            failed.append(str(exc)[:500])
    with transaction.atomic():
        return AuditCheckpoint.objects.create(
            seq=cp.seq,
            hash=cp.hash,
            at=timezone.now(),
            key_id=cp.key_id,
            signature=cp.signature,
            failed=failed,
        )


@dataclass
class AnchorReport:
    checkpoints: int = 0
    newest: anchor.Checkpoint | None = None
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def unanchored(self) -> int:
        """Rows written after the newest checkpoint: not yet protected by one."""
        return self.head_seq - (self.newest.seq if self.newest else 0)


def audit_anchor_check(*, checkpoint_file: Path | None = None) -> AnchorReport:
    """The chain against the checkpoints outside the database: every checkpoint must be signed
    with the audit key, and the row at its seq must carry its hash. Reads the file sink (or
    `checkpoint_file`, lines exported from a syslog or HTTP sink)."""
    path = checkpoint_file or next((s.path for s in audit_sinks() if s.path), None)
    report = AnchorReport(source=str(path) if path else "")
    report.head_seq = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    if path is None:
        report.problems.append(
            "no checkpoint file to read: add a file:// sink to AUDIT_CHECKPOINT_SINKS, or pass "
            "--checkpoints with the lines from your syslog or HTTP sink"
        )
        return report
    found, bad = sinks.read_file(path)
    report.problems += bad
    report.checkpoints = len(found)
    if not path.exists() and AuditCheckpoint.objects.exists():
        report.problems.append(
            f"the checkpoint file {path} is gone, though checkpoints were written"
        )
    if not found:
        return report
    report.newest = max(found, key=lambda c: c.seq)
    wanted = {c.seq for c in found if c.seq}
    hashes = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        hashes.update(AuditEvent.objects.filter(seq__in=chunk).values_list("seq", "hash"))
    report.problems += anchor.problems(audit_key(), found, hashes, report.head_seq)
    return report
