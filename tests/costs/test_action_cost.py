"""Cost on every action: the Approvals inbox shows what each proposed action does to the
monthly bill, from the requests ZeroTouch collected and the cluster's prices."""

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from apps.clusters.quantity import cpu_millis, memory_bytes
from apps.clusters.sandbox import scenario
from apps.core.registry import ACTION_COST
from apps.costs.action_cost import action_cost
from apps.costs.prices import DEFAULT_ON_DEMAND, HOURS_PER_MONTH
from apps.governance.actions import action_propose
from tests.support.sandbox import collect_through
from tests.support.users import login

# `live` and `cluster` are the shared ones: the healthy sandbox, paused (the collections below
# move it).
pytestmark = pytest.mark.django_db


def _requests(name: str) -> dict:
    doc = yaml.safe_load((scenario.SCENARIO_DIR / "healthy.yaml").read_text())
    w = next(w for w in doc["workloads"] if w["name"] == name)
    return {
        "cpu_m": cpu_millis(w["requests"]["cpu"]),
        "memory": memory_bytes(w["requests"]["memory"]),
    }


def _month(cpu_m: float, memory: float) -> float:
    p = DEFAULT_ON_DEMAND
    hourly = cpu_m / 1000 * float(p.cpu_per_vcpu_hour) + memory / 2**30 * float(
        p.memory_per_gib_hour
    )
    return hourly * HOURS_PER_MONTH


def _propose(cluster, who, kind, target, parameters):
    return action_propose(
        actor=who,
        cluster=cluster,
        kind=kind,
        namespace="shop",
        target_name=target,
        parameters=parameters,
        reason="test",
    )


def _inbox(user) -> str:
    response = login(Client(), user).get(reverse("approvals"))
    assert response.status_code == 200
    return response.content.decode()


def test_it_is_registered_into_governance():
    assert action_cost in ACTION_COST


def test_it_shows_what_scaling_up_costs_a_month(cluster, live, olivia, alice):
    collect_through(live, cluster, 1)
    action = _propose(cluster, olivia, "scale", "web", {"replicas": 5})  # 3 -> 5
    web = _requests("web")  # 200m, 256Mi a replica
    expected = 2 * _month(web["cpu_m"], web["memory"])
    assert round(expected, 2) == 10.78  # 2 x (0.2 x 0.031611 + 0.25 x 0.004237) x 730
    assert action_cost(action).monthly == 10.78
    page = _inbox(alice)
    assert f'data-testid="cost-{action.pk}"' in page
    assert "+$10.78/month" in page
    # htmx refresh of the inbox carries it too
    fragment = login(Client(), alice).get(reverse("approvals"), headers={"HX-Request": "true"})
    assert "+$10.78/month" in fragment.content.decode()


def test_lowering_a_request_shows_a_saving(cluster, live, olivia, alice):
    collect_through(live, cluster, 1)
    api = _requests("api")  # 384Mi a replica, 4 replicas
    action = _propose(
        cluster,
        olivia,
        "patch_resources",
        "api",
        {"container": "api", "requests": {"memory": "256Mi"}},
    )
    expected = 4 * _month(0, memory_bytes("256Mi") - api["memory"])
    assert round(expected, 2) == -1.55
    assert action_cost(action).monthly == -1.55
    assert "\u2212$1.55/month" in _inbox(alice)


def test_a_limit_only_patch_and_a_restart_change_no_request(cluster, live, olivia, alice):
    collect_through(live, cluster, 1)
    limit = _propose(
        cluster, olivia, "patch_resources", "api", {"container": "api", "limits": {"memory": "1Gi"}}
    )
    restart = _propose(cluster, olivia, "rollout_restart", "web", {})
    assert action_cost(limit).text == "no request change"
    assert action_cost(restart).text == "no cost change"
    page = _inbox(alice)
    assert "no request change" in page and "no cost change" in page


def test_without_samples_the_cost_is_unknown(cluster, olivia, alice):
    action = _propose(cluster, olivia, "scale", "web", {"replicas": 5})  # nothing collected
    assert action_cost(action).monthly is None
    assert "cost unknown: no samples for shop/web" in _inbox(alice)
