"""The failing container's logs, where SREs need them: kept with the incident when it is
escalated or when a person asks for the latest lines (log_fetch.py), and quoted in a crash's
diagnosis. The reads run where the cluster's credentials are (the healing cycle, the fetch
task on the score worker): the incident page only shows what is stored.

Which container: among the pods of the incident's target, the one that restarted most (a
crash or an OOM kill), else one that is not ready. Which lines: the run before its last
restart (what it said before it died) and, if it runs again, the current one. Reads go
through the gateway's read verb (no governance: nothing changes); a cluster that cannot be
read gives a message in place of the lines, never an error page.

Logs can hold secrets, so only roles with Cap.READ_LOGS (operator, approver, admin) see the
lines; viewers get a note. The one line a diagnosis quotes is shown to every role, with
anything that looks like a credential masked.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import Gateway
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.gateway.types import Container, Pod
from apps.clusters.models import Cluster

from .diagnose import Cause, Diagnosis
from .models import Incident, LogExcerpt, TimelineEntry
from .state import ClusterState, PodState

TAIL = 40  # lines per run shown and kept
QUOTED = (Cause.BAD_ROLLOUT, Cause.CRASH_LOOP, Cause.CONFIG_ERROR)  # a crash's words explain it
# The crash's cause is on its error line; the fatal line after it only says it exits.
ERRORS = re.compile(r"\b(ERROR|Error:|Exception|Traceback)")
FATAL = re.compile(r"\b(FATAL|CRITICAL|PANIC|panic:)")
# What looks like a credential in a log line: key=value or "key": "value" for secret-sounding
# keys (the value ends at a space, quote, comma or brace), a bearer or basic token after its
# scheme, a URL's password, a PEM block, an AWS access key id. Replaced by *** (`masked`).
CREDENTIAL_KEYS = (
    r"password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credentials?|authorization"
)
SECRETS = [
    re.compile(
        rf"""(?i)((?:{CREDENTIAL_KEYS})\w*["']?\s*[=:]\s*["']?)((?:(?:bearer|basic)\s+)?[^\s"',}}]+)"""
    ),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(r"(://[^:/\s@]+:)([^@\s]+)(?=@)"),
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)(.*?)(?=-----END|$)"),
    re.compile(r"()\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"),
]
EVIDENCE_PREFIX = "the crash's own words"


@dataclass
class Excerpt:
    """One run's last lines, or why they could not be read."""

    pod: str
    container: str
    previous: bool
    lines: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class IncidentLogs:
    excerpts: list[Excerpt] = field(default_factory=list)
    note: str = ""  # why there is nothing to show (no pod, a node incident, ...)
    at: datetime | None = None  # the cluster's clock when it answered, if it did


# --- choosing the container ------------------------------------------------------------------


def belongs(pod: Pod, incident: Incident) -> bool:
    """Whether the pod is the incident's target or one of its workload's pods."""
    if pod.namespace != incident.namespace:
        return False
    if incident.scope == "pod":
        return pod.name == incident.name
    owner = pod.owner
    if owner is None:
        return False
    if owner.kind == "ReplicaSet":
        return owner.name.rsplit("-", 1)[0] == incident.name
    return owner.name == incident.name


def _badness(c: Container) -> tuple:
    return (c.restarts, bool(c.last_terminated_reason), not c.ready)


def failing_container(pods: list[Pod]) -> tuple[Pod, Container] | None:
    """The pod and container that failed most: restarts, then a termination, then unready."""
    pairs = [(p, c) for p in pods for c in p.containers]
    if not pairs:
        return None
    return max(pairs, key=lambda pc: (_badness(pc[1]), not pc[0].ready))


def runs_to_read(c: Container) -> list[bool]:
    """previous=True/False runs worth reading. Waiting to restart, the kubelet answers the run
    that just ended either way: read it once."""
    if c.restarts and c.state == "running":
        return [True, False]
    if c.restarts:
        return [True]
    return [False]


# --- reading ---------------------------------------------------------------------------------


def has_containers(incident: Incident) -> bool:
    """Whether the incident's target runs containers (a workload, Job or pod; not a node)."""
    return incident.scope in ("workload", "job", "pod") and bool(incident.namespace)


def incident_logs_read(*, incident: Incident, tail: int = TAIL) -> IncidentLogs:
    """The failing container's last lines, live from the cluster (workers only). Never
    raises: a failure is a message in place of the lines."""
    if not has_containers(incident):
        return IncidentLogs(note=f"a {incident.scope} incident has no container of its own")
    try:
        gw = gateway_for(incident.cluster)
    except gw_errors.GatewayError as exc:
        return IncidentLogs(note=f"the cluster cannot be reached: {exc.message}")
    try:
        found = _read(gw, incident, tail)
        found.at = gw.last_server_time
        return found
    finally:
        gw.close()


def _read(gw: Gateway, incident: Incident, tail: int) -> IncidentLogs:
    try:
        pods = [p for p in gw.pods(incident.namespace) if belongs(p, incident)]
    except gw_errors.GatewayError as exc:
        return IncidentLogs(note=f"the pods could not be listed: {exc.message}")
    chosen = failing_container(pods)
    if chosen is None:
        return IncidentLogs(note=f"no pod of {incident.target_label} is left to read")
    pod, c = chosen
    out = IncidentLogs()
    for previous in runs_to_read(c):
        excerpt = Excerpt(pod.name, c.name, previous)
        try:
            excerpt.lines = list(
                gw.container_logs(
                    pod.namespace, pod.name, c.name, previous=previous, tail=tail
                ).lines
            )
        except gw_errors.GatewayError as exc:
            excerpt.error = exc.message
        out.excerpts.append(excerpt)
    return out


# --- kept at escalation ------------------------------------------------------------------------


def log_excerpts_record(*, cluster: Cluster, incident_ids: list[int]) -> int:
    """Keep the failing container's last lines with each incident just escalated: read first
    (no transaction open while the cluster answers), then written briefly. Returns the
    number of excerpts kept."""
    kept = 0
    for incident in Incident.objects.filter(cluster=cluster, pk__in=incident_ids):
        found = incident_logs_read(incident=incident)
        if not found.excerpts:
            continue
        at, now = incident.last_seen_at, timezone.now()  # one capture: one created_at
        with transaction.atomic():
            for e in found.excerpts:
                LogExcerpt.objects.create(
                    incident=incident,
                    at=at,
                    created_at=now,
                    pod=e.pod,
                    container=e.container,
                    previous=e.previous,
                    lines=e.lines,
                    error=e.error[:2000],
                )
            e = found.excerpts[0]
            which = "before its last restart" if e.previous else "current run"
            TimelineEntry.objects.create(
                incident=incident,
                at=at,
                kind="logs",
                text=f"last lines of {e.pod} ({e.container}, {which}) kept with the escalation",
            )
        kept += len(found.excerpts)
    return kept


# --- quoted in a diagnosis ---------------------------------------------------------------------


def error_line(lines: list[str] | tuple[str, ...]) -> str:
    """The last line that reads as an error, else the last fatal one ("" if none)."""
    for pattern in (ERRORS, FATAL):
        line = next((line for line in reversed(lines) if pattern.search(line)), "")
        if line:
            return line
    return ""


def masked(line: str) -> str:
    """The line with anything that looks like a credential replaced by ***."""
    for pattern in SECRETS:
        line = pattern.sub(lambda m: f"{m[1]}***", line)
    return line


def quote_crashes(*, cluster: Cluster, found: list[Diagnosis], state: ClusterState) -> None:
    """Add the crash's error line to the evidence of each crash diagnosis (a config key that
    is missing says more than "CrashLoopBackOff"). One log read per such diagnosis."""
    wanted = [d for d in found if d.cause in QUOTED and d.namespace]
    if not wanted:
        return
    try:
        gw = gateway_for(cluster)
    except gw_errors.GatewayError:
        return
    try:
        for d in wanted:
            _quote(gw, d, state)
    finally:
        gw.close()


def _quote(gw: Gateway, d: Diagnosis, state: ClusterState) -> None:
    names = {p for s in d.signals for p in s.pods}
    pods = [p for p in state.pods if p.namespace == d.namespace and p.name in names]
    pick = _crashed(pods)
    if pick is None:
        return
    pod, container = pick
    try:
        lines = gw.container_logs(d.namespace, pod, container, previous=True, tail=TAIL).lines
    except gw_errors.GatewayError:
        return
    line = error_line(lines)
    if line:
        d.evidence.append(f'{EVIDENCE_PREFIX} ({pod}, {container}): "{masked(line)}"')


def _crashed(pods: list[PodState]) -> tuple[str, str] | None:
    best = None
    for p in pods:
        for c in p.containers:
            restarts = c.get("restarts") or 0
            if restarts and (best is None or restarts > best[0]):
                best = (restarts, p.name, c.get("name") or "")
    return (best[1], best[2]) if best else None


def log_excerpts_prune(cutoff) -> int:
    """Excerpts kept before the cutoff: log lines may hold what should not be kept forever."""
    n, _ = LogExcerpt.objects.filter(created_at__lt=cutoff, fetching=False).delete()
    return n
