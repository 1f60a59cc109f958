"""What healing tells people (core's notifications): an incident opened (or back), escalated
to a person, or resolved. Called inside the transaction of the change; core's
`notification_emit` never raises, and nothing here may fail the healing cycle."""

import logging

from django.db import transaction
from django.urls import reverse

from apps.core.services import notification_emit

from . import runbooks
from .models import Incident

log = logging.getLogger(__name__)


def _severity(incident: Incident, event: str) -> str:
    """A resolution is news, not a page: P4. The rest: the incident's own severity."""
    return "P4" if event == "incident.resolved" else incident.severity


def _title(incident: Incident, event: str) -> str:
    verb = {"incident.opened": "opened", "incident.escalated": "needs a person"}.get(
        event, "resolved"
    )
    return f"Incident #{incident.pk} {verb}: {incident.title}"


def incident_notify(incident: Incident, event: str) -> None:
    """Emit `event` for the incident (its cause, evidence, the runbook's fix, a link)."""
    try:
        with transaction.atomic():
            book = runbooks.runbook_for(incident.cause)
            notification_emit(
                event=event,
                severity=_severity(incident, event),
                title=_title(incident, event),
                body=incident.resolution if event != "incident.opened" else incident.hypothesis,
                cluster_id=incident.cluster_id,
                namespace=incident.namespace,
                fields={
                    "cause": incident.hypothesis,
                    "evidence": [str(e) for e in (incident.evidence or [])][:5],
                    "fix": book.title if book.action is not None else "",
                    "cluster": incident.cluster.name,
                    "target": incident.target_label,
                    "incident": incident.pk,
                },
                link=reverse("healing:detail", args=[incident.pk]),
            )
    except Exception:
        log.exception("incident #%s: %s not notified; the cycle goes on", incident.pk, event)
