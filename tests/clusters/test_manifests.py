"""The RBAC in deploy/kubernetes (the rendered base, with and without the node-runbooks
component) grants exactly the verbs the gateway uses, reads cluster-wide, writes per namespace.
tests/test_kustomize.py checks the overlays as a whole."""

import pytest

from tests.support.kustomize import KUBE, kustomize, kustomize_with, of_kind


@pytest.fixture(scope="module")
def base():
    return kustomize(KUBE / "base")


def _rules(docs: list[dict], name: str) -> set[tuple[str, str, str]]:
    role = of_kind(docs, "ClusterRole")[name]
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_the_operator_role_grants_only_the_mutating_verbs_governance_uses(base):
    granted = _rules(base, "zerotouch-operator")
    assert granted == {
        ("", "pods", "delete"),
        ("", "pods/eviction", "create"),
        ("apps", "deployments", "patch"),
        ("apps", "deployments/scale", "patch"),
        *{
            ("chaos-mesh.org", r, v)
            for r in ("podchaos", "networkchaos", "stresschaos")
            for v in ("create", "delete")
        },
    }
    reads = _rules(base, "zerotouch-reader")
    assert all(v in ("get", "list", "watch") for _, _, v in reads)
    # Incidents' logs are read by the score worker (observer), never by web (no token).
    assert ("", "pods/log", "get") in reads
    assert not any(r in ("secrets", "configmaps", "*") for _, r, _ in reads)


def test_node_patching_is_only_in_the_node_runbooks_component(base, tmp_path):
    assert not any(
        r == "nodes" and v not in ("get", "list", "watch")
        for name in of_kind(base, "ClusterRole")
        for _, r, v in _rules(base, name)
    )
    with_nodes = kustomize_with(tmp_path, "node-runbooks")
    assert _rules(with_nodes, "zerotouch-node-operator") == {("", "nodes", "patch")}
    (binding,) = [
        b
        for b in of_kind(with_nodes, "ClusterRoleBinding").values()
        if b["roleRef"]["name"] == "zerotouch-node-operator"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "zerotouch", "namespace": "zerotouch"}
    ]


def test_acting_is_granted_per_namespace_and_only_to_the_act_worker(base):
    # The base binds no operator role at all: an overlay adds a RoleBinding per namespace.
    assert not [d for d in base if d.get("roleRef", {}).get("name") == "zerotouch-operator"]
    bound = {s["name"] for d in base if "subjects" in d for s in d["subjects"]}
    assert bound == {"zerotouch", "zerotouch-observer"}
    act = of_kind(base, "Deployment")["zerotouch-worker-act"]["spec"]["template"]["spec"]
    assert act["serviceAccountName"] == "zerotouch"
    # Web reads (a proposal made on a page resolves its target) and never writes.
    web = of_kind(base, "Deployment")["zerotouch-web"]["spec"]["template"]["spec"]
    assert web["serviceAccountName"] == "zerotouch-observer"
