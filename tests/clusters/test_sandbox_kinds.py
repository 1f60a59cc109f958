"""The kinds beyond pods and deployments: ServiceAccounts, Secrets, ConfigMaps, Services with
their Endpoints, RBAC, Ingresses, NetworkPolicies, StatefulSets, DaemonSets and CronJobs,
through the official client and kubectl, validated against the official schemas."""

import base64
import ipaddress
import json
import queue
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from apps.clusters.sandbox import builders, controllers
from tests.clusters.test_kubectl import KUBECTL, kubectl, kubectl_command, table
from tests.clusters.test_sandbox_api import call, tls
from tests.support.sandbox import start_sandbox
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: kinds}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: kinds}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: kinds}
data: {LOG_LEVEL: info, WORKERS: "4"}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: kinds}
type: Opaque
stringData: {password: s3cret}
data: {user: YWRtaW4=}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: kinds}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: kinds}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: kinds}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: kinds}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: kinds}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: builder, namespace: kinds}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kinds-nodes}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kinds-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kinds-nodes}
subjects: [{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: kinds}
spec:
  ingressClassName: nginx
  tls: [{hosts: [shop.example.com], secretName: db}]
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: kinds}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {role: edge}}}]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: kinds}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kinds}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: fluent-bit:3}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: kinds}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: report, image: busybox}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = start_sandbox(tmp_path_factory.mktemp("kinds"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def applied(cluster, tmp_path_factory):
    """The manifest above, applied with kubectl as an operator would."""
    path = tmp_path_factory.mktemp("manifest") / "kinds.yaml"
    path.write_text(MANIFEST)
    proc = kubectl(cluster, "apply", "-f", str(path))
    return proc.stdout


@pytest.fixture(scope="module")
def api(cluster):
    client = k8s_config.new_client_from_config(str(cluster.kubeconfig), context="sandbox")
    yield client
    client.close()


def stored(server, key, namespace, name):
    with server.sandbox.lock:
        return server.sandbox.store.get(key, namespace, name)


# --- Through the official client ----------------------------------------------------------


def test_it_stores_core_kinds_through_the_official_client(cluster, api):
    core = k8s.CoreV1Api(api)
    core.create_namespaced_service_account("shop", {"metadata": {"name": "deployer"}})
    core.create_namespaced_config_map(
        "shop", {"metadata": {"name": "flags"}, "data": {"checkout": "on"}}
    )
    core.create_namespaced_secret(
        "shop", {"metadata": {"name": "token"}, "stringData": {"token": "abc"}}
    )
    svc = core.create_namespaced_service(
        "shop",
        {
            "metadata": {"name": "web-lb"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    assert core.read_namespaced_service_account("deployer", "shop").metadata.uid
    assert core.read_namespaced_config_map("flags", "shop").data == {"checkout": "on"}
    secret = core.read_namespaced_secret("token", "shop")
    assert (secret.type, secret.data, secret.string_data) == (
        "Opaque",
        {"token": base64.b64encode(b"abc").decode()},
        None,
    )
    assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/12")
    assert svc.spec.cluster_ips == [svc.spec.cluster_ip]
    assert 30000 <= svc.spec.ports[0].node_port <= 32767
    assert svc.spec.ports[0].target_port == 80
    names = [s.metadata.name for s in core.list_namespaced_service("shop").items]
    assert "web-lb" in names

    # An update keeps the allocated address; a patch changes what it names.
    svc.spec.ports[0].port = 8080
    again = core.replace_namespaced_service("web-lb", "shop", svc)
    assert again.spec.cluster_ip == svc.spec.cluster_ip
    patched = core.patch_namespaced_config_map("flags", "shop", {"data": {"search": "off"}})
    assert patched.data == {"checkout": "on", "search": "off"}
    core.delete_namespaced_service("web-lb", "shop")
    assert stored(cluster, "services", "shop", "web-lb") is None
    assert stored(cluster, "endpoints", "shop", "web-lb") is None


def test_it_stores_rbac_and_networking_kinds_through_the_official_client(cluster, api):
    rbac, net = k8s.RbacAuthorizationV1Api(api), k8s.NetworkingV1Api(api)
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
    rbac.create_namespaced_role("shop", {"metadata": {"name": "pods"}, "rules": [rule]})
    rbac.create_cluster_role({"metadata": {"name": "pods-everywhere"}, "rules": [rule]})
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"}
    subject = {"kind": "ServiceAccount", "name": "default", "namespace": "shop"}
    rbac.create_namespaced_role_binding(
        "shop", {"metadata": {"name": "pods"}, "roleRef": ref, "subjects": [subject]}
    )
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "pods-everywhere"},
            "roleRef": {**ref, "kind": "ClusterRole", "name": "pods-everywhere"},
            "subjects": [subject],
        }
    )
    net.create_namespaced_network_policy(
        "shop", {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    )
    net.create_namespaced_ingress(
        "shop",
        {
            "metadata": {"name": "web"},
            "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
        },
    )
    assert rbac.read_namespaced_role("pods", "shop").rules[0].verbs == ["get"]
    assert rbac.read_cluster_role_binding("pods-everywhere").role_ref.name == "pods-everywhere"
    assert "pods" in [b.metadata.name for b in rbac.list_namespaced_role_binding("shop").items]
    assert net.read_namespaced_ingress("web", "shop").spec.default_backend.service.name == "web"
    assert net.list_namespaced_network_policy("shop").items[0].metadata.name == "deny"
    rbac.delete_cluster_role("pods-everywhere")
    with pytest.raises(ApiException) as exc:
        rbac.read_cluster_role("pods-everywhere")
    assert exc.value.status == 404


def test_it_stores_nothing_on_a_dry_run(cluster, api):
    core = k8s.CoreV1Api(api)
    body = {"metadata": {"name": "dry"}, "spec": {"ports": [{"port": 80}]}}
    answer = core.create_namespaced_service("payments", body, dry_run="All")
    assert answer.spec.cluster_ip
    rbac = k8s.RbacAuthorizationV1Api(api)
    rbac.create_cluster_role({"metadata": {"name": "dry"}}, dry_run="All")
    assert stored(cluster, "services", "payments", "dry") is None
    assert stored(cluster, "rbac.authorization.k8s.io/clusterroles", "", "dry") is None
    core.delete_namespaced_service("kube-dns", "kube-system", dry_run="All")
    assert stored(cluster, "services", "kube-system", "kube-dns") is not None


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/namespaces/shop/services",
            {"metadata": {"name": "bad"}, "spec": {"ports": [{"port": 80}], "bogus": 1}},
            "spec.bogus",
        ),
        (
            "/api/v1/namespaces/shop/services",
            {"metadata": {"name": "bad"}, "spec": {"ports": [{"port": "eighty"}]}},
            "spec.ports[0].port",
        ),
        (
            "/api/v1/namespaces/shop/configmaps",
            {"metadata": {"name": "bad"}, "data": {"n": 1}},
            "data.n",
        ),
        (
            "/api/v1/namespaces/shop/secrets",
            {"metadata": {"name": "bad"}, "data": {"key": "not base64!"}},
            "data[key]",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings",
            {"metadata": {"name": "bad"}, "subjects": []},
            "roleRef",
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
            {"metadata": {"name": "bad"}, "spec": {"podSelector": {}, "policyTypes": "Ingress"}},
            "spec.policyTypes",
        ),
        (
            "/apis/batch/v1/namespaces/shop/cronjobs",
            {
                "metadata": {"name": "bad"},
                "spec": {
                    "schedule": "every day",
                    "jobTemplate": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [{"name": "c", "image": "i"}],
                                }
                            }
                        }
                    },
                },
            },
            "spec.schedule",
        ),
    ],
    ids=["unknown field", "wrong type", "configmap value", "base64", "required", "list", "cron"],
)
def test_it_refuses_invalid_objects_naming_the_field(cluster, path, body, field):
    kind = {
        "services": ("Service", "v1"),
        "configmaps": ("ConfigMap", "v1"),
        "secrets": ("Secret", "v1"),
        "rolebindings": ("RoleBinding", "rbac.authorization.k8s.io/v1"),
        "networkpolicies": ("NetworkPolicy", "networking.k8s.io/v1"),
        "cronjobs": ("CronJob", "batch/v1"),
    }[path.rsplit("/", 1)[1]]
    status, answer = call(cluster, "POST", path, {"kind": kind[0], "apiVersion": kind[1], **body})
    assert status == 422, answer
    assert answer["reason"] == "Invalid"
    assert answer["details"]["causes"][0]["field"] == field
    assert f": {field}: " in answer["message"]
    assert stored(cluster, path.rsplit("/", 1)[1], "shop", "bad") is None


# --- Endpoints ------------------------------------------------------------------------------


def test_endpoints_list_the_ready_pods_and_follow_their_readiness(cluster, api):
    core = k8s.CoreV1Api(api)
    core.create_namespaced_service(
        "shop",
        {
            "metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"name": "http", "port": 80}]},
        },
    )
    api_pods = core.list_namespaced_pod("shop", label_selector="app=api").items
    ips = {p.status.pod_ip for p in api_pods}
    endpoints = core.read_namespaced_endpoints("api", "shop")
    (subset,) = endpoints.subsets
    assert {a.ip for a in subset.addresses} == ips
    assert subset.not_ready_addresses is None
    assert [(p.name, p.port) for p in subset.ports] == [("http", 80)]

    # A pod fails (Chaos Mesh's pod-failure): its address moves to notReadyAddresses.
    status, answer = call(
        cluster,
        "POST",
        "/apis/chaos-mesh.org/v1alpha1/namespaces/shop/podchaos",
        {
            "apiVersion": "chaos-mesh.org/v1alpha1",
            "kind": "PodChaos",
            "metadata": {"name": "fail-one-api"},
            "spec": {
                "action": "pod-failure",
                "mode": "one",
                "duration": "120s",
                "selector": {"labelSelectors": {"app": "api"}},
            },
        },
    )
    assert status == 201, answer
    cluster.sandbox.advance(5)
    (subset,) = core.read_namespaced_endpoints("api", "shop").subsets
    failing = {a.ip for a in subset.not_ready_addresses}
    assert len(failing) == 1
    assert {a.ip for a in subset.addresses} == ips - failing

    # It goes: its address leaves the Endpoints.
    pod = next(p for p in api_pods if p.status.pod_ip in failing)
    core.delete_namespaced_pod(pod.metadata.name, "shop", grace_period_seconds=0)
    (subset,) = core.read_namespaced_endpoints("api", "shop").subsets
    assert subset.not_ready_addresses is None
    assert failing.isdisjoint(a.ip for a in subset.addresses)
    assert pod.metadata.name not in {a.target_ref.name for a in subset.addresses}


# --- kubectl ------------------------------------------------------------------------------


def test_kubectl_applies_a_manifest_of_every_kind(cluster, applied, tmp_path):
    for line in (
        "serviceaccount/builder created",
        "secret/db created",
        "service/web created",
        "role.rbac.authorization.k8s.io/reader created",
        "clusterrolebinding.rbac.authorization.k8s.io/kinds-nodes created",
        "ingress.networking.k8s.io/web created",
        "networkpolicy.networking.k8s.io/web created",
        "statefulset.apps/db created",
        "daemonset.apps/agent created",
        "cronjob.batch/report created",
    ):
        assert line in applied
    secret = stored(cluster, "secrets", "kinds", "db")
    assert "stringData" not in secret
    assert secret["data"] == {"user": "YWRtaW4=", "password": base64.b64encode(b"s3cret").decode()}
    # Applied again, nothing changes (client-side apply patches against what is stored).
    path = tmp_path / "kinds.yaml"
    path.write_text(MANIFEST)
    rv = stored(cluster, "services", "kinds", "web")["metadata"]["resourceVersion"]
    again = kubectl(cluster, "apply", "-f", str(path)).stdout.splitlines()
    # (a Secret with stringData is "configured" each time, as on a real server: the live
    # object never holds stringData, so kubectl always finds it to patch)
    changed = [line for line in again if not line.endswith(" unchanged")]
    assert len(again) == len(list(yaml.safe_load_all(MANIFEST))), again
    assert changed == ["secret/db configured"], again
    assert stored(cluster, "services", "kinds", "web")["metadata"]["resourceVersion"] == rv


EXPECTED_HEADERS = {
    "svc": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    "ep": ["NAME", "ENDPOINTS", "AGE"],
    "cm": ["NAME", "DATA", "AGE"],
    "secret": ["NAME", "TYPE", "DATA", "AGE"],
    "sa": ["NAME", "SECRETS", "AGE"],
    "ing": ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
    "netpol": ["NAME", "POD-SELECTOR", "AGE"],
    "role": ["NAME", "CREATED AT"],
    "rolebinding": ["NAME", "ROLE", "AGE"],
    "sts": ["NAME", "READY", "AGE"],
    "ds": [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ],
    "cj": ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
}


def test_kubectl_prints_each_kind_with_the_columns_of_a_real_server(cluster, applied):
    out = {
        kind: table(kubectl(cluster, "get", kind, "-n", "kinds").stdout)
        for kind in EXPECTED_HEADERS
    }
    for kind, header in EXPECTED_HEADERS.items():
        assert out[kind][0] == header, kind
    rows = {kind: {r[0]: r for r in rows} for kind, (_, rows) in out.items()}
    web, db, edge = rows["svc"]["web"], rows["svc"]["db"], rows["svc"]["edge"]
    assert web[1:5] == [
        "ClusterIP",
        stored(cluster, "services", "kinds", "web")["spec"]["clusterIP"],
        "<none>",
        "80/TCP",
    ]
    assert db[1:5] == ["ClusterIP", "None", "<none>", "5432/TCP"]
    node_port = stored(cluster, "services", "kinds", "edge")["spec"]["ports"][0]["nodePort"]
    assert edge[1] == "NodePort" and edge[4] == f"443:{node_port}/TCP"
    assert rows["cm"]["settings"][1] == "2"
    assert rows["secret"]["db"][1:3] == ["Opaque", "2"]
    assert rows["sa"]["builder"][1] == "0"
    assert rows["ing"]["web"][1:5] == ["nginx", "shop.example.com", "", "80, 443"] or rows["ing"][
        "web"
    ][1:4] == ["nginx", "shop.example.com", "80, 443"]  # an empty ADDRESS collapses the split
    assert rows["netpol"]["web"][1] == "app=web"
    assert rows["rolebinding"]["reader"][1] == "Role/reader"
    assert rows["cj"]["report"][1:6] == ["*/5 * * * *", "<none>", "False", "0", "<none>"]

    header, wide = table(
        kubectl(cluster, "get", "rolebinding", "reader", "-n", "kinds", "-o", "wide").stdout
    )
    assert header == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[0][-1] == "kinds/builder"


def test_kubectl_prints_pdb_and_pvc_columns(cluster):
    header, rows = table(kubectl(cluster, "get", "pdb", "-n", "shop").stdout)
    assert header == ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"]
    pdb = stored(cluster, "policy/poddisruptionbudgets", "shop", "web")
    assert rows[0][:4] == ["web", "2", "N/A", str(pdb["status"]["disruptionsAllowed"])]
    header, rows = table(kubectl(cluster, "get", "pvc", "-n", "payments").stdout)
    assert header == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ]
    assert rows[0][:7] == [
        "ledger-data",
        "Bound",
        "pvc-payments-ledger-data",
        "20Gi",
        "RWO",
        "standard",
        "<unset>",
    ]


def test_kubectl_lists_the_new_workloads_in_all(cluster, applied):
    out = kubectl(cluster, "get", "all", "-n", "kinds").stdout
    for name in (
        "service/web",
        "statefulset.apps/db",
        "daemonset.apps/agent",
        "cronjob.batch/report",
    ):
        assert name in out


def deploy_manifests() -> dict[str, str]:
    """ZeroTouch's own manifests, as an operator applies them: each kustomize overlay
    rendered by kubectl (or the plain files of a layout without overlays). Keda's
    ScaledObjects are left out: the sandbox serves no custom resource definitions."""
    deploy = ROOT / "deploy" / "kubernetes"
    overlays = sorted(p for p in (deploy / "overlays").glob("*") if p.is_dir())
    rendered = {
        o.name: subprocess.run(
            [str(KUBECTL), "kustomize", str(o)], capture_output=True, text=True, check=True
        ).stdout
        for o in overlays
    } or {p.name: p.read_text() for p in sorted(deploy.glob("*.yaml"))}
    return {
        name: yaml.safe_dump_all(
            d for d in yaml.safe_load_all(text) if d and d.get("kind") != "ScaledObject"
        )
        for name, text in rendered.items()
    }


def test_the_deploy_manifests_apply_with_a_server_dry_run(cluster, tmp_path):
    # As on a real server, a dry run of objects in a namespace that does not exist yet is
    # refused (the namespace's own creation was only a dry run): it exists first.
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "zerotouch"}}
    assert call(cluster, "POST", "/api/v1/namespaces", namespace)[0] == 201
    manifests = deploy_manifests()
    assert manifests
    before = sum(cluster.sandbox.mutations.values())
    for name, text in manifests.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        proc = kubectl(cluster, "apply", "--dry-run=server", "--validate=false", "-f", str(path))
        lines = proc.stdout.splitlines()
        assert len(lines) == len([d for d in yaml.safe_load_all(text) if d]), name
        assert all(line.endswith("(server dry run)") for line in lines), proc.stdout
    assert sum(cluster.sandbox.mutations.values()) == before
    assert stored(cluster, "serviceaccounts", "zerotouch", "default") is not None
    assert cluster.sandbox.store.list("apps/deployments", "zerotouch") == []


def test_a_watch_sends_rows_with_their_columns(cluster):
    command, env = kubectl_command(cluster, "get", "pods", "-n", "payments", "-w")
    proc = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        first = [lines.get(timeout=20) for _ in range(3)]  # the header, ledger's two pods
        assert first[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        victim = first[1].split()[0]
        kubectl(cluster, "delete", "pod", victim, "-n", "payments", "--wait=false")
        cluster.sandbox.advance(10)  # its replacement is created, scheduled, started
        seen = []
        wait_for(
            lambda: seen.extend(_drain(lines)) or len(seen) >= 3,
            timeout=20,
            what="watch rows after the deletion",
        )
    finally:
        proc.kill()
        proc.wait()
    for row in seen:
        cells = row.split()
        assert len(cells) == 5, row  # NAME READY STATUS RESTARTS AGE, never NAME AGE
        assert cells[1].count("/") == 1


def _drain(lines: queue.Queue) -> list[str]:
    out = []
    while not lines.empty():
        out.append(lines.get_nowait())
    return out


def test_a_table_watch_over_http_sends_rows_with_every_column(cluster):
    """What kubectl get -w asks for, read raw: each event's object is a one-row Table."""
    path = "/api/v1/namespaces/shop/pods?watch=true&timeoutSeconds=1"
    request = urllib.request.Request(
        cluster.url + path,
        headers={
            "Authorization": f"Bearer {cluster.admin_token}",
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io",
        },
    )
    with urllib.request.urlopen(request, context=tls(cluster), timeout=10) as resp:
        events = [json.loads(line) for line in resp]
    assert events and {e["type"] for e in events} == {"ADDED"}
    for event in events:
        table_ = event["object"]
        assert table_["kind"] == "Table"
        assert [c["name"] for c in table_["columnDefinitions"]][:5] == [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
        ]
        (row,) = table_["rows"]
        assert len(row["cells"]) == 7
        assert row["object"]["kind"] == "PartialObjectMetadata"


# --- Workload controllers ----------------------------------------------------------------


def test_a_statefulset_creates_its_pods_in_order_with_stable_names(cluster, api, applied):
    def cache_pods():
        with cluster.sandbox.lock:
            return {
                p["metadata"]["name"]: p
                for p in cluster.sandbox.store.list("pods", "kinds")
                if p["metadata"]["labels"].get("app") == "cache"
            }

    k8s.AppsV1Api(api).create_namespaced_stateful_set(
        "kinds",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "cache"},
            "spec": {
                "replicas": 3,
                "serviceName": "cache",
                "selector": {"matchLabels": {"app": "cache"}},
                "template": {
                    "metadata": {"labels": {"app": "cache"}},
                    "spec": {"containers": [{"name": "redis", "image": "redis:7"}]},
                },
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
        },
    )
    assert list(cache_pods()) == ["cache-0"]  # cache-1 waits for cache-0 to be Ready
    claim = stored(cluster, "persistentvolumeclaims", "kinds", "data-cache-0")
    assert claim["status"]["phase"] == "Bound"
    cluster.sandbox.advance(60)
    pods = cache_pods()
    assert sorted(pods) == ["cache-0", "cache-1", "cache-2"]
    created = [pods[f"cache-{i}"]["metadata"]["creationTimestamp"] for i in range(3)]
    assert created == sorted(created) and len(set(created)) == 3
    assert pods["cache-1"]["spec"]["hostname"] == "cache-1"
    assert pods["cache-1"]["spec"]["subdomain"] == "cache"
    assert pods["cache-1"]["spec"]["volumes"][0]["persistentVolumeClaim"] == {
        "claimName": "data-cache-1"
    }
    assert stored(cluster, "apps/statefulsets", "kinds", "cache")["status"]["readyReplicas"] == 3

    # A deleted pod comes back under its own name; scaling down removes the highest first.
    uid = pods["cache-1"]["metadata"]["uid"]
    kubectl(cluster, "delete", "pod", "cache-1", "-n", "kinds", "--wait=false")
    assert cache_pods()["cache-1"]["metadata"]["uid"] != uid
    cluster.sandbox.advance(30)
    kubectl(cluster, "scale", "statefulset", "cache", "-n", "kinds", "--replicas=1")
    assert sorted(cache_pods()) == ["cache-0", "cache-1"]  # cache-2 went first
    cluster.sandbox.advance(30)
    assert list(cache_pods()) == ["cache-0"]
    _, rows = table(kubectl(cluster, "get", "sts", "cache", "-n", "kinds").stdout)
    assert rows[0][:2] == ["cache", "1/1"]
    assert stored(cluster, "persistentvolumeclaims", "kinds", "data-cache-2") is not None


def test_a_daemonset_runs_one_pod_per_ready_node_and_follows_nodes(cluster, applied):
    def agents():
        with cluster.sandbox.lock:
            return sorted(
                p["spec"]["nodeName"]
                for p in cluster.sandbox.store.list("pods", "kinds")
                if p["metadata"]["labels"].get("app") == "agent"
                and not p["metadata"].get("deletionTimestamp")
            )

    nodes = sorted(n["metadata"]["name"] for n in cluster.sandbox.store.list("nodes"))
    assert agents() == nodes
    cluster.sandbox.advance(30)
    ds = stored(cluster, "apps/daemonsets", "kinds", "agent")
    assert ds["status"]["desiredNumberScheduled"] == ds["status"]["numberReady"] == len(nodes)

    # A new node gets its pod at the controller's next pass.
    sb = cluster.sandbox
    with sb.lock:
        node = sb.store.create("nodes", builders.node(sb.scenario.nodes[0], 9))
        sb.node_ready[node["metadata"]["name"]] = True
        controllers.node_status(sb, node, ready=True)
    cluster.sandbox.advance(20)
    assert agents() == sorted([*nodes, node["metadata"]["name"]])


def test_a_cronjob_creates_jobs_on_schedule_on_the_sandbox_clock(cluster, applied):
    def jobs():
        with cluster.sandbox.lock:
            return [
                j
                for j in cluster.sandbox.store.list("batch/jobs", "kinds")
                if j["metadata"]["ownerReferences"][0]["name"] == "report"
            ]

    start = len(jobs())
    cluster.sandbox.advance(5 * 60)
    made = jobs()
    assert len(made) == start + 1
    job = made[-1]
    minutes = int(job["metadata"]["name"].rsplit("-", 1)[1])
    assert minutes % 5 == 0  # named by its scheduled minute, on a */5 boundary
    cj = stored(cluster, "batch/cronjobs", "kinds", "report")
    assert cj["status"]["lastScheduleTime"]
    cluster.sandbox.advance(15 * 60)
    assert len(jobs()) <= 3 + 1  # the history limit keeps three finished jobs (and a running one)
