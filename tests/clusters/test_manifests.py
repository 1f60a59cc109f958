"""The in-cluster manifests validate against the Kubernetes schemas, and the RBAC they grant
covers exactly the gateway's verbs."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
MANIFESTS = sorted((ROOT / "deploy/kubernetes").glob("*.yaml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_manifests_are_valid_kubernetes_objects(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, "1.31", strict=True)


def _rules(name: str) -> set[tuple[str, str, str]]:
    docs = yaml.safe_load_all((ROOT / "deploy/kubernetes/rbac.yaml").read_text())
    role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == name)
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_the_operator_role_grants_only_the_mutating_verbs_governance_uses():
    granted = _rules("zerotouch-operator")
    assert ("", "pods", "delete") in granted and ("", "pods/eviction", "create") in granted
    assert ("apps", "deployments/scale", "patch") in granted
    assert not any(v in ("*", "update", "deletecollection") for _, _, v in granted)
    assert not any(r in ("secrets", "nodes", "*") for _, r, _ in granted)
    assert _rules("zerotouch-node-operator") == {("", "nodes", "patch")}
    assert all(v in ("get", "list", "watch") for _, _, v in _rules("zerotouch-reader"))


def test_acting_is_granted_per_namespace_and_never_to_the_web_pods():
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/rbac.yaml").read_text())]
    operator = [d for d in docs if d.get("roleRef", {}).get("name") == "zerotouch-operator"]
    assert operator and all(d["kind"] == "RoleBinding" for d in operator)
    assert all(d["metadata"]["namespace"] != "kube-system" for d in operator)
    bound = {s["name"] for d in docs if "subjects" in d for s in d["subjects"]}
    assert "zerotouch-web" not in bound
    app = [
        d
        for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/zerotouch.yaml").read_text())
        if d["kind"] == "Deployment"
    ]
    web = next(d for d in app if d["metadata"]["name"] == "zerotouch-web")
    assert web["spec"]["template"]["spec"]["serviceAccountName"] == "zerotouch-web"
    assert web["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
