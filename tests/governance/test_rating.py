"""ZeroTouch's own severity and risk for an action (governance/rating.py): pure, no cluster."""

import subprocess
import sys

import pytest

from apps.governance.rating import Facts, Rating, raised, rate

GiB = 2**30


def _rate(kind, parameters=None, judged=None, **facts):
    return rate(Facts(kind=kind, parameters=parameters or {}, **facts), judged)


@pytest.mark.parametrize(
    ("kind", "parameters", "facts", "risk"),
    [
        ("scale", {"replicas": 0}, {"replicas": 3}, "high"),
        ("scale", {"replicas": 1}, {"replicas": 4}, "high"),  # half or more removed
        ("scale", {"replicas": 3}, {"replicas": 4}, "medium"),
        ("scale", {"replicas": 5}, {"replicas": 4}, "low"),
        ("scale", {"replicas": 40}, {"replicas": 4}, "medium"),  # capacity and cost
        ("scale", {"replicas": 5}, {"replicas": None}, "medium"),  # unknown: not low
        ("restart_pod", {}, {"replicas": 3}, "low"),
        ("restart_pod", {}, {"replicas": 1}, "medium"),
        ("restart_pod", {}, {"controlled": False}, "high"),
        ("evict_pod", {}, {"controlled": False}, "high"),
        ("rollout_restart", {}, {"replicas": 1}, "medium"),
        ("rollout_undo", {"revision": 1}, {"replicas": 3}, "medium"),
        ("cordon", {}, {}, "medium"),
        ("uncordon", {}, {}, "low"),
        ("drain_node", {}, {"node_pods": 7}, "high"),
        ("drain_node", {}, {"node_pods": 0}, "medium"),
        ("chaos_pod_kill", {}, {}, "medium"),
        ("chaos_pod_kill", {}, {"environment": "production"}, "high"),
        ("reboot_the_world", {}, {}, "high"),  # unknown kinds fail closed
    ],
)
def test_it_rates_a_persons_proposal_by_kind_and_target(kind, parameters, facts, risk):
    assert _rate(kind, parameters, **facts).risk == risk


CURRENT = {"requests": {"cpu": 250, "memory": GiB // 4}, "limits": {"memory": GiB}}


@pytest.mark.parametrize(
    ("parameters", "risk"),
    [
        ({"container": "web", "limits": {"memory": "2Gi"}}, "low"),
        ({"container": "web", "limits": {"memory": "512Mi"}}, "high"),
        ({"container": "web", "requests": {"cpu": "100m"}}, "medium"),
        ({"container": "web", "limits": {"cpu": "2"}}, "medium"),  # a new CPU limit throttles
        ({"container": "web", "requests": {"memory": "300Mi"}}, "low"),
    ],
)
def test_resource_patches_are_rated_against_the_current_resources(parameters, risk):
    assert _rate("patch_resources", parameters, replicas=3, resources=CURRENT).risk == risk


def test_a_patch_whose_current_resources_are_unknown_is_not_low():
    assert _rate("patch_resources", {"limits": {"memory": "2Gi"}}).risk == "medium"


@pytest.mark.parametrize(
    ("environment", "severity"),
    [("production", "P1"), ("staging", "P2"), ("development", "P3")],
)
def test_severity_follows_impact_and_environment(environment, severity):
    # Scaling to zero takes the workload away entirely: impact 1, shifted by environment.
    r = _rate("scale", {"replicas": 0}, replicas=3, environment=environment)
    assert r.severity == severity
    assert "removes every replica" in r.why[0] and f"{environment} cluster" in r.why


def test_a_cordon_in_production_is_p3_and_in_development_p4():
    assert _rate("cordon", environment="production").severity == "P3"
    assert _rate("cordon", environment="development").severity == "P4"


def test_a_runbooks_judgement_stands_in_for_the_table():
    # A drain of a node that is down already: the runbook rates it low, the table high.
    r = _rate("drain_node", judged=("P2", "low"), node_pods=5, environment="production")
    assert (r.severity, r.risk) == ("P2", "low")


@pytest.mark.parametrize(
    ("kind", "parameters", "facts"),
    [
        ("scale", {"replicas": 0}, {"replicas": 3}),
        ("scale", {"replicas": 2}, {"replicas": 6}),
        ("restart_pod", {}, {"controlled": False}),
        ("chaos_stress", {}, {"environment": "production"}),
    ],
)
def test_hard_floors_hold_whoever_judges(kind, parameters, facts):
    r = _rate(kind, parameters, judged=("P4", "low"), **facts)
    assert r.risk == "high"
    assert r.severity != "P4" or facts.get("environment", "development") == "development"


def test_a_proposer_may_raise_the_rating_but_never_lower_it():
    base = Rating("P3", "medium", ("x",))
    assert raised(base, severity="P4", risk="low") == base
    up = raised(base, severity="P1", risk="high")
    assert (up.severity, up.risk) == ("P1", "high")
    assert "severity raised to P1 by the proposer" in up.why
    assert raised(base, severity=None, risk=None) == base


def test_the_rating_module_imports_no_django():
    code = "import sys, apps.governance.rating; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
