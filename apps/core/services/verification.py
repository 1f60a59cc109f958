"""Verifying the audit log (its hash chain, and the chain against the signed checkpoints
outside the database) and keeping the result, which /metrics exposes so an alert can fire."""

from dataclasses import dataclass, field
from pathlib import Path

from ..chain import ChainProblem
from ..models import AuditChainHead, AuditEvent, AuditVerification
from ..selectors import audit_chain_problems
from .checkpoints import AnchorReport, audit_anchor_check

VERIFICATIONS_KEPT = 100


@dataclass
class Verification:
    problems: list[ChainProblem] = field(default_factory=list)
    anchor: AnchorReport | None = None
    record: AuditVerification | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not (self.anchor and self.anchor.problems)


def audit_verify(*, checkpoint_file: Path | None = None, first_only: bool = True) -> Verification:
    """Check the chain and its anchor, and keep the result (the newest VERIFICATIONS_KEPT).
    Telemetry about the log, not a change to it: not itself audited."""
    result = Verification(problems=audit_chain_problems(first_only=first_only))
    result.anchor = audit_anchor_check(checkpoint_file=checkpoint_file)
    if result.problems:
        first = result.problems[0]
        problem = f"chain: {first.message} (id={first.pk} seq={first.seq})"
    else:
        problem = f"anchor: {result.anchor.problems[0]}" if result.anchor.problems else ""
    head = AuditChainHead.objects.filter(pk=1).first()
    result.record = AuditVerification.objects.create(
        ok=result.ok,
        head_seq=head.seq if head else 0,
        events=AuditEvent.objects.count(),
        problem=problem[:2000],
    )
    old = AuditVerification.objects.order_by("-at", "-pk").values_list("pk", flat=True)
    AuditVerification.objects.filter(pk__in=list(old[VERIFICATIONS_KEPT:])).delete()
    return result
