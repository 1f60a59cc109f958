"""The API resources the sandbox serves: one registry drives discovery, routing and lists."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("get", "list", "watch")
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


READ = ("get", "list", "watch")
RW = ("create", "delete", "get", "list", "patch", "update", "watch")
RBAC = "rbac.authorization.k8s.io"

RESOURCES: list[Resource] = [
    Resource(
        "", "v1", "namespaces", "Namespace", False, ("ns",), ("create", "delete", "patch", *READ)
    ),
    Resource(
        "",
        "v1",
        "nodes",
        "Node",
        False,
        ("no",),
        ("get", "list", "patch", "update", "watch"),
        ("status",),
    ),
    Resource("", "v1", "pods", "Pod", True, ("po",), RW, ("eviction", "log", "status"), ("all",)),
    Resource("", "v1", "events", "Event", True, ("ev",), READ),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), RW),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), RW),
    Resource("", "v1", "secrets", "Secret", True, (), RW),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",), RW),
    Resource("", "v1", "services", "Service", True, ("svc",), RW, ("status",), ("all",)),
    # Computed by the endpoints controller for each Service with a selector.
    Resource("", "v1", "endpoints", "Endpoints", True, ("ep",), RW, singular="endpoints"),
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        ("deploy",),
        RW,
        ("scale", "status"),
        ("all",),
    ),
    Resource(
        "apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), RW, ("scale", "status"), ("all",)
    ),
    Resource(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        True,
        ("sts",),
        RW,
        ("scale", "status"),
        ("all",),
    ),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), RW, ("status",), ("all",)),
    Resource("batch", "v1", "jobs", "Job", True, (), RW, ("status",), ("all",)),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",), RW, ("status",), ("all",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), RW),
    Resource(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
        RW,
        ("status",),
        ("all",),
    ),
    Resource(RBAC, "v1", "roles", "Role", True, (), RW),
    Resource(RBAC, "v1", "clusterroles", "ClusterRole", False, (), RW),
    Resource(RBAC, "v1", "rolebindings", "RoleBinding", True, (), RW),
    Resource(RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False, (), RW),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), RW, ("status",)),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",), RW),
    # Answered from the caller's token (api/authz.py), never stored: `kubectl auth can-i`.
    Resource(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        (),
        ("create",),
    ),
    Resource(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        (),
        ("create",),
    ),
    Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, (), ("get", "list")),
    Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, (), ("get", "list")),
    Resource("chaos-mesh.org", "v1alpha1", "podchaos", "PodChaos", True, (), RW),
    Resource("chaos-mesh.org", "v1alpha1", "networkchaos", "NetworkChaos", True, (), RW),
    Resource("chaos-mesh.org", "v1alpha1", "stresschaos", "StressChaos", True, (), RW),
    # The sandbox's own fault, shaped as Chaos Mesh's: a node NotReady for a duration (a real
    # cluster has no API that stops a kubelet, so this group exists only here). Cluster-wide.
    Resource("sandbox.zerotouch.dev", "v1", "nodechaos", "NodeChaos", False, (), RW),
]
CHAOS_GROUPS = ("chaos-mesh.org", "sandbox.zerotouch.dev")

BY_PATH: dict[tuple[str, str, str], Resource] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
BY_KEY: dict[str, Resource] = {r.key: r for r in RESOURCES}
METRICS_GROUP = "metrics.k8s.io"


@dataclass(frozen=True)
class GroupInfo:
    name: str
    versions: list[str] = field(default_factory=list)


def groups() -> list[GroupInfo]:
    seen: dict[str, GroupInfo] = {}
    for r in RESOURCES:
        if r.group:
            info = seen.setdefault(r.group, GroupInfo(r.group, []))
            if r.version not in info.versions:
                info.versions.append(r.version)
    return list(seen.values())


def resource(key: str) -> Resource:
    return BY_KEY[key]
