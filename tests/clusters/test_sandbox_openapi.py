"""The sandbox's OpenAPI documents, `auth can-i` and server-side apply, over HTTPS and through
the kubectl binary: client validation, `kubectl explain`, `kubectl auth can-i` and
`kubectl apply --server-side` work as against a real API server."""

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apps.clusters.sandbox.resources import RESOURCES
from tests.clusters.test_kubectl import kubectl
from tests.support.sandbox import start_sandbox

CANARY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: registry.example/canary:1
{extra}"""
APPLIED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: applied
  namespace: shop
  labels: {labels}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: applied}}
  template:
    metadata:
      labels: {{app: applied}}
    spec:
      containers:
      - name: main
        image: registry.example/applied:1
        env: {env}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One paused sandbox for the module: the tests write objects of their own names."""
    server = start_sandbox(tmp_path_factory.mktemp("openapi"))
    yield server
    server.stop()


def call(server, method, path, body=None, *, ctype="application/json", token=None, accept=None):
    """(status, headers, decoded JSON body); HTTP errors are returned, not raised."""
    headers = {"Authorization": f"Bearer {token or server.admin_token}"}
    if accept:
        headers["Accept"] = accept
    data = None
    if body is not None:
        headers["Content-Type"] = ctype
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, headers=headers, method=method)
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, json.loads(exc.read())


def stored(server, key, name):
    with server.sandbox.lock:
        obj = server.sandbox.store.get(key, "shop", name)
        return json.loads(json.dumps(obj)) if obj is not None else None


def manifest(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def refs(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def gv_key(res) -> str:
    return f"apis/{res.group}/{res.version}" if res.group else f"api/{res.version}"


def kinds_declared(schemas: dict) -> dict[tuple[str, str, str], dict]:
    return {
        (g["group"], g["version"], g["kind"]): schema
        for schema in schemas.values()
        for g in schema.get("x-kubernetes-group-version-kind", [])
    }


def patch_parameters(paths: dict) -> dict[tuple[str, str, str], set[str]]:
    """The query parameters of each kind's PATCH, as kubectl looks them up."""
    out = {}
    for item in paths.values():
        op = item.get("patch")
        if op:
            g = op["x-kubernetes-group-version-kind"]
            out[(g["group"], g["version"], g["kind"])] = {p["name"] for p in op["parameters"]}
    return out


# --- The documents ------------------------------------------------------------------------


def test_it_serves_openapi_v2_with_every_registered_kind(cluster):
    status, headers, doc = call(cluster, "GET", "/openapi/v2")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert doc["swagger"] == "2.0"
    definitions = doc["definitions"]
    declared = kinds_declared(definitions)
    for res in RESOURCES:
        assert (res.group, res.version, res.kind) in declared, res.kind
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    replicas = definitions["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
    assert (replicas["type"], replicas["format"]) == ("integer", "int32")
    assert "Number of desired pods" in replicas["description"]
    assert (
        deployment["properties"]["spec"]["$ref"]
        == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    )
    assert (
        definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    )
    # Every reference resolves inside the document.
    assert {r.removeprefix("#/definitions/") for r in refs(doc)} <= set(definitions)
    assert "fieldValidation" in patch_parameters(doc["paths"])[("apps", "v1", "Deployment")]
    # The protobuf kubectl may ask for is not served: the same JSON answers.
    status, headers, again = call(
        cluster,
        "GET",
        "/openapi/v2",
        accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    )
    assert (status, headers["Content-Type"], again) == (200, "application/json", doc)


def test_it_serves_an_openapi_v3_document_per_group_version(cluster):
    _, _, index = call(cluster, "GET", "/openapi/v3")
    assert set(index["paths"]) == {gv_key(r) for r in RESOURCES}
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        status, headers, doc = call(cluster, "GET", url)
        assert status == 200 and doc["openapi"].startswith("3.")
        assert headers["ETag"] == f'"{url.rsplit("=", 1)[1]}"'
        schemas = doc["components"]["schemas"]
        assert {r.removeprefix("#/components/schemas/") for r in refs(doc)} <= set(schemas), key
        declared = kinds_declared(schemas)
        patches = patch_parameters(doc["paths"])
        for res in (r for r in RESOURCES if gv_key(r) == key):
            assert (res.group, res.version, res.kind) in declared, res.kind
            if "patch" in res.verbs:
                assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= patches[
                    (res.group, res.version, res.kind)
                ]
    _, _, chaos = call(
        cluster, "GET", index["paths"]["apis/chaos-mesh.org/v1alpha1"]["serverRelativeURL"]
    )
    podchaos = kinds_declared(chaos["components"]["schemas"])[
        ("chaos-mesh.org", "v1alpha1", "PodChaos")
    ]
    assert podchaos["x-kubernetes-preserve-unknown-fields"] is True
    status, _, body = call(cluster, "GET", "/openapi/v3/apis/example.com/v1")
    assert (status, body["reason"]) == (404, "NotFound")


# --- kubectl: validation and explain ------------------------------------------------------


def test_kubectl_validates_against_the_schemas_without_turning_validation_off(cluster, tmp_path):
    good = manifest(tmp_path, "good", CANARY.format(name="validated", extra=""))
    proc = kubectl(cluster, "apply", "-f", good)
    assert "deployment.apps/validated created" in proc.stdout
    assert stored(cluster, "apps/deployments", "validated")["spec"]["replicas"] == 2

    bad = manifest(
        tmp_path, "bad", CANARY.format(name="misspelt", extra="        imagePullPolice: Always\n")
    )
    proc = kubectl(cluster, "apply", "-f", bad, check=False)
    assert proc.returncode != 0
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolice"' in proc.stderr
    assert stored(cluster, "apps/deployments", "misspelt") is None
    # --validate=warn: created, with kubectl's warning naming the field.
    proc = kubectl(cluster, "apply", "--validate=warn", "-f", bad)
    assert (
        'Warning: unknown field "spec.template.spec.containers[0].imagePullPolice"' in proc.stderr
    )
    assert stored(cluster, "apps/deployments", "misspelt") is not None


def test_kubectl_explains_a_field(cluster):
    out = kubectl(cluster, "explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in out
    assert "Number of desired pods" in out
    out = kubectl(cluster, "explain", "pods.spec.containers.resources.limits").stdout
    assert "<map[string]Quantity>" in out


# --- kubectl auth can-i -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "create", "read"),
    [("sandbox", "yes", "yes"), ("sandbox-viewer", "no", "yes"), ("sandbox-nobody", "no", "no")],
)
def test_kubectl_auth_can_i_answers_as_the_token_is_treated(cluster, context, create, read):
    def can_i(*args):
        proc = kubectl(cluster, "auth", "can-i", *args, context=context, check=False)
        return proc.stdout.strip()

    assert can_i("create", "deployments", "-n", "shop") == create
    assert can_i("list", "pods", "-n", "shop") == read
    assert can_i("get", "/healthz") == "yes"
    # The answer agrees with what the request itself gets.
    proc = kubectl(cluster, "get", "pods", "-n", "shop", context=context, check=False)
    assert (proc.returncode == 0) == (read == "yes")


def test_kubectl_auth_can_i_lists_the_rules(cluster):
    admin = kubectl(cluster, "auth", "can-i", "--list", "-n", "shop").stdout
    assert admin.splitlines()[0].split() == [
        "Resources",
        "Non-Resource",
        "URLs",
        "Resource",
        "Names",
        "Verbs",
    ]
    assert any(line.split()[:1] == ["*.*"] and "[*]" in line for line in admin.splitlines())
    viewer = kubectl(cluster, "auth", "can-i", "--list", "-n", "shop", context="sandbox-viewer")
    assert any(
        line.startswith("*.*") and "[get list watch]" in line for line in viewer.stdout.splitlines()
    )


def test_it_reviews_access_over_json(cluster):
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": "shop"}},
    }
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    status, _, answer = call(cluster, "POST", path, review)
    assert status == 201 and answer["status"]["allowed"] is True
    assert "cluster-admin" in answer["status"]["reason"]
    status, _, answer = call(cluster, "POST", path, review, token=cluster.viewer_token)
    assert status == 201 and answer["status"] == {"allowed": False}
    status, _, answer = call(cluster, "POST", path, {**review, "spec": {}})
    assert (status, answer["reason"]) == (422, "Invalid")


# --- Server-side apply --------------------------------------------------------------------


def test_kubectl_server_side_apply_creates_then_changes_the_applied_fields(cluster, tmp_path):
    first = APPLIED.format(
        labels="{team: a, owner: x}",
        replicas=2,
        env='[{name: A, value: "1"}, {name: B, value: "2"}]',
    )
    proc = kubectl(cluster, "apply", "--server-side", "-f", manifest(tmp_path, "v1", first))
    assert "deployment.apps/applied serverside-applied" in proc.stdout
    obj = stored(cluster, "apps/deployments", "applied")
    assert obj["spec"]["replicas"] == 2
    (entry,) = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == (
        "kubectl",
        "Apply",
        "FieldsV1",
    )
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]

    # Another manager applies a label of its own.
    ops = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "applied", "labels": {"tier": "web"}},
    }
    status, _, _ = call(
        cluster,
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/applied?fieldManager=ops",
        ops,
        ctype="application/apply-patch+yaml",
    )
    assert status == 200
    # kubectl applies again without the owner label and env B: the fields it no longer
    # applies go, the changed field changes, and what the other manager applied stays.
    second = APPLIED.format(labels="{team: a}", replicas=4, env='[{name: A, value: "1"}]')
    path = manifest(tmp_path, "v2", second)
    proc = kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", path)
    assert "serverside-applied" in proc.stdout
    obj = stored(cluster, "apps/deployments", "applied")
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["labels"] == {"team": "a", "tier": "web"}
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "A", "value": "1"}]
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert sorted(managers) == ["kubectl", "ops"]


def test_a_server_side_dry_run_apply_stores_nothing(cluster, tmp_path):
    path = manifest(tmp_path, "dry", CANARY.format(name="dry-applied", extra=""))
    kubectl(cluster, "apply", "--server-side", "-f", path)
    before = sum(cluster.sandbox.mutations.values())
    changed = manifest(
        tmp_path, "dry2", Path(path).read_text().replace("replicas: 2", "replicas: 9")
    )
    proc = kubectl(cluster, "apply", "--server-side", "--dry-run=server", "-f", changed)
    assert "deployment.apps/dry-applied serverside-applied (server dry run)" in proc.stdout
    assert stored(cluster, "apps/deployments", "dry-applied")["spec"]["replicas"] == 2
    path = manifest(tmp_path, "new", CANARY.format(name="never-applied", extra=""))
    proc = kubectl(cluster, "apply", "--server-side", "--dry-run=server", "-f", path)
    assert "deployment.apps/never-applied serverside-applied (server dry run)" in proc.stdout
    assert stored(cluster, "apps/deployments", "never-applied") is None
    assert sum(cluster.sandbox.mutations.values()) == before


def test_it_refuses_an_apply_without_a_field_manager_or_with_unknown_fields(cluster):
    path = "/apis/apps/v1/namespaces/shop/deployments/refused"
    body = CANARY.format(name="refused", extra="").encode()
    apply = "application/apply-patch+yaml"
    status, _, answer = call(cluster, "PATCH", path, body, ctype=apply)
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["details"]["causes"][0]["field"] == "fieldManager"
    bad = CANARY.format(name="refused", extra="        bogus: 1\n").encode()
    status, _, answer = call(
        cluster, "PATCH", path + "?fieldManager=t&fieldValidation=Strict", bad, ctype=apply
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert (
        answer["message"] == ".spec.template.spec.containers[0].bogus: field not declared in schema"
    )
    status, _, answer = call(
        cluster, "PATCH", path + "?fieldManager=t&fieldValidation=Sure", body, ctype=apply
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert "fieldValidation" in answer["message"]
    assert stored(cluster, "apps/deployments", "refused") is None
