"""Every object the sandbox serves, checked against the official Kubernetes OpenAPI schemas
(kubernetes-validate, strict: no unknown fields), as fetched over HTTPS by a client."""

import importlib.resources
import json
import re
import ssl
import urllib.error
import urllib.request
from functools import cache

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor
from referencing import Registry, Resource

from apps.clusters.sandbox import scenario
from tests.support.sandbox import start_sandbox

KUBERNETES = "1.31"  # what the sandbox's /version reports

LISTS = {
    "Namespace": "/api/v1/namespaces",
    "Node": "/api/v1/nodes",
    "Pod": "/api/v1/pods",
    "Event": "/api/v1/events",
    "PersistentVolumeClaim": "/api/v1/persistentvolumeclaims",
    "Deployment": "/apis/apps/v1/deployments",
    "ReplicaSet": "/apis/apps/v1/replicasets",
    "PodDisruptionBudget": "/apis/policy/v1/poddisruptionbudgets",
    "HorizontalPodAutoscaler": "/apis/autoscaling/v2/horizontalpodautoscalers",
    "ServiceAccount": "/api/v1/serviceaccounts",
    "Secret": "/api/v1/secrets",
    "ConfigMap": "/api/v1/configmaps",
    "Service": "/api/v1/services",
    "Endpoints": "/api/v1/endpoints",
    "Role": "/apis/rbac.authorization.k8s.io/v1/roles",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Ingress": "/apis/networking.k8s.io/v1/ingresses",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/networkpolicies",
    "StatefulSet": "/apis/apps/v1/statefulsets",
    "DaemonSet": "/apis/apps/v1/daemonsets",
    "CronJob": "/apis/batch/v1/cronjobs",
}
# What a fresh cluster has none of (they are created in the tests after writes below).
NONE_WHEN_QUIET = {"Secret", "Ingress", "NetworkPolicy", "StatefulSet", "DaemonSet", "CronJob"}


# --- Fetching and validating ----------------------------------------------------------------


def request(server, method, path, body=None, ctype="application/json"):
    headers = {"Authorization": f"Bearer {server.admin_token}", "Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = ctype
        data = json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, headers=headers, method=method)
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def fetch(server, path):
    status, body = request(server, "GET", path)
    assert status == 200, body
    return body


@cache
def _schema_dir():
    version = next(v for v in reversed(all_versions()) if major_minor(v) <= KUBERNETES)
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{version}-local-strict"


@cache
def _validator(schema: str):
    """The validator kubernetes_validate.validate builds for a schema file, built once: the
    package reads 1.3 MB of definitions on every call, too slow for thousands of objects."""
    directory = _schema_dir()
    contents = json.loads((directory / f"{schema}.json").read_text())
    definitions = json.loads((directory / "_definitions.json").read_text())
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(contents) @ Registry())
    return jsonschema.Draft202012Validator(contents, registry=registry)


def schema_of(obj) -> str:
    """The package's file for an object: "deployment-apps-v1", "pod-v1", "scale-autoscaling-v1".
    The meta.k8s.io kinds (Status, APIResourceList...) say apiVersion "v1" but live in
    "*-meta-v1" files, and version.Info has no kind: those are named explicitly."""
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
    return f"{obj['kind'].lower()}-{api_version}"


def violations(obj, schema: str | None = None) -> list[str]:
    """Everything wrong with obj under the strict schema, one readable line per violation."""
    name = obj.get("metadata", {}).get("name", "") if isinstance(obj, dict) else ""
    return [
        f"{obj.get('kind', schema)} {name}: {'.'.join(str(p) for p in error.path)}: {error.message}"
        for error in _validator(schema or schema_of(obj)).iter_errors(obj)
    ]


def everything(server) -> dict[str, dict]:
    """Every list the sandbox serves, by item kind."""
    return {kind: fetch(server, path) for kind, path in LISTS.items()}


def list_violations(lists: dict[str, dict]) -> list[str]:
    """The lists (without their items), then each item on its own: every violation is named."""
    found = []
    for kind, body in lists.items():
        assert body["kind"] == f"{kind}List"
        found += violations({**body, "items": []})
        for item in body["items"]:
            assert item["kind"] == kind
            found += violations(item)
    return found


# --- The package does its job -----------------------------------------------------------------


def test_it_validates_strictly_and_agrees_with_kubernetes_validate():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    unknown_field = {**pod, "metadata": {"name": "p", "bogus": 1}}
    wrong_type = {**pod, "spec": {"containers": [{"name": "c", "image": 7}]}}
    assert violations(pod) == []
    assert kubernetes_validate.validate(pod, KUBERNETES, strict=True) == KUBERNETES
    for bad in (unknown_field, wrong_type):
        assert violations(bad)
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, KUBERNETES, strict=True)
    assert violations({"kind": "Status", "apiVersion": "v1", "code": "404"}, "status-meta-v1")


# --- A quiet cluster ----------------------------------------------------------------------


# Its own `cluster`, unlike the shared one: module-scoped, and the bare server (not registered).
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = start_sandbox(tmp_path_factory.mktemp("cluster"))
    yield server
    server.stop()


@pytest.mark.parametrize("kind", LISTS)
def test_it_serves_lists_and_objects_of_every_kind_that_match_the_schemas(cluster, kind):
    body = fetch(cluster, LISTS[kind])
    assert body["kind"] == f"{kind}List"
    assert bool(body["items"]) != (kind in NONE_WHEN_QUIET), f"{kind} objects at the start"
    assert violations(body) == []
    assert kubernetes_validate.validate(body, KUBERNETES, strict=True) == KUBERNETES
    for item in body["items"][:3]:  # and as single objects
        meta = item["metadata"]
        namespace = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
        prefix, plural = LISTS[kind].rsplit("/", 1)
        one = fetch(cluster, f"{prefix}{namespace}/{plural}/{meta['name']}")
        assert one == item
        assert violations(one) == []


@pytest.mark.parametrize(
    "path",
    [
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        "/apis/apps/v1/namespaces/payments/deployments/ledger/scale",
    ],
)
def test_it_serves_scale_subresources_that_match_the_schema(cluster, path):
    scale = fetch(cluster, path)
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert violations(scale) == []


def test_it_serves_replica_set_scales_that_match_the_schema(cluster):
    rs = fetch(cluster, "/apis/apps/v1/namespaces/shop/replicasets")["items"][0]
    scale = fetch(
        cluster, f"/apis/apps/v1/namespaces/shop/replicasets/{rs['metadata']['name']}/scale"
    )
    assert scale["spec"]["replicas"] == rs["spec"]["replicas"]
    assert violations(scale) == []


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/version", "info-pkg-version"),
        ("/api", "apiversions-meta-v1"),
        ("/apis", "apigrouplist-meta-v1"),
        ("/apis/apps", "apigroup-meta-v1"),
        ("/api/v1", "apiresourcelist-meta-v1"),
        ("/apis/apps/v1", "apiresourcelist-meta-v1"),
        ("/apis/policy/v1", "apiresourcelist-meta-v1"),
        ("/apis/autoscaling/v2", "apiresourcelist-meta-v1"),
        ("/apis/metrics.k8s.io/v1beta1", "apiresourcelist-meta-v1"),
        ("/apis/rbac.authorization.k8s.io/v1", "apiresourcelist-meta-v1"),
        ("/apis/networking.k8s.io/v1", "apiresourcelist-meta-v1"),
        ("/apis/batch/v1", "apiresourcelist-meta-v1"),
    ],
)
def test_it_serves_discovery_documents_that_match_the_schemas(cluster, path, schema):
    assert violations(fetch(cluster, path), schema) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype"),
    [
        ("GET", "/api/v1/widgets", None, ""),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/nope", None, ""),
        ("GET", "/api/v1/pods?labelSelector=a%20in", None, ""),
        ("GET", "/api/v1/pods?fieldSelector=spec.bogus%3D1", None, ""),
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", {}, "text/plain"),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            {"spec": {"replicas": -1}},
            "application/merge-patch+json",
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web",
            [{"op": "remove", "path": "/nope"}],
            "application/json-patch+json",
        ),
        (
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            "application/json",
        ),
    ],
    ids=["404", "not found", "bad selector", "bad field", "415", "invalid", "422 patch", "409"],
)
def test_it_answers_errors_with_status_objects_that_match_the_schema(
    cluster, method, path, body, ctype
):
    status, answer = request(cluster, method, path, body, ctype)
    assert status >= 400
    assert answer["kind"] == "Status"
    assert answer["code"] == status
    assert violations(answer, "status-meta-v1") == []


# --- After writes, as kubectl and the gateway make them -----------------------------------


def test_it_keeps_objects_valid_after_writes(sandbox):
    shop = "/apis/apps/v1/namespaces/shop"
    merge, strategic = "application/merge-patch+json", "application/strategic-merge-patch+json"
    writes = [
        ("PATCH", "/api/v1/nodes/node-1", {"spec": {"unschedulable": True}}, strategic),
        (
            "PATCH",
            f"{shop}/deployments/web",
            {
                "spec": {
                    "template": {
                        "metadata": {
                            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-05"}
                        }
                    }
                }
            },
            strategic,
        ),
        ("PATCH", f"{shop}/deployments/api/scale", {"spec": {"replicas": 6}}, merge),
        (
            "POST",
            "/api/v1/namespaces/shop/pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "debug", "labels": {"run": "debug"}},
                "spec": {"containers": [{"name": "debug", "image": "busybox"}]},
            },
            "application/json",
        ),
        (
            "POST",
            "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "worker"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "worker",
                    },
                    "maxReplicas": 4,
                },
            },
            "application/json",
        ),
        (
            "POST",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets",
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "api"},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "api"}}},
            },
            "application/json",
        ),
        (
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}},
            "application/json",
        ),
        (
            "POST",
            "/api/v1/namespaces/payments/persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "scratch"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
            "application/json",
        ),
    ]
    for method, path, body, ctype in [*writes, *KIND_WRITES]:
        status, answer = request(sandbox, method, path, body, ctype)
        assert status in (200, 201), answer
        assert violations(answer) == [], path
    pod = fetch(sandbox, "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb")["items"][0]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": pod["metadata"]}
    status, answer = request(
        sandbox,
        "POST",
        f"/api/v1/namespaces/shop/pods/{pod['metadata']['name']}/eviction",
        {**eviction, "metadata": {"name": pod["metadata"]["name"]}},
    )
    assert status == 201, answer
    assert violations(answer, "status-meta-v1") == []
    status, answer = request(sandbox, "DELETE", "/apis/apps/v1/namespaces/shop/deployments/worker")
    assert status == 200, answer
    assert violations(answer) == []

    sandbox.sandbox.advance(120)
    assert list_violations(everything(sandbox)) == []


POD_TEMPLATE = {
    "metadata": {"labels": {"app": "cache"}},
    "spec": {"containers": [{"name": "cache", "image": "redis:7"}]},
}
KIND_WRITES = [
    (
        "POST",
        f"/api/v1/namespaces/shop/{plural}",
        {"apiVersion": "v1", "kind": kind, "metadata": {"name": "cache"}, **extra},
        "application/json",
    )
    for plural, kind, extra in [
        ("secrets", "Secret", {"stringData": {"password": "x"}}),
        ("configmaps", "ConfigMap", {"data": {"a": "b"}}),
        ("serviceaccounts", "ServiceAccount", {}),
        (
            "services",
            "Service",
            {"spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}},
        ),
    ]
] + [
    (
        "POST",
        f"/apis/{group}/namespaces/shop/{plural}",
        {"apiVersion": group, "kind": kind, "metadata": {"name": "cache"}, "spec": spec},
        "application/json",
    )
    for group, plural, kind, spec in [
        (
            "networking.k8s.io/v1",
            "ingresses",
            "Ingress",
            {"defaultBackend": {"service": {"name": "cache", "port": {"number": 80}}}},
        ),
        ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", {"podSelector": {}}),
        (
            "apps/v1",
            "statefulsets",
            "StatefulSet",
            {
                "replicas": 2,
                "serviceName": "cache",
                "selector": {"matchLabels": {"app": "cache"}},
                "template": POD_TEMPLATE,
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        ),
        (
            "apps/v1",
            "daemonsets",
            "DaemonSet",
            {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {**POD_TEMPLATE, "metadata": {"labels": {"app": "agent"}}},
            },
        ),
        (
            "batch/v1",
            "cronjobs",
            "CronJob",
            {
                "schedule": "* * * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {"spec": {**POD_TEMPLATE["spec"], "restartPolicy": "OnFailure"}}
                    }
                },
            },
        ),
    ]
]


def test_it_streams_watch_events_that_match_the_schemas(sandbox):
    path = "/apis/apps/v1/namespaces/shop/deployments?watch=true&sendInitialEvents=true"
    path += "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=5"
    req = urllib.request.Request(
        sandbox.url + path, headers={"Authorization": f"Bearer {sandbox.admin_token}"}
    )
    context = ssl.create_default_context(cadata=sandbox.ca_pem.decode())
    events = []
    with urllib.request.urlopen(req, context=context, timeout=10) as resp:
        for line in resp:
            events.append(json.loads(line))
            if events[-1]["type"] == "BOOKMARK":
                break
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "ADDED", "BOOKMARK"]
    for event in events:
        assert violations(event, "watchevent-meta-v1") == []
    for event in events[:-1]:
        assert violations(event["object"]) == []


# --- A busy day: crash loops, OOM kills, a lost node, evictions, pulls that fail --------------

CHECKPOINTS = [25 * 60, 70 * 60, 2 * 3600 + 10 * 60, 5 * 3600 + 10 * 60]


def test_it_serves_valid_objects_through_a_busy_day(tmp_path):
    server = start_sandbox(tmp_path, "busy-day")
    found, seen = [], set()
    try:
        elapsed = 60  # the warm-up
        for checkpoint in CHECKPOINTS:
            server.sandbox.advance(checkpoint - elapsed)
            elapsed = checkpoint
            lists = everything(server)
            found += [f"at +{checkpoint // 60}m: {v}" for v in list_violations(lists)]
            seen |= _states(lists)
    finally:
        server.stop()
    # The day went as the scenario says: every state the schemas were checked on appeared.
    assert {
        "OOMKilled",
        "CrashLoopBackOff",
        "Error",
        "ImagePullBackOff",
        "node Unknown",
        "node.kubernetes.io/unreachable",
        "TaintManagerEviction",
        "ProgressDeadlineExceeded",
        "Pending",
    } <= seen, seen
    assert found == []


def _states(lists: dict[str, dict]) -> set[str]:
    seen = set()
    for pod in lists["Pod"]["items"]:
        seen.add(pod["status"]["phase"])
        for status in pod["status"].get("containerStatuses", []):
            seen.add(status["state"].get("waiting", {}).get("reason", ""))
            seen.add(status.get("lastState", {}).get("terminated", {}).get("reason", ""))
    for node in lists["Node"]["items"]:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        seen.add(f"node {ready['status']}")
        seen |= {t["key"] for t in node["spec"].get("taints", [])}
    seen |= {e["reason"] for e in lists["Event"]["items"]}
    for dep in lists["Deployment"]["items"]:
        seen |= {c["reason"] for c in dep["status"].get("conditions", [])}
    return seen


SMALL_SCENARIOS = [
    name
    for name in scenario.available()
    if sum(w.replicas for w in scenario.load(name).workloads) <= 100  # not the benchmark's
]


@pytest.mark.parametrize("name", SMALL_SCENARIOS)
def test_it_serves_valid_objects_in_every_scenario(tmp_path, name):
    server = start_sandbox(tmp_path, name)
    try:
        server.sandbox.advance(3600)
        assert list_violations(everything(server)) == []
    finally:
        server.stop()
