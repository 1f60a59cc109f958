"""The Overview page: clusters, workers, pending actions, recent audit events, and the panels
other apps register (OVERVIEW_PANELS)."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.clusters.selectors import cluster_list
from apps.core import selectors as core_selectors
from apps.core.registry import OVERVIEW_PANELS
from apps.core.roles import Cap, role_required

from . import selectors


@require_GET
@role_required(Cap.VIEW)
def overview(request):
    ctx = {
        "clusters": cluster_list(),
        "workers": core_selectors.worker_list_recent(),
        "recent_events": core_selectors.audit_event_list()[:8],
        "pending": list(selectors.action_list(status="proposed")[:8]),
        "panels": [(template, part()) for template, part in OVERVIEW_PANELS],
    }
    return render(request, "governance/overview.html", ctx)
