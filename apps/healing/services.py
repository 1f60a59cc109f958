"""The healing loop, one cycle per cluster: detect, diagnose, open or update incidents, propose
each incident's runbook through governance, follow the Action to its outcome, verify, and
resolve or escalate. Nothing here touches a cluster: the Action does, through governance.

Times are the cluster's (its API server's clock), so a sandbox in fast-forward and a real
cluster are measured the same way.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core.errors import ApplicationError
from apps.core.models import Switch
from apps.core.selectors import safety_state_get
from apps.core.services import audit_record
from apps.governance.action_models import FINAL, IN_FLIGHT, Action, Source
from apps.governance.action_models import Status as AStatus
from apps.governance.actions import (
    action_prepare,
    action_record,
    action_replace,
    action_withdraw,
    rules,
)

from . import logs, runbooks, selectors
from .alert_models import Alert, AlertStatus
from .alerts import alert_signals
from .diagnose import Cause, Diagnosis, diagnose
from .models import ACTIVE, Incident, Status, TimelineEntry
from .notify import incident_notify
from .signals import detect
from .state import CLEAR_AFTER, REOPEN_WINDOW

log = logging.getLogger(__name__)
ACTOR = "system:healing"
FLAPPING = 3  # reopened this often: escalate instead of fixing again
MAX_NEW_PER_CYCLE = 20  # an incident storm is capped; the rest wait for the next cycle
ACTING_TIMEOUT = timedelta(minutes=20)  # a fix not finished by then is escalated
EXTERNAL_ONLY = "from an external alert only: waits for a person"


@dataclass
class CycleResult:
    found: list[dict] = field(default_factory=list)  # every diagnosis this cycle
    opened: list[int] = field(default_factory=list)
    proposed: list[int] = field(default_factory=list)  # Action ids
    resolved: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    message: str = "ok"


def heal_cycle(*, cluster: Cluster, live: bool = True) -> CycleResult:
    """One detection and proposal cycle for a cluster, under every guard."""
    cluster.refresh_from_db()
    if cluster.last_cluster_time is None:
        return CycleResult(message="not collected yet")
    state = selectors.cluster_state(cluster, live=live)
    found = diagnose(detect(state) + alert_signals(state), state)
    if live:  # a crash's own error line as evidence (reads the cluster: no transaction open)
        logs.quote_crashes(cluster=cluster, found=found, state=state)
    result = CycleResult(found=[_summary(d) for d in found])
    with transaction.atomic():
        Cluster.objects.select_for_update().filter(pk=cluster.pk).first()  # one cycle at a time
        seen = _record(cluster, found, state.now, result)
        _link_alerts(cluster, seen)
        _follow_actions(cluster, state.now, result)
        _clear(cluster, state.now, seen, result, _present(state))
    for incident_id, d in seen.items():
        _propose(incident_id, d, cluster, result)
    if live and result.escalated:  # what the failing container said, kept for the person
        logs.log_excerpts_record(cluster=cluster, incident_ids=result.escalated)
    return result


def _summary(d: Diagnosis) -> dict:
    return {
        "cause": d.cause,
        "target": f"{d.namespace}/{d.name}" if d.namespace else d.name,
        "severity": d.severity,
        "confidence": round(d.confidence, 2),
        "title": d.title,
    }


# --- incidents --------------------------------------------------------------------------------


def _note(incident: Incident, at: datetime, kind: str, text: str, action=None) -> None:
    TimelineEntry.objects.create(incident=incident, at=at, kind=kind, text=text, action=action)


def _audit(incident: Incident, verb: str, reason: str, before=None, after=None) -> None:
    audit_record(
        actor=ACTOR,
        verb=verb,
        target_type="incident",
        target_id=str(incident.pk),
        target_repr=f"incident #{incident.pk} {incident.title}"[:200],
        before=before,
        after=after or {"status": incident.status},
        reason=reason[:1000],
    )


def _record(cluster: Cluster, found: list[Diagnosis], now: datetime, result) -> dict:
    """Open, reopen or update one incident per diagnosis. Returns {incident id: diagnosis}."""
    seen: dict[int, Diagnosis] = {}
    for d in found:
        incident = (
            Incident.objects.select_for_update()
            .filter(cluster=cluster, fingerprint=d.fingerprint, status__in=ACTIVE)
            .first()
        )
        if incident is not None and d.preventive and not incident.preventive:
            # A prediction about a problem already seen (a leak whose limit was raised will
            # be predicted to reach the new one): neither a new cause, nor a reason to change
            # the waiting fix, nor a sign that the fix failed. An incident still waiting for
            # its fix stays current; one whose fix is being verified is judged by the
            # failures its runbook verifies, not by a forecast.
            if incident.status == Status.OPEN:
                incident.last_seen_at, incident.updated_at = now, timezone.now()
                incident.save(update_fields=["last_seen_at", "updated_at"])
            continue
        if incident is not None:
            _update(incident, d, now, result)
        else:
            if _settled(cluster, d, now):
                continue
            incident = _reopen(cluster, d, now)
            if incident is None:
                if len(result.opened) >= MAX_NEW_PER_CYCLE:
                    log.warning(
                        "healing: more than %d new incidents in one cycle on %s; the rest wait",
                        MAX_NEW_PER_CYCLE,
                        cluster,
                    )
                    continue
                incident = _open(cluster, d, now)
                result.opened.append(incident.pk)
        seen[incident.pk] = d
    return seen


def _open(cluster: Cluster, d: Diagnosis, now: datetime) -> Incident:
    incident = Incident.objects.create(
        cluster=cluster,
        fingerprint=d.fingerprint,
        cause=d.cause,
        scope=d.scope,
        namespace=d.namespace,
        name=d.name,
        title=d.title[:300],
        hypothesis=d.hypothesis,
        evidence=d.evidence,
        signals=sorted({s.kind for s in d.signals}),
        confidence=d.confidence,
        severity=d.severity,
        preventive=d.preventive,
        started_at=min(d.since, now),
        detected_at=now,
        last_seen_at=now,
    )
    _note(incident, d.since, "started", "first sign: " + (d.signals[0].detail if d.signals else ""))
    _note(incident, now, "detected", f"{d.severity}, confidence {d.confidence:.0%}: {d.hypothesis}")
    _audit(
        incident,
        "incident.opened",
        d.hypothesis,
        after={
            "status": incident.status,
            "severity": d.severity,
            "cause": d.cause,
            "target": incident.target_label,
        },
    )
    incident_notify(incident, "incident.opened")
    return incident


def _prediction_only(d: Diagnosis) -> bool:
    return d.preventive or d.cause == Cause.ANOMALY


def _settled(cluster: Cluster, d: Diagnosis, now: datetime) -> bool:
    """A prediction or an anomaly alone about a target whose problem was just settled is not
    acted on: during the quiet period after a verified fix (the policy's
    `quiet_period_minutes`), or within REOPEN_WINDOW after an observed failure there resolved
    (a cause never goes from observed back to predicted: right after a failure the model's
    windows still hold it). Only an observed failure reopens such a problem. Noted once on the
    settled incident."""
    if not _prediction_only(d):
        return False
    quiet = timedelta(minutes=rules()["quiet_period_minutes"])
    recent = (
        Incident.objects.filter(cluster=cluster, fingerprint=d.fingerprint, status=Status.RESOLVED)
        .filter(
            Q(healed_by_zerotouch=True, resolved_at__gte=now - quiet)
            | Q(preventive=False, resolved_at__gte=now - REOPEN_WINDOW)
        )
        .exclude(cause=Cause.ANOMALY)
        .order_by("-resolved_at")
        .first()
    )
    if recent is None:
        return False
    if not recent.timeline.filter(kind="quiet", at__gte=recent.resolved_at).exists():
        healed = recent.healed_by_zerotouch
        until = recent.resolved_at + (quiet if healed else REOPEN_WINDOW)
        since = "the quiet period after its verified fix" if healed else "its observed failure"
        text = (
            f"{d.title} — not acted on: {since} settles it until {until:%H:%M:%S}; only an "
            "observed failure reopens it"
        )
        _note(recent, now, "quiet", text)
    return True


def _reopen(cluster: Cluster, d: Diagnosis, now: datetime) -> Incident | None:
    """The same problem back soon after it was resolved: one incident that flaps, not many."""
    recent = (
        Incident.objects.select_for_update()
        .filter(
            cluster=cluster,
            fingerprint=d.fingerprint,
            status=Status.RESOLVED,
            resolved_at__gte=now - REOPEN_WINDOW,
        )
        .order_by("-resolved_at")
        .first()
    )
    if recent is None:
        return None
    before = {"status": recent.status, "resolution": recent.resolution}
    # Flapping counts observed failures only: a prediction that comes and goes is not one.
    recent.reopened += 0 if _prediction_only(d) else 1
    # recovered_at stays: MTTR is the time to the first restore; recurrences are counted.
    recent.status, recent.resolved_at, recent.verify_until = Status.OPEN, None, None
    recent.action, recent.healed_by_zerotouch = None, False
    recent.last_seen_at, recent.updated_at = now, timezone.now()
    # What it is now (a predicted OOM may come back as a real one).
    recent.cause, recent.title, recent.preventive = d.cause, d.title[:300], d.preventive
    recent.hypothesis, recent.evidence, recent.confidence = d.hypothesis, d.evidence, d.confidence
    recent.signals, recent.severity = sorted({x.kind for x in d.signals}), d.severity
    if recent.reopened >= FLAPPING:
        recent.status = Status.ESCALATED
        recent.resolution = (
            f"flapping: back {recent.reopened} times within "
            f"{REOPEN_WINDOW.seconds // 60} min of resolving; a person must "
            "look at the cause"
        )
    recent.save()
    times = f"{recent.reopened}x" if not _prediction_only(d) else "predicted again"
    _note(recent, now, "reopened", f"back after resolving ({times}): {d.hypothesis}")
    _audit(recent, "incident.reopened", d.hypothesis, before=before)
    reopened = "incident.escalated" if recent.status == Status.ESCALATED else "incident.opened"
    incident_notify(recent, reopened)
    return recent


def _update(incident: Incident, d: Diagnosis, now: datetime, result) -> None:
    kinds = sorted({s.kind for s in d.signals})
    new = set(kinds) - set(incident.signals)
    if new:
        _note(
            incident,
            now,
            "evidence",
            "new signs: " + "; ".join(s.detail for s in d.signals if s.kind in new),
        )
    if d.cause != incident.cause:
        _note(
            incident,
            now,
            "revised",
            f"likely cause revised: {incident.cause_label} -> "
            f"{d.cause.replace('_', ' ')} ({d.hypothesis})",
        )
        revived = (
            incident.status == Status.ESCALATED
            and not d.preventive
            and runbooks.runbook_for(d.cause).action is not None
            # Only an escalation of what it seemed before: a forecast, an anomaly, a cause
            # with no automatic fix. Never one a person must look at (flapping, a fix that
            # was refused, failed or did not hold).
            and incident.action_id is None
            and incident.reopened < FLAPPING
            and (
                incident.preventive
                or incident.cause == Cause.ANOMALY
                or runbooks.runbook_for(incident.cause).action is None
            )
        )
        incident.cause, incident.title, incident.preventive = d.cause, d.title[:300], d.preventive
        if revived:
            # Escalated for what it seemed before (a forecast with no safe fix, an anomaly);
            # an observed cause with a runbook of its own gets its fix offered.
            before = {"status": incident.status, "resolution": incident.resolution}
            incident.status, incident.resolution, incident.action = Status.OPEN, "", None
            _audit(incident, "incident.revised", d.hypothesis, before=before)
    if d.severity < incident.severity:  # "P1" < "P2": more urgent
        _note(incident, now, "severity", f"{incident.severity} -> {d.severity}")
        incident.severity = d.severity
    incident.evidence, incident.signals, incident.hypothesis = d.evidence, kinds, d.hypothesis
    incident.confidence, incident.last_seen_at, incident.updated_at = (
        d.confidence,
        now,
        timezone.now(),
    )
    book = runbooks.runbook_for(incident.cause)
    # A drained node is mitigated, even while it stays NotReady, once no pod fails on it and
    # the workloads that ran there have every replica available again.
    mitigated = (
        book.resolves_when == "workloads"
        and all(s.scope == "node" for s in d.signals)
        and not d.facts.get("short")
    )
    acted = incident.status == Status.ACTING and incident.action_id is not None
    if incident.status == Status.VERIFYING or (acted and mitigated):
        if mitigated:
            incident.recovered_at = incident.recovered_at or now
        elif incident.reopened == 0:
            incident.recovered_at = None  # seen again before the window ended: not recovered
    window_over = incident.verify_until is not None and now >= incident.verify_until
    if incident.status == Status.VERIFYING and window_over:
        if mitigated:
            # The workloads run elsewhere; the node itself needs a person, so the incident
            # is escalated (not resolved) and ends when the node is back.
            why = (
                f"mitigated by action #{incident.action_id} ({book.title.lower()}): its "
                "workloads run elsewhere; the node itself needs a person: " + "; ".join(book.checks)
            )
            _escalate(incident, now, why, result)
            return
        _escalate(
            incident,
            now,
            "the fix did not hold: the problem is still there after the verification window",
            result,
        )
        return
    incident.save()


def _escalate(incident: Incident, now: datetime, why: str, result=None) -> None:
    before = {"status": incident.status}
    incident.status, incident.resolution, incident.updated_at = (
        Status.ESCALATED,
        why,
        timezone.now(),
    )
    incident.save()
    _note(incident, now, "escalated", why, incident.action)
    _audit(incident, "incident.escalated", why, before=before)
    incident_notify(incident, "incident.escalated")
    if result is not None:
        result.escalated.append(incident.pk)


def _resolve(incident: Incident, now: datetime, why: str, *, healed: bool, result) -> None:
    before = {"status": incident.status}
    incident.status, incident.resolution, incident.resolved_at = Status.RESOLVED, why, now
    incident.healed_by_zerotouch, incident.updated_at = healed, timezone.now()
    incident.save()
    _note(incident, now, "resolved", why, incident.action)
    _audit(
        incident,
        "incident.resolved",
        why,
        before=before,
        after={
            "status": incident.status,
            "healed_by_zerotouch": healed,
            "mttr_seconds": incident.mttr_seconds,
        },
    )
    incident_notify(incident, "incident.resolved")
    result.resolved.append(incident.pk)


# --- following the fix -------------------------------------------------------------------------


def _follow_actions(cluster: Cluster, now: datetime, result) -> None:
    """Move each incident along with its Action: approved -> acting, succeeded -> verifying,
    refused or failed -> escalated."""
    for incident in selectors.incidents_active(cluster).select_for_update(of=("self",)):
        a = incident.action
        if a is None or incident.status in (Status.VERIFYING, Status.ESCALATED):
            continue
        approvals = list(a.approvals.all())
        if any(not ap.approver.startswith("policy:") for ap in approvals):
            incident.human_involved = True
        if incident.status == Status.OPEN and a.approved_at is not None:
            # Approved since the last cycle (and perhaps already run): the timeline says so.
            who = ", ".join(ap.approver for ap in approvals)
            _note(incident, now, "approved", f"action #{a.pk} approved by {who}", a)
        if a.status in (AStatus.APPROVED, AStatus.QUEUED, AStatus.RUNNING):
            if incident.status != Status.ACTING:
                incident.status = Status.ACTING
            elif a.started_at and timezone.now() - a.started_at > ACTING_TIMEOUT:
                _escalate(
                    incident,
                    now,
                    f"action #{a.pk} has not finished in {ACTING_TIMEOUT.seconds // 60} min",
                    result,
                )
                continue
            incident.save()
        elif a.status == AStatus.SUCCEEDED:
            book = runbooks.runbook_for(incident.cause)
            incident.status = Status.VERIFYING
            incident.verify_until = now + timedelta(minutes=book.verify_minutes)
            incident.save()
            _note(
                incident,
                now,
                "verifying",
                f"action #{a.pk} succeeded; checking for "
                f"{book.verify_minutes} min that {book.verification}",
                a,
            )
        elif a.status in FINAL:
            why = f"action #{a.pk} {a.get_status_display().lower()}" + (
                f": {a.status_reason}" if a.status_reason else ""
            )
            _escalate(incident, now, why + "; a person must decide", result)


def _recovered_at(incident: Incident, now: datetime) -> datetime:
    """When service came back: the moment the executor saw the target healthy after the fix,
    if that falls after the last cycle that still saw the problem; otherwise this cycle (the
    first that no longer sees it)."""
    verified = (incident.action.result or {}).get("verified_at") if incident.action else None
    at = datetime.fromisoformat(verified) if verified else None
    return at if at is not None and incident.last_seen_at <= at <= now else now


def _present(state) -> set[tuple[str, str, str]]:
    return {
        *(("workload", w.namespace, w.name) for w in state.workloads),
        *(("node", "", n.name) for n in state.nodes),
        *(("pvc", c.namespace, c.name) for c in state.pvcs),
    }


def _clear(cluster: Cluster, now: datetime, seen: dict, result, present: set) -> None:
    """Incidents no longer seen: verified fixes resolve when their window ends; problems that
    went away by themselves resolve after CLEAR_AFTER; a target that is gone ends its
    incident at once."""
    for incident in selectors.incidents_active(cluster).select_for_update(of=("self",)):
        if incident.pk in seen:
            continue
        a = incident.action
        if incident.scope in ("workload", "node") and (
            (incident.scope, incident.namespace, incident.name) not in present
        ):
            why = f"the {incident.scope} {incident.target_label} no longer exists"
            if a is not None and a.status == AStatus.PROPOSED:
                action_withdraw(actor=ACTOR, action=a, reason=f"incident #{incident.pk}: {why}")
            _resolve(incident, now, why, healed=False, result=result)
            continue
        if incident.status == Status.VERIFYING:
            if incident.recovered_at is None:
                incident.recovered_at = _recovered_at(incident, now)
                incident.save(update_fields=["recovered_at"])
                _note(
                    incident,
                    now,
                    "recovered",
                    "the problem is no longer seen; confirming until the verification window ends",
                )
            if incident.verify_until and now >= incident.verify_until:
                book = runbooks.runbook_for(incident.cause)
                why = f"fixed by action #{a.pk if a else '?'} ({book.title.lower()}); verified: "
                _resolve(incident, now, why + book.verification, healed=True, result=result)
            continue
        if incident.status == Status.ACTING:
            continue  # the fix is under way; its outcome decides
        resolved_alerts = _alerts_resolved(incident)
        if now - incident.last_seen_at >= CLEAR_AFTER or resolved_alerts:
            pending = a is not None and a.status == AStatus.PROPOSED
            why = "cleared by itself" + (f" before action #{a.pk} was approved" if pending else "")
            if incident.status == Status.ESCALATED:
                why = "cleared after escalation"
            if resolved_alerts:
                why += f"; resolved in Alertmanager ({resolved_alerts})"
            if pending:  # nobody should approve a fix for a problem that is gone
                action_withdraw(actor=ACTOR, action=a, reason=f"incident #{incident.pk} {why}")
            _resolve(incident, now, why, healed=False, result=result)


def _link_alerts(cluster: Cluster, seen: dict) -> None:
    """Each firing alert is evidence of the incident its signal went into."""
    for incident_id, d in seen.items():
        prints = [p for s in d.signals for p in s.evidence.get("alerts", ())]
        if prints:
            Alert.objects.filter(cluster=cluster, fingerprint__in=prints).update(
                incident_id=incident_id
            )


def _alerts_resolved(incident: Incident) -> str:
    """The names of the incident's alerts when Alertmanager resolved every one of them ("" if it
    has none, or one still fires): Alertmanager's own confirmation that it is over, so the
    incident need not wait CLEAR_AFTER (a problem back soon reopens it, as ever)."""
    rows = list(Alert.objects.filter(incident=incident).values_list("alertname", "status"))
    if not rows or any(status == AlertStatus.FIRING for _, status in rows):
        return ""
    return ", ".join(sorted({name for name, _ in rows}))


# --- proposing the fix ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Intent:
    """What a cycle decided to propose for an incident, under its lock: the fix to prepare on
    the cluster (outside any transaction), and the state it was decided on."""

    plan: runbooks.Plan
    action_id: int | None  # the incident's action when decided: a change means decide again
    stale_id: int | None  # the waiting proposal the fix replaces
    why: str
    reason: str
    severity: str  # the incident's: with the runbook's risk, ZeroTouch's own judgement
    evidence: dict
    auto: bool


def _propose(incident_id: int, d: Diagnosis, cluster: Cluster, result) -> None:
    """Decide under the incident's lock, prepare the fix on the cluster with no transaction
    open (a slow API server holds no lock), then record it and link it under the lock again
    — unless the incident changed meanwhile, when nothing is written and the next cycle
    decides afresh."""
    intent = _intend(incident_id, d, cluster, result)
    if intent is None:
        return
    plan, refused = intent.plan, None
    try:
        prepared = action_prepare(
            actor=ACTOR,
            cluster=cluster,
            kind=plan.kind,
            target_name=plan.target,
            namespace=plan.namespace,
            parameters=plan.parameters,
            reason=intent.reason,
            judged=(intent.severity, plan.runbook.risk),
            source=Source.HEALING,
            evidence=intent.evidence,
            allow_auto_approve=intent.auto,
        )
    except ApplicationError as exc:
        prepared, refused = None, exc
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.status != Status.OPEN or incident.action_id != intent.action_id:
            return
        now = incident.last_seen_at
        stale = Action.objects.get(pk=intent.stale_id) if intent.stale_id else None
        if refused is not None:
            if stale is not None:
                _withdraw(incident, stale, intent.why, now)
            _escalate(incident, now, f"the runbook could not propose its fix: {refused}", result)
            return
        if stale is not None:  # withdrawn first: two fixes are never open at once
            try:
                reason = f"incident #{incident.pk}: stale: {intent.why}"
                action_withdraw(actor=ACTOR, action=stale, reason=reason)
            except ApplicationError:  # decided on meanwhile: that decision stands
                return
        action = action_record(prepared)
        if stale is not None:
            _replace(incident, stale, action, intent.why, now)
        incident.action = action
        incident.save()
        _note(
            incident,
            now,
            "proposed",
            f"action #{action.pk}: {plan.runbook.title} "
            f"({plan.kind} {action.target_label} {plan.parameters or ''}); expected: "
            f"{plan.runbook.expected}"
            + (f" — {EXTERNAL_ONLY}" if intent.evidence.get("external_alert_only") else ""),
            action,
        )
        result.proposed.append(action.pk)


def _intend(incident_id: int, d: Diagnosis, cluster: Cluster, result) -> _Intent | None:
    """Under the incident's lock: whether a fix should be proposed now (None: it has one that
    fits, it waits, another fix is active on the target, or it was escalated)."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.status != Status.OPEN:
            return None
        plan = runbooks.plan(d)
        now = incident.last_seen_at
        stale, why = None, ""
        if incident.action_id is not None:
            stale, why = _stale_proposal(incident, plan)
            if stale is None:
                return None  # its fix is active or still fits
        incident.runbook = plan.runbook.name
        if plan.kind is None:
            if stale is not None:
                _withdraw(incident, stale, why, now)
            checks = "; ".join(plan.runbook.checks)
            why = (
                "no safe automatic fix"
                + (f" ({plan.why_not})" if plan.why_not else "")
                + f"; check: {checks}"
            )
            _escalate(incident, now, why, result)
            return None
        # From the incident's start too: a problem whose first sample fell out of the history
        # read would otherwise seem to begin anew every cycle, and wait for ever.
        not_before = plan.wait and min(d.since, incident.started_at) + plan.wait
        if stale is not None and (
            (not_before and now < not_before) or _active_action_on(cluster, plan, besides=stale)
        ):
            _withdraw(incident, stale, why, now)  # never leave a stale fix approvable
            stale = None
        if not_before and now < not_before:
            if not incident.timeline.filter(kind="waiting", action=None).exists():
                _note(
                    incident,
                    now,
                    "waiting",
                    f"{plan.runbook.title} no earlier than {not_before:%H:%M:%S}: {plan.wait_why}",
                )
            incident.save()
            return None
        busy = _active_action_on(cluster, plan, besides=stale)
        if busy is not None:
            if not incident.timeline.filter(kind="waiting", action=busy).exists():
                _note(
                    incident,
                    now,
                    "waiting",
                    f"action #{busy.pk} is already active on "
                    f"{busy.target_label}; one fix at a time",
                    busy,
                )
            incident.save()
            return None
        incident.save()
        # Alertmanager's word alone: its fix waits for a person, whatever the mode (a
        # receiver's token must never be enough to change a cluster).
        external = d.from_alerts_only
        evidence = _evidence(incident, plan)
        reason = f"incident #{incident.pk}: {incident.title} — {plan.runbook.title}"
        if external:
            evidence["external_alert_only"] = True
            reason += f"; {EXTERNAL_ONLY}"
        return _Intent(
            plan=plan,
            action_id=incident.action_id,
            stale_id=stale.pk if stale is not None else None,
            why=why,
            reason=reason,
            severity=incident.severity,
            evidence=evidence,
            auto=_may_auto(incident, cluster) and not external,
        )


def _stale_proposal(incident: Incident, plan: runbooks.Plan) -> tuple[Action | None, str]:
    """The incident's fix if it still waits for approval but no longer fits what this cycle
    sees (the cause was revised, a leak outgrew its size, more replicas are needed), and why;
    (None, "") when it still fits or is no longer a waiting proposal."""
    a = incident.action
    if a.status != AStatus.PROPOSED or a.source != Source.HEALING:
        return None, ""
    proposed = runbooks.Plan(
        runbooks.runbook_named((a.evidence or {}).get("runbook", "")),
        a.kind,
        a.namespace,
        a.target_name,
        a.parameters or {},
    )
    why = runbooks.stale(proposed, plan)
    return (a, why) if why else (None, "")


def _replace(incident: Incident, old: Action, new: Action, why: str, now: datetime) -> None:
    """The withdrawn stale fix is linked to the fresh one, so an approver who opens the old one
    is sent to the new one."""
    action_replace(
        actor=ACTOR, action=old, successor=new, reason=f"incident #{incident.pk}: stale: {why}"
    )
    text = f"action #{old.pk} replaced by #{new.pk} before approval: {why}"
    _note(incident, now, "replaced", text, old)


def _withdraw(incident: Incident, old: Action, why: str, now: datetime) -> None:
    try:
        action_withdraw(actor=ACTOR, action=old, reason=f"incident #{incident.pk}: stale: {why}")
    except ApplicationError:  # decided on meanwhile: that decision stands
        return
    _note(incident, now, "withdrawn", f"action #{old.pk} withdrawn before approval: {why}", old)
    incident.action = None


def _active_action_on(
    cluster: Cluster, plan: runbooks.Plan, *, besides: Action | None = None
) -> Action | None:
    """Only one fix may be active per workload or node (`besides`: the one being replaced)."""
    qs = Action.objects.filter(cluster=cluster, status__in=IN_FLIGHT, namespace=plan.namespace)
    if besides is not None:
        qs = qs.exclude(pk=besides.pk)
    return (qs.filter(target_name=plan.target) | qs.filter(workload=plan.target)).first()


def _may_auto(incident: Incident, cluster: Cluster) -> bool:
    """A predicted failure on production is fixed only with people, unless an admin allows
    it with the switch."""
    if not (incident.preventive and cluster.environment == Cluster.Environment.PRODUCTION):
        return True
    return safety_state_get().switch(Switch.AUTO_HEAL_PREVENTIVE_PRODUCTION).enabled


def _evidence(incident: Incident, plan: runbooks.Plan) -> dict:
    return {
        "incident": incident.pk,
        "hypothesis": incident.hypothesis,
        "evidence": incident.evidence[:8],
        "confidence": incident.confidence,
        "runbook": plan.runbook.name,
        "expected": plan.runbook.expected,
        "verification": plan.runbook.verification,
        "rollback": plan.runbook.rollback,
    }
