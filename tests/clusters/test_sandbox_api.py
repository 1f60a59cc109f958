"""The sandbox's Kubernetes REST API over raw HTTPS: discovery, selectors, Status errors, watch."""

import json
import ssl
import threading
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from tests.support.sandbox import start_sandbox

DEPLOYMENTS = "/apis/apps/v1/namespaces/shop/deployments"
PODS = "/api/v1/namespaces/shop/pods"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
ADMIN = object()  # the default token: the server's admin token


def call(
    server,
    method,
    path,
    body=None,
    *,
    ctype="application/json",
    token=ADMIN,
    accept="application/json",
    timeout=10,
):
    """(status, decoded JSON body) of one request; HTTP errors are returned, not raised."""
    headers = {"Accept": accept}
    if token is ADMIN:
        token = server.admin_token
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = ctype
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, context=tls(server), timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def tls(server) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=server.ca_pem.decode())


def get(server, path):
    status, body = call(server, "GET", path)
    assert status == 200, body
    return body


def stream(server, path, *, timeout=10):
    """Open a watch; the caller iterates the response's lines and closes it."""
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    return urllib.request.urlopen(request, context=tls(server), timeout=timeout)


def assert_status(body, code, reason):
    assert body["kind"] == "Status", body
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert (body["code"], body["reason"]) == (code, reason), body
    assert body["message"]


def stored(server, key, namespace, name):
    with server.sandbox.lock:
        obj = server.sandbox.store.get(key, namespace, name)
        return json.loads(json.dumps(obj)) if obj is not None else None


def apps_of(items):
    return sorted({i["metadata"]["labels"]["app"] for i in items})


# Its own `cluster`, unlike the shared one: module-scoped, and the bare server (not registered).
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One paused sandbox shared by the tests that only read or are refused: fast."""
    server = start_sandbox(tmp_path_factory.mktemp("cluster"))
    yield server
    server.stop()


def mutations(server) -> int:
    return sum(server.sandbox.mutations.values())


# --- Discovery ----------------------------------------------------------------------------


def test_it_serves_the_version_and_the_discovery_documents(cluster):
    version = get(cluster, "/version")
    assert (version["major"], version["minor"]) == ("1", "31")
    assert version["gitVersion"].startswith("v1.31.")

    core = get(cluster, "/api")
    assert core["kind"] == "APIVersions"
    assert core["versions"] == ["v1"]

    groups = {g["name"]: g for g in get(cluster, "/apis")["groups"]}
    assert {"apps", "policy", "autoscaling", "metrics.k8s.io"} <= set(groups)
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert groups["autoscaling"]["preferredVersion"]["groupVersion"] == "autoscaling/v2"
    policy = get(cluster, "/apis/policy")
    assert (policy["kind"], policy["name"]) == ("APIGroup", "policy")
    assert policy["versions"] == [{"groupVersion": "policy/v1", "version": "v1"}]

    v1 = get(cluster, "/api/v1")
    assert (v1["kind"], v1["groupVersion"]) == ("APIResourceList", "v1")
    resources = {r["name"]: r for r in v1["resources"]}
    assert {"namespaces", "nodes", "pods", "events", "persistentvolumeclaims"} <= set(resources)
    assert resources["pods"]["namespaced"] is True
    assert resources["pods"]["kind"] == "Pod"
    assert "po" in resources["pods"]["shortNames"]
    assert {"get", "list", "watch", "create", "delete", "patch"} <= set(resources["pods"]["verbs"])
    assert resources["nodes"]["namespaced"] is False
    eviction = resources["pods/eviction"]
    assert (eviction["group"], eviction["version"], eviction["kind"]) == (
        "policy",
        "v1",
        "Eviction",
    )
    assert eviction["verbs"] == ["create"]

    apps = get(cluster, "/apis/apps/v1")
    assert apps["groupVersion"] == "apps/v1"
    resources = {r["name"]: r for r in apps["resources"]}
    assert resources["deployments"]["kind"] == "Deployment"
    assert "deploy" in resources["deployments"]["shortNames"]
    assert "all" in resources["deployments"]["categories"]
    scale = resources["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert set(scale["verbs"]) == {"get", "patch", "update"}
    assert resources["replicasets"]["kind"] == "ReplicaSet"


def test_it_answers_unknown_groups_and_versions_with_not_found(cluster):
    for path in ("/apis/example.com", "/apis/apps/v2", "/api/v2", "/nonsense"):
        status, body = call(cluster, "GET", path)
        assert status == 404, path
        assert_status(body, 404, "NotFound")


# --- Selectors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "apps", "count"),
    [
        ("app=web", ["web"], 3),
        ("app==web", ["web"], 3),
        ("app!=web", ["api", "worker"], 6),
        ("app in (web,api)", ["api", "web"], 7),
        ("app notin (web,api)", ["worker"], 2),
        ("pod-template-hash", ["api", "web", "worker"], 9),
        ("!pod-template-hash", [], 0),
        ("app in (web,worker),app!=worker", ["web"], 3),
        ("app=nothing", [], 0),
    ],
)
def test_it_filters_lists_by_label_selectors(cluster, selector, apps, count):
    body = get(cluster, f"{PODS}?labelSelector={quote(selector)}")
    assert body["kind"] == "PodList"
    assert apps_of(body["items"]) == apps
    assert len(body["items"]) == count


def test_it_filters_deployments_by_label_selector(cluster):
    body = get(cluster, f"/apis/apps/v1/deployments?labelSelector={quote('app in (web,ledger)')}")
    names = sorted((d["metadata"]["namespace"], d["metadata"]["name"]) for d in body["items"])
    assert names == [("payments", "ledger"), ("shop", "web")]


def test_it_filters_lists_by_field_selectors(sandbox):
    everything = get(sandbox, "/api/v1/pods")["items"]
    on_node_1 = sorted(
        p["metadata"]["name"] for p in everything if p["spec"]["nodeName"] == "node-1"
    )
    assert on_node_1
    body = get(sandbox, f"/api/v1/pods?fieldSelector={quote('spec.nodeName=node-1')}")
    assert sorted(p["metadata"]["name"] for p in body["items"]) == on_node_1

    # A pod too big for any node stays Pending: the only one that is not Running.
    pending = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "huge", "labels": {"app": "huge"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "64"}}}
            ]
        },
    }
    status, created = call(sandbox, "POST", PODS, pending)
    assert status == 201, created
    body = get(sandbox, f"/api/v1/pods?fieldSelector={quote('status.phase!=Running')}")
    assert [p["metadata"]["name"] for p in body["items"]] == ["huge"]
    assert body["items"][0]["status"]["phase"] == "Pending"

    web = get(sandbox, f"{PODS}?labelSelector=app%3Dweb")["items"][0]["metadata"]["name"]
    body = get(sandbox, f"/api/v1/pods?fieldSelector={quote(f'metadata.name={web}')}")
    assert [p["metadata"]["name"] for p in body["items"]] == [web]
    body = get(sandbox, f"{PODS}?fieldSelector={quote(f'metadata.name!={web}')}")
    assert web not in {p["metadata"]["name"] for p in body["items"]}
    assert len(body["items"]) == 9  # the other eight shop pods and the pending one

    web_on_node_1 = [
        p["metadata"]["name"]
        for p in everything
        if p["spec"]["nodeName"] == "node-1" and p["metadata"]["labels"]["app"] == "web"
    ]
    assert len(web_on_node_1) == 1  # three web pods spread over three nodes
    both = quote("spec.nodeName=node-1,status.phase=Running")
    body = get(sandbox, f"/api/v1/pods?fieldSelector={both}&labelSelector=app%3Dweb")
    assert [p["metadata"]["name"] for p in body["items"]] == web_on_node_1

    body = get(sandbox, f"{DEPLOYMENTS}?fieldSelector={quote('metadata.name=web')}")
    assert [d["metadata"]["name"] for d in body["items"]] == ["web"]


def test_it_filters_events_by_involved_object(cluster):
    pod = get(cluster, f"{PODS}?labelSelector=app%3Dweb")["items"][0]
    selector = quote(
        f"involvedObject.kind=Pod,involvedObject.name={pod['metadata']['name']},"
        f"involvedObject.uid={pod['metadata']['uid']}"
    )
    events = get(cluster, f"/api/v1/namespaces/shop/events?fieldSelector={selector}")["items"]
    assert {"Scheduled", "Pulled", "Started"} <= {e["reason"] for e in events}
    assert {e["involvedObject"]["name"] for e in events} == {pod["metadata"]["name"]}


@pytest.mark.parametrize(
    ("path", "selector"),
    [
        ("/api/v1/pods", "spec.bogus=1"),
        ("/api/v1/pods", "metadata.labels=web"),
        # spec.nodeName is a pod field: deployments and nodes do not index it.
        (DEPLOYMENTS, "spec.nodeName=node-1"),
        ("/api/v1/nodes", "spec.nodeName=node-1"),
        ("/api/v1/namespaces", "spec.unschedulable=true"),
    ],
)
def test_it_rejects_field_selectors_a_resource_does_not_support(cluster, path, selector):
    status, body = call(cluster, "GET", f"{path}?fieldSelector={quote(selector)}")
    assert status == 400, body
    assert_status(body, 400, "BadRequest")
    assert f"field label not supported: {selector.split('=')[0]}" in body["message"]


# --- Status errors ------------------------------------------------------------------------


def _error(name, method, path, code, reason, body=None, ctype="application/json"):
    return pytest.param(method, path, body, ctype, code, reason, id=name)


def _container_resources(**resources):
    containers = [{"name": "web", "resources": resources}]
    return {"spec": {"template": {"spec": {"containers": containers}}}}


WEB = f"{DEPLOYMENTS}/web"
SCALE = f"{DEPLOYMENTS}/web/scale"
BAD_MEMORY = _container_resources(limits={"memory": "lots"})
SCALE_TO_MINUS_ONE = {
    "kind": "Scale",
    "apiVersion": "autoscaling/v1",
    "metadata": {"name": "web"},
    "spec": {"replicas": -1},
}
ERRORS = [
    _error("unknown resource", "GET", "/api/v1/widgets", 404, "NotFound"),
    _error("unknown namespaced resource", "GET", f"{PODS}/x/logs/y", 404, "NotFound"),
    _error(
        "unknown kind in a namespace", "GET", "/api/v1/namespaces/shop/widgets", 404, "NotFound"
    ),
    _error("unknown group", "GET", "/apis/example.com/v1/things", 404, "NotFound"),
    _error("missing object", "GET", f"{DEPLOYMENTS}/nope", 404, "NotFound"),
    _error("patch of a missing object", "PATCH", f"{DEPLOYMENTS}/nope", 404, "NotFound", {}, MERGE),
    _error("delete of a missing object", "DELETE", f"{DEPLOYMENTS}/nope", 404, "NotFound"),
    _error("malformed JSON patch", "PATCH", WEB, 400, "BadRequest", b"[{oops", JSON_PATCH),
    _error("malformed merge patch", "PATCH", WEB, 400, "BadRequest", b"{oops", MERGE),
    _error("JSON patch not a list", "PATCH", WEB, 400, "BadRequest", {"op": "add"}, JSON_PATCH),
    _error(
        "JSON patch op with a missing path",
        "PATCH",
        WEB,
        422,
        "Invalid",
        [{"op": "remove", "path": "/spec/nope"}],
        JSON_PATCH,
    ),
    _error(
        "JSON patch test op that fails",
        "PATCH",
        WEB,
        422,
        "Invalid",
        [{"op": "test", "path": "/spec/replicas", "value": 9}],
        JSON_PATCH,
    ),
    _error("unsupported patch type", "PATCH", WEB, 415, "UnsupportedMediaType", {}, "text/plain"),
    _error(
        "server-side apply without a field manager",
        "PATCH",
        WEB,
        422,
        "Invalid",
        {},
        "application/apply-patch+yaml",
    ),
    _error("bad label selector", "GET", f"{PODS}?labelSelector=app%20in%20(web", 400, "BadRequest"),
    _error(
        "label selector without operator", "GET", f"{PODS}?labelSelector=a%20b", 400, "BadRequest"
    ),
    _error(
        "unsupported field selector", "GET", f"{PODS}?fieldSelector=spec.x%3D1", 400, "BadRequest"
    ),
    _error("field selector without operator", "GET", f"{PODS}?fieldSelector=a", 400, "BadRequest"),
    _error(
        "replicas -1 via scale patch",
        "PATCH",
        SCALE,
        422,
        "Invalid",
        {"spec": {"replicas": -1}},
        MERGE,
    ),
    _error("replicas -1 via scale update", "PUT", SCALE, 422, "Invalid", SCALE_TO_MINUS_ONE),
    _error(
        "replicas -1 on the deployment",
        "PATCH",
        WEB,
        422,
        "Invalid",
        {"spec": {"replicas": -1}},
        MERGE,
    ),
    _error("bad quantity", "PATCH", WEB, 422, "Invalid", BAD_MEMORY, STRATEGIC),
    _error(
        "negative quantity",
        "PATCH",
        WEB,
        422,
        "Invalid",
        _container_resources(requests={"cpu": "-100m"}),
        STRATEGIC,
    ),
    _error(
        "requests above limits",
        "PATCH",
        WEB,
        422,
        "Invalid",
        _container_resources(requests={"cpu": "2"}),
        STRATEGIC,
    ),
    _error("invalid JSON on create", "POST", DEPLOYMENTS, 400, "BadRequest", b"{"),
    _error(
        "update under another name",
        "PUT",
        WEB,
        400,
        "BadRequest",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}},
    ),
    _error(
        "delete of a kind that cannot be deleted",
        "DELETE",
        "/api/v1/nodes/node-1",
        405,
        "MethodNotAllowed",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "reason"), ERRORS)
def test_it_answers_bad_requests_with_a_status_and_changes_nothing(
    cluster, method, path, body, ctype, code, reason
):
    before = stored(cluster, "apps/deployments", "shop", "web")
    status, answer = call(cluster, method, path, body, ctype=ctype)
    assert status == code, answer
    assert_status(answer, code, reason)
    assert stored(cluster, "apps/deployments", "shop", "web") == before
    assert mutations(cluster) == 0  # nothing, in any test sharing the cluster


def test_it_names_the_invalid_field(cluster):
    status, body = call(cluster, "PATCH", f"{DEPLOYMENTS}/web", BAD_MEMORY, ctype=STRATEGIC)
    assert status == 422
    field = "spec.template.spec.containers[0].resources.limits.memory"
    assert body["message"].startswith(f'Deployment.apps "web" is invalid: {field}: ')
    assert body["details"]["name"] == "web"
    assert body["details"]["causes"][0]["field"] == field

    status, body = call(cluster, "PATCH", SCALE, {"spec": {"replicas": -1}}, ctype=MERGE)
    assert status == 422
    assert body["message"] == (
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
    assert body["details"]["name"] == "web"
    assert body["details"]["causes"][0]["field"] == "spec.replicas"


def test_it_names_pod_fields_from_the_pod_spec(cluster):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "fast"}}}
            ]
        },
    }
    status, body = call(cluster, "POST", PODS, pod)
    assert status == 422, body
    assert_status(body, 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec.containers[0].resources.requests.cpu"
    assert body["message"].startswith('Pod "bad" is invalid: spec.containers[0].resources')

    pod["spec"] = {}
    status, body = call(cluster, "POST", PODS, pod)
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.containers"
    assert stored(cluster, "pods", "shop", "bad") is None


def test_it_refuses_to_create_an_object_that_exists(cluster):
    web = get(cluster, f"{DEPLOYMENTS}/web")
    web["metadata"] = {"name": "web", "namespace": "shop"}
    status, body = call(cluster, "POST", DEPLOYMENTS, web)
    assert status == 409
    assert_status(body, 409, "AlreadyExists")
    assert body["message"] == 'deployments.apps "web" already exists'
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}

    status, body = call(
        cluster, "POST", "/api/v1/namespaces", get(cluster, "/api/v1/namespaces/shop")
    )
    assert status == 409
    assert_status(body, 409, "AlreadyExists")
    assert mutations(cluster) == 0  # nothing, in any test sharing the cluster


def test_a_dry_run_answers_as_the_write_would_and_stores_nothing(cluster):
    """?dryRun=All on every write: the same checks and the same answer, nothing stored,
    nothing started (kubectl apply --dry-run=server and kubectl diff rely on it)."""
    web = get(cluster, f"{DEPLOYMENTS}/web")
    rv = web["metadata"]["resourceVersion"]
    new = json.loads(json.dumps(web))
    new["metadata"] = {"name": "web-dry", "labels": {"app": "web-dry"}}
    new["spec"]["selector"] = {"matchLabels": {"app": "web-dry"}}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web-dry"}
    new.pop("status")
    status, body = call(cluster, "POST", f"{DEPLOYMENTS}?dryRun=All", new)
    assert status == 201 and body["metadata"]["name"] == "web-dry" and body["metadata"]["uid"]
    assert stored(cluster, "apps/deployments", "shop", "web-dry") is None
    status, body = call(cluster, "POST", "/api/v1/namespaces?dryRun=All", NAMESPACE_STAGING)
    assert status == 201 and stored(cluster, "namespaces", "", "staging") is None
    # The checks still run: an existing name, an invalid field.
    status, body = call(cluster, "POST", f"{DEPLOYMENTS}?dryRun=All", web)
    assert status == 409
    bad = json.loads(json.dumps(new))
    bad["spec"]["replicas"] = -1
    status, body = call(cluster, "POST", f"{DEPLOYMENTS}?dryRun=All", bad)
    assert status == 422 and "spec.replicas" in body["message"]
    # Patch, update, scale, evict and delete answer with what would be, and change nothing.
    patch = {"spec": {"replicas": 9}}
    status, body = call(
        cluster,
        "PATCH",
        f"{DEPLOYMENTS}/web?dryRun=All",
        patch,
        ctype="application/merge-patch+json",
    )
    assert status == 200 and body["spec"]["replicas"] == 9
    assert body["metadata"]["generation"] == web["metadata"]["generation"] + 1
    status, body = call(cluster, "PUT", f"{DEPLOYMENTS}/web?dryRun=All", web)
    assert status == 200
    scale = {"spec": {"replicas": 6}}
    status, body = call(
        cluster,
        "PATCH",
        f"{DEPLOYMENTS}/web/scale?dryRun=All",
        scale,
        ctype="application/merge-patch+json",
    )
    assert status == 200 and body["spec"]["replicas"] == 6
    pod = get(cluster, f"{PODS}?labelSelector=app%3Dweb")["items"][0]["metadata"]["name"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": "shop"},
    }
    status, _ = call(cluster, "POST", f"{PODS}/{pod}/eviction?dryRun=All", eviction)
    assert status == 201
    eviction["deleteOptions"] = {"dryRun": ["All"]}  # as kubectl drain sends it
    status, _ = call(cluster, "POST", f"{PODS}/{pod}/eviction", eviction)
    assert status == 201
    status, _ = call(cluster, "DELETE", f"{DEPLOYMENTS}/web?dryRun=All")
    assert status == 200
    now = stored(cluster, "apps/deployments", "shop", "web")
    assert now["spec"]["replicas"] == 3 and now["metadata"]["resourceVersion"] == rv
    assert stored(cluster, "pods", "shop", pod)["metadata"].get("deletionTimestamp") is None
    assert mutations(cluster) == 0  # nothing, in any test sharing the cluster
    # Only "All" is a dry run the API server knows.
    status, body = call(cluster, "DELETE", f"{DEPLOYMENTS}/web?dryRun=Yes")
    assert status == 400 and 'supported values: "All"' in body["message"]
    assert stored(cluster, "apps/deployments", "shop", "web") is not None


NAMESPACE_STAGING = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "staging"}}


def test_it_creates_a_deployment_and_runs_its_pods(sandbox):
    web = get(sandbox, f"{DEPLOYMENTS}/web")
    web["metadata"] = {"name": "web2", "labels": {"app": "web2"}}
    web["spec"]["selector"] = {"matchLabels": {"app": "web2"}}
    web["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
    web.pop("status")
    status, body = call(sandbox, "POST", DEPLOYMENTS, web)
    assert status == 201, body
    assert body["metadata"]["uid"] != get(sandbox, f"{DEPLOYMENTS}/web")["metadata"]["uid"]
    assert body["metadata"]["generation"] == 1
    sandbox.sandbox.advance(30)
    created = get(sandbox, f"{DEPLOYMENTS}/web2")
    assert created["status"]["readyReplicas"] == 3
    assert len(get(sandbox, f"{PODS}?labelSelector=app%3Dweb2")["items"]) == 3
    assert sandbox.sandbox.mutations["create apps/deployments"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda spec: spec.pop("selector"), "spec.selector"),
        (lambda spec: spec.update(selector={}), "spec.selector"),
        (
            lambda spec: spec["template"]["metadata"].update(labels={"app": "other"}),
            "spec.template.metadata.labels",
        ),
    ],
    ids=["no selector", "empty selector", "selector not matching the template"],
)
def test_it_rejects_deployments_whose_selector_cannot_select_their_pods(sandbox, change, field):
    web = get(sandbox, f"{DEPLOYMENTS}/web")
    web["metadata"] = {"name": "orphan"}
    web.pop("status")
    change(web["spec"])
    status, body = call(sandbox, "POST", DEPLOYMENTS, web)
    assert status == 422, body
    assert_status(body, 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == field
    sandbox.sandbox.advance(30)  # the controllers still run
    assert get(sandbox, f"{DEPLOYMENTS}/web")["status"]["readyReplicas"] == 3


def test_it_defaults_an_autoscaler_without_metrics_to_cpu(sandbox):
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
        },
    }
    status, body = call(
        sandbox, "POST", "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers", hpa
    )
    assert status == 201, body
    assert body["spec"]["minReplicas"] == 1
    target = body["spec"]["metrics"][0]["resource"]
    assert (target["name"], target["target"]["averageUtilization"]) == ("cpu", 80)
    sandbox.sandbox.advance(60)  # the autoscaler runs on it
    assert get(sandbox, f"{DEPLOYMENTS}/web")["status"]["readyReplicas"] >= 1

    hpa["metadata"]["name"] = "broken"
    hpa["spec"]["minReplicas"] = 6
    status, body = call(
        sandbox, "POST", "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers", hpa
    )
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.maxReplicas"


def test_it_keeps_running_with_an_autoscaler_on_memory(sandbox):
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "worker"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "1Gi"},
                    },
                }
            ],
        },
    }
    status, body = call(
        sandbox, "POST", "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers", hpa
    )
    assert status == 201, body
    sandbox.sandbox.advance(30)
    assert get(sandbox, f"{DEPLOYMENTS}/worker")["status"]["readyReplicas"] == 2


def test_it_keeps_running_with_a_disruption_budget_without_selector(sandbox):
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "none"},
        "spec": {"minAvailable": 1},
    }
    status, body = call(
        sandbox, "POST", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets", pdb
    )
    assert status == 201, body
    sandbox.sandbox.advance(30)
    assert get(sandbox, f"{DEPLOYMENTS}/web")["status"]["readyReplicas"] == 3


def test_it_checks_the_uid_precondition_on_delete(sandbox):
    web = get(sandbox, f"{DEPLOYMENTS}/web")
    wrong = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-the-uid"}}
    status, body = call(sandbox, "DELETE", f"{DEPLOYMENTS}/web", wrong)
    assert status == 409
    assert_status(body, 409, "Conflict")
    assert "Precondition failed" in body["message"]
    assert stored(sandbox, "apps/deployments", "shop", "web") is not None

    right = {**wrong, "preconditions": {"uid": web["metadata"]["uid"]}}
    status, body = call(sandbox, "DELETE", f"{DEPLOYMENTS}/web", right)
    assert status == 200, body
    assert stored(sandbox, "apps/deployments", "shop", "web") is None
    # Cascading deletion: its replica sets and pods go too.
    assert get(sandbox, f"{PODS}?labelSelector=app%3Dweb")["items"] == []
    replica_sets = get(sandbox, "/apis/apps/v1/namespaces/shop/replicasets")["items"]
    assert "web" not in apps_of(replica_sets)
    assert sandbox.sandbox.mutations["delete apps/deployments"] == 1


def test_it_rejects_an_update_with_a_stale_resource_version(sandbox):
    web = get(sandbox, f"{DEPLOYMENTS}/web")
    stale = json.loads(json.dumps(web))
    stale["metadata"]["resourceVersion"] = str(int(web["metadata"]["resourceVersion"]) - 1)
    stale["spec"]["replicas"] = 4
    status, body = call(sandbox, "PUT", f"{DEPLOYMENTS}/web", stale)
    assert status == 409
    assert_status(body, 409, "Conflict")
    assert body["message"].startswith('Operation cannot be fulfilled on deployments.apps "web"')
    assert stored(sandbox, "apps/deployments", "shop", "web")["spec"]["replicas"] == 3

    web["spec"]["replicas"] = 4
    status, body = call(sandbox, "PUT", f"{DEPLOYMENTS}/web", web)
    assert status == 200, body
    assert int(body["metadata"]["resourceVersion"]) > int(web["metadata"]["resourceVersion"])
    assert body["metadata"]["generation"] == web["metadata"]["generation"] + 1
    assert stored(sandbox, "apps/deployments", "shop", "web")["spec"]["replicas"] == 4

    # The old version is stale now, for a patch as well.
    patch = {"metadata": {"resourceVersion": web["metadata"]["resourceVersion"]}}
    status, body = call(sandbox, "PATCH", f"{DEPLOYMENTS}/web", patch, ctype=MERGE)
    assert status == 409
    assert_status(body, 409, "Conflict")


def test_it_scales_through_the_scale_subresource(sandbox):
    scale = get(sandbox, f"{DEPLOYMENTS}/web/scale")
    assert scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 3, "selector": "app=web"}
    scale["spec"]["replicas"] = 5
    status, body = call(sandbox, "PUT", f"{DEPLOYMENTS}/web/scale", scale)
    assert status == 200, body
    assert body["spec"]["replicas"] == 5
    assert stored(sandbox, "apps/deployments", "shop", "web")["spec"]["replicas"] == 5
    # The scale object's resourceVersion is the deployment's: the old one is stale now.
    status, body = call(sandbox, "PUT", f"{DEPLOYMENTS}/web/scale", scale)
    assert status == 409
    assert_status(body, 409, "Conflict")
    sandbox.sandbox.advance(30)
    assert get(sandbox, f"{DEPLOYMENTS}/web/scale")["status"]["replicas"] == 5


def test_it_evicts_pods_within_the_disruption_budget(sandbox):
    web = get(sandbox, f"{PODS}?labelSelector=app%3Dweb")["items"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction"}
    first, second = web[0]["metadata"]["name"], web[1]["metadata"]["name"]
    status, body = call(
        sandbox, "POST", f"{PODS}/{first}/eviction", {**eviction, "metadata": {"name": first}}
    )
    assert status == 201, body
    assert (body["kind"], body["status"]) == ("Status", "Success")
    assert stored(sandbox, "pods", "shop", first) is None
    # minAvailable 2: with the replacement not ready yet, a second eviction must wait.
    status, body = call(
        sandbox, "POST", f"{PODS}/{second}/eviction", {**eviction, "metadata": {"name": second}}
    )
    assert status == 429
    assert_status(body, 429, "TooManyRequests")
    assert "disruption budget" in body["message"]
    assert stored(sandbox, "pods", "shop", second) is not None
    sandbox.sandbox.advance(30)
    status, body = call(
        sandbox, "POST", f"{PODS}/{second}/eviction", {**eviction, "metadata": {"name": second}}
    )
    assert status == 201, body


def test_it_prints_tables_as_kubectl_asks_for_them(sandbox):
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table = call(sandbox, "GET", PODS, accept=accept)
    assert status == 200
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
    assert len(table["rows"]) == 9
    row = table["rows"][0]
    assert row["cells"][1:5] == ["1/1", "Running", 0, "1m"]
    assert row["object"]["kind"] == "PartialObjectMetadata"

    # A pod whose container is being created prints as ContainerCreating, as kubectl does.
    victim = row["cells"][0]
    assert call(sandbox, "DELETE", f"{PODS}/{victim}")[0] == 200
    status, table = call(sandbox, "GET", PODS, accept=accept)
    statuses = {r["cells"][0]: r["cells"][2] for r in table["rows"]}
    assert victim not in statuses
    assert sorted(statuses.values()).count("ContainerCreating") == 1
    sandbox.sandbox.advance(30)
    status, table = call(sandbox, "GET", PODS, accept=accept)
    assert {r["cells"][2] for r in table["rows"]} == {"Running"}

    status, table = call(sandbox, "GET", f"{DEPLOYMENTS}/web", accept=accept)
    assert [r["cells"][:4] for r in table["rows"]] == [["web", "3/3", 3, 3]]


# --- Authentication and authorisation -----------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no token", "wrong token"])
def test_it_requires_a_valid_token(cluster, token):
    for method, path, body in (("GET", PODS, None), ("DELETE", f"{DEPLOYMENTS}/web", None)):
        status, answer = call(cluster, method, path, body, token=token)
        assert status == 401
        assert_status(answer, 401, "Unauthorized")
    assert stored(cluster, "apps/deployments", "shop", "web") is not None


def test_it_lets_the_viewer_read_but_not_write(cluster):
    viewer = cluster.viewer_token
    status, body = call(cluster, "GET", f"{DEPLOYMENTS}/web", token=viewer)
    assert status == 200
    assert body["metadata"]["name"] == "web"
    writes = [
        ("PATCH", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 9}}, MERGE, "patch"),
        ("PUT", f"{DEPLOYMENTS}/web", body, "application/json", "update"),
        ("DELETE", f"{DEPLOYMENTS}/web", None, "application/json", "delete"),
        ("POST", DEPLOYMENTS, body, "application/json", "create"),
        ("PATCH", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 9}}, MERGE, "patch"),
    ]
    for method, path, payload, ctype, verb in writes:
        status, answer = call(cluster, method, path, payload, ctype=ctype, token=viewer)
        assert status == 403, (method, path)
        assert_status(answer, 403, "Forbidden")
        assert f"cannot {verb} resource" in answer["message"]
        assert 'in the namespace "shop"' in answer["message"]
    assert stored(cluster, "apps/deployments", "shop", "web")["spec"]["replicas"] == 3
    assert mutations(cluster) == 0  # nothing, in any test sharing the cluster


def test_it_forbids_everything_to_an_identity_without_roles(cluster):
    status, body = call(cluster, "GET", PODS, token=cluster.nobody_token)
    assert status == 403
    assert_status(body, 403, "Forbidden")
    assert 'cannot list resource "pods"' in body["message"]


# --- Watch --------------------------------------------------------------------------------


def test_it_streams_a_modified_event_to_a_watch(sandbox):
    rv = get(sandbox, DEPLOYMENTS)["metadata"]["resourceVersion"]
    events, opened = [], threading.Event()

    def watch():
        path = f"{DEPLOYMENTS}?watch=true&resourceVersion={rv}&timeoutSeconds=5"
        with stream(sandbox, path) as resp:
            opened.set()
            for line in resp:
                events.append(json.loads(line))
                if events[-1]["type"] == "MODIFIED":
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert opened.wait(5)
    patch = {"metadata": {"labels": {"watched": "yes"}}}
    status, patched = call(sandbox, "PATCH", f"{DEPLOYMENTS}/web", patch, ctype=MERGE)
    assert status == 200, patched
    thread.join(timeout=8)
    assert not thread.is_alive()
    modified = [e for e in events if e["type"] == "MODIFIED"]
    assert modified, events
    obj = modified[0]["object"]
    assert (obj["kind"], obj["metadata"]["name"]) == ("Deployment", "web")
    assert obj["metadata"]["labels"]["watched"] == "yes"
    assert int(obj["metadata"]["resourceVersion"]) > int(rv)
    assert all(e["type"] != "ADDED" for e in events)  # from a resourceVersion: no initial list


def test_it_sends_initial_events_and_a_bookmark_to_a_watch_list(sandbox):
    rv = int(get(sandbox, DEPLOYMENTS)["metadata"]["resourceVersion"])
    path = (
        f"{DEPLOYMENTS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5"
    )
    events = []
    with stream(sandbox, path) as resp:
        for line in resp:
            events.append(json.loads(line))
            if events[-1]["type"] == "BOOKMARK":
                break
    *added, bookmark = events
    assert {e["type"] for e in added} == {"ADDED"}
    assert sorted(e["object"]["metadata"]["name"] for e in added) == ["api", "web", "worker"]
    assert bookmark["type"] == "BOOKMARK"
    meta = bookmark["object"]["metadata"]
    assert meta["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(meta["resourceVersion"]) >= rv
    assert bookmark["object"]["kind"] == "Deployment"


def test_it_filters_watch_events_by_label_selector(sandbox):
    rv = get(sandbox, DEPLOYMENTS)["metadata"]["resourceVersion"]
    path = f"{DEPLOYMENTS}?watch=true&resourceVersion={rv}&labelSelector=app%3Dapi&timeoutSeconds=5"
    with stream(sandbox, path) as resp:
        for name in ("web", "api"):
            patch = {"metadata": {"annotations": {"touched": name}}}
            assert call(sandbox, "PATCH", f"{DEPLOYMENTS}/{name}", patch, ctype=MERGE)[0] == 200
        event = json.loads(resp.readline())
    assert event["type"] == "MODIFIED"
    assert event["object"]["metadata"]["name"] == "api"


def test_it_rejects_a_watch_with_a_bad_selector_before_streaming(cluster):
    status, body = call(cluster, "GET", f"{DEPLOYMENTS}?watch=true&labelSelector=a%20in")
    assert status == 400
    assert_status(body, 400, "BadRequest")


def test_it_streams_each_change_with_the_object_as_it_was_then(sandbox):
    rv = get(sandbox, DEPLOYMENTS)["metadata"]["resourceVersion"]
    versions = []
    for value in ("one", "two"):
        patch = {"metadata": {"labels": {"step": value}}}
        status, body = call(sandbox, "PATCH", f"{DEPLOYMENTS}/web", patch, ctype=MERGE)
        assert status == 200, body
        versions.append((value, body["metadata"]["resourceVersion"]))
    path = f"{DEPLOYMENTS}?watch=true&resourceVersion={rv}&timeoutSeconds=5"
    seen = []
    with stream(sandbox, path) as resp:
        while len(seen) < 2:
            event = json.loads(resp.readline())
            meta = event["object"]["metadata"]
            seen.append((meta["labels"]["step"], meta["resourceVersion"]))
    assert seen == versions


@pytest.mark.parametrize(
    "query", ["timeoutSeconds=soon", "resourceVersion=abc", "timeoutSeconds=-1"]
)
def test_it_rejects_a_watch_with_bad_parameters_before_streaming(cluster, query):
    status, body = call(cluster, "GET", f"{DEPLOYMENTS}?watch=true&{query}")
    assert status == 400, body
    assert_status(body, 400, "BadRequest")
    assert query.split("=")[0] in body["message"]
