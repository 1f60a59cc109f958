"""Blast-radius budgets, property-based: whatever the replicas, shares, PDBs and timing, the
guards never let more pods go at once than the budget, never take a workload below its PDB's
minimum, and never exceed the per-namespace hourly budget. The last test runs the real guard
against the database with generated histories."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.governance import guards, policy
from apps.governance.action_models import Action, Status

BUDGETS = policy.validate({})["budgets"]
shares = st.decimals(min_value="0.01", max_value="1", places=2).map(float)


@given(replicas=st.integers(0, 2_000), share=shares)
def test_it_caps_disruption_at_the_share_rounded_down_and_at_least_one(replicas, share):
    exact = int(replicas * Decimal(str(share)))  # floor for non-negative values
    assert policy.disruption_cap(replicas, share) == max(1, exact)


@given(replicas=st.integers(0, 500), share=shares)
def test_it_never_allows_fewer_pods_for_a_bigger_workload(replicas, share):
    assert policy.disruption_cap(replicas + 1, share) >= policy.disruption_cap(replicas, share)


ops = st.lists(st.sampled_from(["request", "apply", "recover"]), min_size=1, max_size=60)


@given(
    replicas=st.integers(1, 40),
    share=shares,
    min_available=st.none() | st.integers(0, 40),
    steps=ops,
)
def test_it_never_disrupts_more_than_the_budget_or_below_a_pdb(
    replicas, share, min_available, steps
):
    """A model of the cluster: a granted action is in flight until it deletes its pod; a
    deleted pod is down until its replacement is ready. The PDB status the guard reads is the
    one Kubernetes reports: healthy pods and max(0, healthy - minAvailable) disruptions."""
    in_flight = down = 0
    for op in steps:
        if op == "request":
            healthy = replicas - down
            pdbs = []
            if min_available is not None:
                pdbs = [
                    policy.PdbView("pdb", max(0, healthy - min_available), healthy, min_available)
                ]
            verdict = policy.disruption_verdict(
                workload="web", replicas=replicas, share=share, busy=in_flight, pdbs=pdbs
            )
            idle = in_flight == 0 and (min_available is None or healthy > min_available)
            assert verdict == "" or not idle, "an idle workload may always lose one pod"
            if not verdict:
                in_flight += 1
        elif op == "apply" and in_flight:
            in_flight, down = in_flight - 1, down + 1
        elif op == "recover" and down:
            down -= 1
        assert in_flight <= policy.disruption_cap(replicas, share)
        if min_available is not None and in_flight:
            assert replicas - down - in_flight >= min_available


@given(
    limit=st.integers(1, 12),
    gaps=st.lists(st.integers(0, 30), min_size=1, max_size=80),
)
def test_it_never_exceeds_the_hourly_budget_in_any_hour(limit, gaps):
    budgets = {**BUDGETS, "actions_per_namespace_per_hour": limit}
    granted: list[int] = []  # seconds
    t = 0
    for gap in gaps:
        t += gap * 60
        recent = sum(1 for g in granted if g >= t - 3600)
        verdict = policy.namespace_budget_verdict(budgets, "shop", recent)
        assert (verdict == "") == (recent < limit)
        if not verdict:
            granted.append(t)
    for start in granted:
        assert sum(1 for g in granted if start <= g <= start + 3600) <= limit


# --- the guard itself, counting real rows ----------------------------------------------------

statuses = st.sampled_from([s.value for s in Status])
history = st.lists(
    st.tuples(statuses, st.integers(0, 150), st.sampled_from(["shop", "pay"])), max_size=14
)


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=history)
def test_the_guard_counts_what_the_budgets_promise(history, olivia):
    from apps.clusters.models import Cluster

    now = timezone.now()
    with transaction.atomic():
        cluster = Cluster.objects.create(name="budgets", connection="sandbox")
        rules = policy.validate({"budgets": {**BUDGETS, "actions_per_namespace_per_hour": 4}})
        for status, minutes_ago, ns in history:
            _action(cluster, ns, status, now - timedelta(minutes=minutes_ago))
        candidate = _action(cluster, "shop", Status.PROPOSED, None)
        why = guards._blast_radius(candidate, rules, now, "approve")
        hour = sum(1 for s, m, ns in history if ns == "shop" and s in guards.COUNTED and m <= 60)
        active = sum(1 for s, _, _ in history if s in guards.ACTIVE)
        if hour >= 4:
            assert why.startswith(f"{hour} actions in shop in the last hour")
        elif active >= BUDGETS["concurrent_per_cluster"]:
            assert why.startswith(f"{active} actions already queued or running")
        else:
            assert why == ""
        transaction.set_rollback(True)


def _action(cluster, ns, status, queued_at):
    return Action.objects.create(
        cluster=cluster,
        kind="scale",
        namespace=ns,
        target_kind="Deployment",
        target_name="web",
        parameters={"replicas": 3},
        reason="property test",
        requester="olivia",
        fingerprint="x",
        status=status,
        queued_at=queued_at,
        expires_at=timezone.now() + timedelta(minutes=30),
    )
