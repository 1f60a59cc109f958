"""The objects a fresh cluster holds before anyone applies anything: the `kubernetes` and
`kube-dns` Services, a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap in every
namespace, the default ClusterRoles and their bindings. Their uids follow from their names
(no dice thrown), so adding them leaves every scenario's random draws as they were."""

import uuid

API_SERVER_IP = "10.0.0.1"  # the control plane's address (the nodes start at 10.0.0.2)
ROOT_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "ZeroTouch sandbox: a simulated cluster's root CA placeholder\n"
    "-----END CERTIFICATE-----\n"
)
RBAC = "rbac.authorization.k8s.io/v1"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def stable_uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox:" + "/".join(parts)))


def _meta(kind: str, name: str, namespace: str = "", **extra) -> dict:
    meta = {"name": name, "uid": stable_uid(kind, namespace, name), **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


def namespace_objects(namespace: str) -> list[tuple[str, dict]]:
    """What the service-account controller and the root CA publisher add to a namespace."""
    return [
        (
            "serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _meta("ServiceAccount", "default", namespace),
            },
        ),
        (
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(
                    "ConfigMap",
                    "kube-root-ca.crt",
                    namespace,
                    annotations={"kubernetes.io/description": "Contains a CA bundle"},
                ),
                "data": {"ca.crt": ROOT_CA},
            },
        ),
    ]


def _service(name: str, namespace: str, ip: str, ports: list[dict], **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("Service", name, namespace, labels=spec.pop("labels", {})),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": ports,
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            **spec,
        },
        "status": {"loadBalancer": {}},
    }


def cluster_objects() -> list[tuple[str, dict]]:
    kubernetes = _service(
        "kubernetes",
        "default",
        "10.96.0.1",
        [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        labels={"component": "apiserver", "provider": "kubernetes"},
    )
    api_endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": _meta(
            "Endpoints",
            "kubernetes",
            "default",
            labels={"endpointslice.kubernetes.io/skip-mirror": "true"},
        ),
        "subsets": [
            {
                "addresses": [{"ip": API_SERVER_IP}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            }
        ],
    }
    dns = _service(
        "kube-dns",
        "kube-system",
        "10.96.0.10",
        [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
        ],
        labels={"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
        selector={"app": "coredns"},
    )
    return [
        ("services", kubernetes),
        ("endpoints", api_endpoints),
        ("services", dns),
        *_rbac_defaults(),
    ]


def _cluster_role(name: str, rules: list[dict]) -> tuple[str, dict]:
    return (
        "rbac.authorization.k8s.io/clusterroles",
        {
            "apiVersion": RBAC,
            "kind": "ClusterRole",
            "metadata": _meta("ClusterRole", name, labels=dict(BOOTSTRAP_LABELS)),
            "rules": rules,
        },
    )


def _rbac_defaults() -> list[tuple[str, dict]]:
    read = ["get", "list", "watch"]
    write = ["create", "delete", "deletecollection", "patch", "update"]
    workloads = {
        "apiGroups": ["", "apps", "batch", "autoscaling", "policy", "networking.k8s.io"],
        "resources": ["*"],
    }
    return [
        _cluster_role(
            "cluster-admin",
            [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        ),
        _cluster_role("admin", [{**workloads, "verbs": [*read, *write]}]),
        _cluster_role("edit", [{**workloads, "verbs": [*read, *write]}]),
        _cluster_role("view", [{**workloads, "verbs": read}]),
        (
            "rbac.authorization.k8s.io/clusterrolebindings",
            {
                "apiVersion": RBAC,
                "kind": "ClusterRoleBinding",
                "metadata": _meta(
                    "ClusterRoleBinding", "cluster-admin", labels=dict(BOOTSTRAP_LABELS)
                ),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "system:masters",
                    }
                ],
            },
        ),
        (
            "rbac.authorization.k8s.io/roles",
            {
                "apiVersion": RBAC,
                "kind": "Role",
                "metadata": _meta(
                    "Role",
                    "extension-apiserver-authentication-reader",
                    "kube-system",
                    labels=dict(BOOTSTRAP_LABELS),
                ),
                "rules": [
                    {
                        "apiGroups": [""],
                        "resourceNames": ["extension-apiserver-authentication"],
                        "resources": ["configmaps"],
                        "verbs": read,
                    }
                ],
            },
        ),
        (
            "rbac.authorization.k8s.io/rolebindings",
            {
                "apiVersion": RBAC,
                "kind": "RoleBinding",
                "metadata": _meta(
                    "RoleBinding",
                    "system::extension-apiserver-authentication-reader",
                    "kube-system",
                    labels=dict(BOOTSTRAP_LABELS),
                ),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "extension-apiserver-authentication-reader",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "system:kube-controller-manager",
                    }
                ],
            },
        ),
    ]
