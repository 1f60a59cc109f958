"""One view of each workload (issue 17, item 5): the cost plan never cuts a memory limit a fix
raised in the last 7 days, and leaves alone a workload with an incident not over or an action
active on it, saying why on the plan page and in /ai/optimize."""

from datetime import timedelta

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from apps.core.errors import Conflict
from apps.costs import rightsizing
from apps.costs.plans import plan_apply, plan_build
from apps.costs.prices import DEFAULT_ON_DEMAND
from apps.governance.action_models import Action, Status
from apps.healing.models import Incident
from apps.healing.models import Status as IncidentStatus

pytestmark = pytest.mark.django_db
GiB, MiB = 2**30, 2**20


def _fixed_ledger(cluster, limit="3Gi", source="healing", days_ago=1):
    """What the executor leaves behind after a fix raised payments/ledger's memory limit."""
    now = timezone.now()
    return Action.objects.create(
        cluster=cluster,
        kind="patch_resources",
        namespace="payments",
        target_kind="Deployment",
        target_name="ledger",
        workload="ledger",
        source=source,
        requester=f"system:{source}",
        parameters={"container": "ledger", "limits": {"memory": limit}},
        reason="OOM kills",
        fingerprint="x" * 64,
        status=Status.SUCCEEDED,
        expires_at=now,
        finished_at=now - timedelta(days=days_ago),
    )


def test_the_plan_never_cuts_a_limit_a_fix_raised_this_week(collected):
    before = plan_build(cluster=collected).item("payments", "ledger").recommendations[0]
    assert before.recommended.memory_limit_bytes < 3 * GiB  # it would cut, fix or no fix
    action = _fixed_ledger(collected)
    r = plan_build(cluster=collected).item("payments", "ledger").recommendations[0]
    assert r.recommended.memory_limit_bytes == 3 * GiB
    assert r.recommended.memory_request_bytes == before.recommended.memory_request_bytes
    assert any(f"action #{action.pk} (healing)" in why for why in r.reasons)


@pytest.mark.parametrize(("source", "days_ago"), [("costs", 1), ("healing", 8)])
def test_its_own_cuts_and_old_fixes_set_no_floor(collected, source, days_ago):
    _fixed_ledger(collected, source=source, days_ago=days_ago)
    r = plan_build(cluster=collected).item("payments", "ledger").recommendations[0]
    assert r.recommended.memory_limit_bytes < 3 * GiB


def test_a_workload_with_an_incident_not_over_is_left_alone_and_the_plan_says_why(
    collected, olivia, vic
):
    now = timezone.now()
    incident = Incident.objects.create(
        cluster=collected,
        fingerprint="f" * 32,
        cause="memory_leak",
        scope="workload",
        namespace="payments",
        name="ledger",
        title="payments/ledger: memory leak",
        status=IncidentStatus.VERIFYING,
        confidence=0.9,
        severity="P3",
        started_at=now,
        detected_at=now,
        last_seen_at=now,
    )
    plan = plan_build(cluster=collected)
    assert plan.item("payments", "ledger") is None
    (held,) = plan.held
    assert held.key == "payments/ledger" and f"incident #{incident.pk}" in held.why
    with pytest.raises(Conflict, match=f"has incident #{incident.pk}"):
        plan_apply(actor=olivia, cluster=collected, items=[("payments", "ledger")], reason="$")
    c = Client()
    c.force_login(vic)
    api = c.get("/ai/optimize", {"cluster": collected.name}).json()
    assert api["held"] == [
        {"cluster": collected.name, "namespace": "payments", "workload": "ledger", "why": held.why}
    ]
    assert all(i["workload"] != "ledger" for i in api["items"])
    page = c.get(f"/costs/plan/?cluster={collected.name}").content.decode()
    assert 'data-testid="plan-held"' in page and f"incident #{incident.pk}" in page


def test_a_workload_with_an_active_action_is_left_alone(collected, olivia):
    plan_apply(actor=olivia, cluster=collected, items=[("payments", "ledger")], reason="$")
    plan = plan_build(cluster=collected)
    assert [h.key for h in plan.held] == ["payments/ledger"]
    assert "already has an active action" in plan.held[0].why


def test_the_pure_rightsizing_keeps_a_floor_and_says_so():
    t = np.arange(0, 7200, 30.0)
    floor = rightsizing.MemoryFloor(3 * GiB, "action #4 (healing) set it yesterday")
    usage = rightsizing.ContainerUsage(
        "shop",
        "api",
        "api",
        t,
        np.full(t.size, 100.0),
        np.full(t.size, 600 * MiB),
        memory_floor=floor,
    )
    r = rightsizing.recommend(usage, prices=DEFAULT_ON_DEMAND)
    assert r.recommended.memory_limit_bytes == 3 * GiB
    assert r.recommended.memory_request_bytes < GiB
    assert any("Memory limit kept at 3Gi" in why for why in r.reasons)
