"""Chaos Actions' parameters (checked, defaults filled in the one way) and the Chaos Mesh object
the executor creates from them. Pure: no cluster, no database."""

import pytest

from apps.core.errors import ValidationFailed
from apps.governance.action_models import CHAOS_KINDS, Kind
from apps.governance.actions.params import clean_parameters
from apps.governance.chaosmesh import chaos_object
from apps.governance.rating import CHAOS


def test_every_chaos_kind_is_rated_as_chaos():
    assert set(CHAOS) == {k.value for k in CHAOS_KINDS}


@pytest.mark.parametrize(
    ("kind", "given", "chaos_kind", "spec_part"),
    [
        (Kind.CHAOS_POD_KILL, {}, "PodChaos", {"action": "pod-kill"}),
        (Kind.CHAOS_POD_FAILURE, {}, "PodChaos", {"action": "pod-failure"}),
        (
            Kind.CHAOS_CONTAINER_KILL,
            {"container": "web"},
            "PodChaos",
            {"action": "container-kill", "containerNames": ["web"]},
        ),
        (
            Kind.CHAOS_NETWORK_DELAY,
            {"jitter": "20ms"},
            "NetworkChaos",
            {"action": "delay", "delay": {"latency": "200ms", "jitter": "20ms"}},
        ),
        (Kind.CHAOS_NETWORK_LOSS, {}, "NetworkChaos", {"action": "loss", "loss": {"loss": "25"}}),
        (
            Kind.CHAOS_NETWORK_PARTITION,
            {},
            "NetworkChaos",
            {"action": "partition", "direction": "both"},
        ),
        (
            Kind.CHAOS_STRESS,
            {"load": 50},
            "StressChaos",
            {"stressors": {"cpu": {"workers": 1, "load": 50}}},
        ),
        (
            Kind.CHAOS_MEMORY_STRESS,
            {"size": "1Gi"},
            "StressChaos",
            {"stressors": {"memory": {"workers": 1, "size": "1Gi"}}},
        ),
    ],
)
def test_it_builds_the_chaos_mesh_object_each_kind_needs(kind, given, chaos_kind, spec_part):
    p = clean_parameters(kind, {"duration": "90s", **given})
    got_kind, spec = chaos_object(kind, "shop", "web", p)
    assert got_kind == chaos_kind
    assert spec["duration"] == "90s" and spec["mode"] == "one" and "value" not in spec
    assert spec["selector"] == {"namespaces": ["shop"], "labelSelectors": {"app": "web"}}
    assert {k: spec[k] for k in spec_part} == spec_part


def test_a_node_not_ready_names_the_node_cluster_wide_with_its_duration():
    p = clean_parameters(Kind.CHAOS_NODE_NOT_READY, {"duration": "45s"})
    assert chaos_object(Kind.CHAOS_NODE_NOT_READY, "", "node-b", p) == (
        "NodeChaos",
        {"nodeName": "node-b", "duration": "45s"},
    )


def test_it_fills_defaults_the_one_way_so_equal_faults_compare_equal():
    a = clean_parameters(Kind.CHAOS_NETWORK_LOSS, {"mode": "fixed", "value": "2", "loss": "30"})
    b = clean_parameters(Kind.CHAOS_NETWORK_LOSS, {"mode": "fixed", "value": 2, "loss": 30})
    assert a == b == {"duration": "60s", "mode": "fixed", "value": "2", "loss": 30}
    _, spec = chaos_object(
        Kind.CHAOS_NETWORK_LOSS, "shop", "web", {**a, "selector": {"app": "web", "tier": "canary"}}
    )
    assert spec["value"] == "2" and spec["selector"]["labelSelectors"]["tier"] == "canary"


@pytest.mark.parametrize(
    ("kind", "given", "field"),
    [
        (Kind.CHAOS_POD_KILL, {"duration": "2h"}, "parameters.duration"),
        (Kind.CHAOS_POD_KILL, {"mode": "random-max-percent"}, "parameters.mode"),
        (Kind.CHAOS_POD_KILL, {"mode": "fixed-percent", "value": "101"}, "parameters.value"),
        (Kind.CHAOS_POD_KILL, {"mode": "one", "value": "1"}, "parameters.value"),
        (Kind.CHAOS_POD_KILL, {"selector": {"app": "we b"}}, "parameters.selector"),
        (Kind.CHAOS_POD_KILL, {"selector": {}}, "parameters.selector"),
        (Kind.CHAOS_POD_KILL, {"latency": "1s"}, "parameters.latency"),
        (Kind.CHAOS_CONTAINER_KILL, {}, "parameters.container"),
        (Kind.CHAOS_NETWORK_DELAY, {"latency": "11s"}, "parameters.latency"),
        (Kind.CHAOS_NETWORK_LOSS, {"loss": 101}, "parameters.loss"),
        (Kind.CHAOS_NETWORK_PARTITION, {"direction": "sideways"}, "parameters.direction"),
        (Kind.CHAOS_STRESS, {"workers": 17}, "parameters.workers"),
        (Kind.CHAOS_STRESS, {"load": 0}, "parameters.load"),
        (Kind.CHAOS_MEMORY_STRESS, {"size": "2Pi"}, "parameters.size"),
        (Kind.CHAOS_NODE_NOT_READY, {"mode": "all"}, "parameters.mode"),
        (Kind.CHAOS_NODE_NOT_READY, {"duration": "2h"}, "parameters.duration"),
    ],
)
def test_it_refuses_bad_chaos_parameters_naming_the_field(kind, given, field):
    with pytest.raises(ValidationFailed) as e:
        clean_parameters(kind, given)
    assert e.value.field == field
